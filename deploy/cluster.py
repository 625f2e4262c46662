#!/usr/bin/env python3
"""A local cluster as deployed: N daphne processes behind a real nginx running deploy/nginx.conf (``make cluster``).

    python deploy/cluster.py [--processes N] [--port PORT] [--keep]

Starts, in order: Redis (``REDIS_URL`` when set, else a private ``redis-server`` on a spare loopback port), the
migrations (and ``collectstatic`` when the editor is built) on the shared database (``DATABASE_URL`` when set, else
the SQLite file of ``make run``), N daphne processes on spare loopback ports, and nginx on a spare port with its own
prefix, temporary directories, pid and log files in a temporary directory; prints the URL and runs until Ctrl-C, then
stops everything (daphne first, gracefully, so every buffered edit is written). Nothing of the machine's own nginx or
Redis is touched.

The site configuration is deploy/nginx.conf itself: ``render_site`` replaces only the lines between its
``cluster:`` markers (the upstream servers and the listen addresses). tests/test_nginx_cluster.py drives the same
``Cluster`` class, so the shipped config is the tested one. Standard library only; needs Debian's ``nginx`` (and
``redis-server`` unless ``REDIS_URL`` is set).

About 540 lines, past our usual 300: starting, watching and stopping four kinds of process in order (and
undoing a half-started cluster) is one supervisor; the test drives the same class, so it stays one module.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SITE_CONFIG = ROOT / "deploy" / "nginx.conf"
HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    """Something the cluster needs is missing or did not start; the message says what and how to fix it."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _distinct_ports(count: int, exclude: Iterable[int] = ()) -> list[int]:
    """``count`` spare ports, none twice and none of ``exclude``."""
    ports: list[int] = []
    excluded = set(exclude)
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in excluded:
            ports.append(port)
    return ports


def nginx_binary() -> str | None:
    """The nginx executable (Debian installs it in /usr/sbin, which is not on every user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


# -- the nginx configuration ----------------------------------------------------------------------------------------
def _replace_block(text: str, name: str, lines: Iterable[str]) -> str:
    """Replace the lines between ``# cluster:NAME-begin`` and ``# cluster:NAME-end`` (kept, and indented alike)."""
    pattern = re.compile(rf"^([ \t]*)# cluster:{name}-begin\n.*?^[ \t]*# cluster:{name}-end\n", re.M | re.S)
    match = pattern.search(text)
    if match is None or len(pattern.findall(text)) != 1:
        raise ClusterError(f"{SITE_CONFIG} must hold exactly one '# cluster:{name}-begin' ... '-end' block")
    indent = match.group(1)
    body = "".join(f"{indent}{line}\n" for line in lines)
    block = f"{indent}# cluster:{name}-begin\n{body}{indent}# cluster:{name}-end\n"
    return text[: match.start()] + block + text[match.end() :]


def render_site(upstream_ports: Iterable[int], listen_port: int, host: str = HOST, source: str | None = None) -> str:
    """deploy/nginx.conf with its upstream servers and listen address replaced (nothing else changes)."""
    text = SITE_CONFIG.read_text() if source is None else source
    servers = [f"server {host}:{port} max_fails=1 fail_timeout=10s;" for port in upstream_ports]
    if not servers:
        raise ClusterError("a cluster needs at least one daphne process")
    text = _replace_block(text, "upstreams", servers)
    return _replace_block(text, "listen", [f"listen {host}:{listen_port};"])


def render_main(prefix: Path, site: Path) -> str:
    """The main nginx.conf of a private nginx: foreground, everything under ``prefix``, the site included.

    When started as root, nginx's workers drop to ``nobody``; they only need to reach the temporary directories,
    which nginx creates and hands to them itself (``Cluster`` makes ``prefix`` traversable).
    """
    user = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = f"user {nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name};\n"
    temp = prefix / "temp"
    return f"""# The private nginx of deploy/cluster.py; the site it includes is deploy/nginx.conf.
{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    # Which process served each request (a WebSocket's line is written when it closes).
    log_format cluster '$remote_addr "$request" $status upstream=$upstream_addr '
                       'affinity=$collab_affinity rt=$request_time xff="$http_x_forwarded_for"';
    access_log {prefix}/logs/access.log cluster;

    include {site};
}}
"""


# -- processes ------------------------------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the cluster script dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    """One child process of the cluster and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 0) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit (SIGKILL after ``timeout``); the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return int(self.popen.returncode)


def http_get(url: str, timeout: float = 5, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``: (status, body); HTTP errors are answers too. Raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except urllib.error.URLError as error:
        raise OSError(str(error.reason)) from error


class Cluster:
    """Redis, N daphne processes on one database, and nginx in front, all children of this process.

    Attributes:
        directory: where logs (and a private Redis's files) go.
        env: the environment of every daphne and manage.py process (REDIS_URL added once Redis is known).
        daphnes: port -> the daphne process serving it (a killed one stays until restarted).
        nginx_port: the port nginx listens on (loopback).
        redis_url: the channel layer's Redis.
        notes: what the cluster decided along the way (printed by the command, kept for tests).
    """

    def __init__(
        self,
        directory: Path,
        processes: int = 2,
        *,
        env: Mapping[str, str] | None = None,
        nginx_port: int | None = None,
        upstream_ports: Iterable[int] | None = None,
        python: str = sys.executable,
        die_with_parent: bool = False,
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ if env is None else env)
        self.python = python
        self.upstream_ports = list(upstream_ports) if upstream_ports else _distinct_ports(processes)
        self.nginx_port = nginx_port or _distinct_ports(1, exclude=self.upstream_ports)[0]
        self.daphnes: dict[int, Process] = {}
        self.nginx: Process | None = None
        self.redis: Process | None = None
        self.redis_url = ""
        self.nginx_prefix: Path | None = None
        self.notes: list[str] = []
        self._preexec: Callable[[], None] | None = _die_with_parent if die_with_parent else None

    # -- addresses ---------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.nginx_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.nginx_port}/ws/documents"

    @staticmethod
    def upstream_url(port: int) -> str:
        return f"http://{HOST}:{port}"

    @staticmethod
    def upstream_ws_url(port: int) -> str:
        return f"ws://{HOST}:{port}/ws/documents"

    # -- starting ----------------------------------------------------------------------------------------------------
    def start(self, *, collectstatic: bool = False) -> Cluster:
        """Redis, migrations, the daphne processes, nginx; raises ClusterError (after stopping what started)."""
        try:
            self.check_binaries()
            self.start_redis()
            self.migrate()
            if collectstatic:
                self.collectstatic()
            for port in self.upstream_ports:
                self.start_daphne(port)
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def check_binaries(self) -> None:
        if nginx_binary() is None:
            raise ClusterError("nginx is not installed: apt-get install -y nginx (Debian's package; it is not started)")
        if not self.env.get("REDIS_URL") and redis_binary() is None:
            raise ClusterError(
                "several processes need Redis: set REDIS_URL=redis://HOST:6379/0, or apt-get install -y redis-server "
                "(a private redis-server on a spare port is started for the cluster)"
            )

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log_path = self.directory / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=dict(env if env is not None else self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the cluster script only; it stops the children in order
                # Only the command sets it: it starts its children from its main thread (the parent-death signal
                # follows the thread that forked).
                preexec_fn=self._preexec,
            )
        return Process(name, popen, log_path)

    def start_redis(self) -> str:
        """REDIS_URL when set; otherwise a private redis-server on a spare loopback port (no disk persistence)."""
        if self.env.get("REDIS_URL"):
            self.redis_url = self.env["REDIS_URL"]
            self.notes.append(f"Redis: {self.redis_url} (REDIS_URL)")
        else:
            binary = redis_binary()
            if binary is None:
                raise ClusterError("redis-server is not installed and REDIS_URL is not set")
            port = free_port()
            data = self.directory / "redis"
            data.mkdir(exist_ok=True)
            argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
            argv += ["--dir", str(data), "--daemonize", "no"]
            self.redis = self._spawn("redis", argv)
            deadline = time.monotonic() + 15
            while not _redis_answers(port):
                if not self.redis.running:
                    raise ClusterError(f"redis-server exited at once:\n{self.redis.log(20)}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"redis-server did not answer on port {port}:\n{self.redis.log(20)}")
                time.sleep(0.05)
            self.redis_url = f"redis://{HOST}:{port}/0"
            self.notes.append(f"Redis: a private redis-server on {HOST}:{port}")
        self.env["REDIS_URL"] = self.redis_url
        # The login throttles count per address across every process (docs/deployment.md).
        self.env.setdefault("CACHE_URL", self.redis_url)
        return self.redis_url

    def manage(self, *args: str, timeout: float = 300) -> str:
        """``manage.py ARGS`` with the cluster's environment; its stdout."""
        result = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def migrate(self) -> None:
        """Once, before any process starts (a release does the same: docs/deployment.md)."""
        self.manage("migrate", "--noinput")
        self.notes.append(f"database: {_display_url(self.env.get('DATABASE_URL') or 'sqlite:///db.sqlite3')}")

    def collectstatic(self) -> None:
        if (ROOT / "frontend" / "dist").is_dir():
            self.manage("collectstatic", "--noinput")

    def start_daphne(self, port: int, timeout: float = 60) -> Process:
        """Start (or restart) the daphne process of ``port`` and wait until it answers HTTP."""
        old = self.daphnes.get(port)
        if old is not None and old.running:
            raise ClusterError(f"daphne on port {port} is still running")
        argv = [self.python, "-m", "daphne", "-b", HOST, "-p", str(port), "collab.asgi:application"]
        process = self._spawn(f"daphne-{port}", argv)
        self.daphnes[port] = process
        self.wait_serving(self.upstream_url(port), process, timeout)
        return process

    def wait_serving(self, base_url: str, process: Process, timeout: float) -> int:
        """Wait until ``base_url`` answers /healthz (200; a 404 from a version without it counts as serving)."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not process.running:
                raise ClusterError(f"{process.name} exited ({process.popen.returncode}):\n{process.log(40)}")
            try:
                status, _ = http_get(f"{base_url}/healthz", timeout=2)
            except OSError as exc:
                last = str(exc)
            else:
                if status in (200, 404):
                    if status == 404:
                        self.notes.append(f"{process.name}: /healthz answered 404 (not served by this version)")
                    return status
                last = f"HTTP {status}"
            time.sleep(0.1)
        raise ClusterError(
            f"{process.name} did not answer {base_url}/healthz in {timeout} s ({last}):\n{process.log(40)}"[:4000]
        )

    def start_nginx(self, timeout: float = 30) -> Process:
        """Render the config into a private prefix, check it (nginx -t), start nginx, wait until it proxies."""
        binary = nginx_binary()
        if binary is None:
            raise ClusterError("nginx is not installed: apt-get install -y nginx")
        # A directory of its own under $TMPDIR: as root, nginx's workers (nobody) must be able to traverse it to
        # reach their temporary directories, which a test's or user's private directory may not allow.
        prefix = Path(tempfile.mkdtemp(prefix="collab-nginx-"))
        self.nginx_prefix = prefix
        if os.geteuid() == 0:
            prefix.chmod(0o711)
        (prefix / "logs").mkdir()
        (prefix / "temp").mkdir()
        site = prefix / "collab-site.conf"
        site.write_text(render_site(self.upstream_ports, self.nginx_port))
        main = prefix / "nginx.conf"
        main.write_text(render_main(prefix, site))
        argv = [binary, "-p", f"{prefix}/", "-c", str(main), "-e", str(prefix / "logs" / "error.log")]
        check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, timeout=30, check=False)
        if check.returncode != 0:
            raise ClusterError(f"nginx -t refused the rendered config ({site}):\n{check.stderr}")
        self.nginx = self._spawn("nginx", argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        # Served through the proxy: nginx is up and reaches an upstream.
        deadline = time.monotonic() + timeout
        while True:
            if not self.nginx.running:
                raise ClusterError(f"nginx exited ({self.nginx.popen.returncode}):\n{self.nginx_error_log()}")
            with contextlib.suppress(OSError):
                status, _ = http_get(f"{self.url}/healthz", timeout=2)
                if status in (200, 404):
                    return self.nginx
            if time.monotonic() > deadline:
                raise ClusterError(f"nginx did not proxy {self.url}/healthz in {timeout} s:\n{self.nginx_error_log()}")
            time.sleep(0.05)

    # -- looking at it -----------------------------------------------------------------------------------------------
    def access_log(self) -> str:
        path = self.nginx_prefix / "logs" / "access.log" if self.nginx_prefix else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def nginx_error_log(self) -> str:
        path = self.nginx_prefix / "logs" / "error.log" if self.nginx_prefix else None
        text = path.read_text(errors="replace") if path and path.exists() else ""
        return text + (self.nginx.log() if self.nginx else "")

    def logs(self) -> str:
        """Every log of the cluster, for a failure message."""
        parts = [f"== {p.name} ==\n{p.log(60)}" for p in self.daphnes.values()]
        parts.append(f"== nginx ==\n{self.nginx_error_log()[-4000:]}")
        return "\n".join(parts)

    def describe(self) -> str:
        lines = [
            f"Collab cluster: {self.url}  (nginx, deploy/nginx.conf)",
            *(
                f"  daphne {i + 1}: {self.upstream_url(port)}  (pid {self.daphnes[port].popen.pid})"
                for i, port in enumerate(self.upstream_ports)
            ),
            *(f"  {note}" for note in self.notes),
            f"  logs: {self.directory} (daphne, redis) and {self.nginx_prefix}/logs (nginx access and error)",
            f"Sign up at {self.url}/accounts/signup/, create a document, open it in two browsers. Ctrl-C stops.",
        ]
        return "\n".join(lines)

    # -- stopping ----------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """daphne first (SIGTERM: each writes what it buffers), then nginx, then a private Redis."""
        for process in self.daphnes.values():
            if process.running:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.daphnes.values():
            process.stop(signal.SIGTERM, timeout=30)
        if self.nginx is not None:
            self.nginx.stop(signal.SIGTERM, timeout=10)
        if self.redis is not None:
            self.redis.stop(signal.SIGTERM, timeout=10)
        if self.nginx_prefix is not None:
            shutil.rmtree(self.nginx_prefix, ignore_errors=True)
            self.nginx_prefix = None

    def watch(self, every: float = 0.5) -> None:
        """Run until Ctrl-C; report a daphne process that exits, give up when nginx or Redis does."""
        reported: set[int] = set()
        while True:
            for port, process in self.daphnes.items():
                if not process.running and port not in reported:
                    reported.add(port)
                    print(
                        f"daphne on port {port} exited ({process.popen.returncode}); nginx sends its documents "
                        f"to the others. Its log:\n{process.log(20)}",
                        flush=True,
                    )
            for service in (self.nginx, self.redis):
                if service is not None and not service.running:
                    raise ClusterError(f"{service.name} exited ({service.popen.returncode}):\n{service.log(20)}")
            time.sleep(every)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _display_url(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def cluster_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: production settings unless told otherwise, behind one proxy, on loopback."""
    env = dict(base)
    env.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    env.setdefault("DEBUG", "0")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("PROXY_COUNT", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("SECRET_KEY"):
        # One key for every process of this run (sessions must be valid in all of them).
        env["SECRET_KEY"] = secrets.token_urlsafe(48)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--processes", "-n", type=int, default=int(os.environ.get("N") or 2), help="daphne processes")
    parser.add_argument("--port", type=int, default=0, help="nginx's port (default: a spare one)")
    parser.add_argument("--keep", action="store_true", help="keep the log directory after stopping")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")

    directory = Path(tempfile.mkdtemp(prefix="collab-cluster-"))
    env = cluster_environment(os.environ)
    cluster = Cluster(directory, args.processes, env=env, nginx_port=args.port or None, die_with_parent=True)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT explicitly too: a shell starting the command in the background leaves it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    status = 0
    try:
        print(f"starting {args.processes} daphne processes behind nginx ...", flush=True)
        cluster.start(collectstatic=True)
        print(cluster.describe(), flush=True)
        cluster.watch()
    except KeyboardInterrupt:
        print("\nstopping the cluster ...", flush=True)
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        cluster.stop()
        if args.keep:
            print(f"logs kept in {directory}", flush=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    print("stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
