"""The two servers the bench drives, and what the project's server needs before it starts.

``Server`` is the project: one daphne process on a fresh SQLite database (``server_env``, ``prepare_database``,
``create_users``, ``create_documents`` set it up). ``ReferenceServer`` is the reference Node server,
``@y/websocket-server`` (locked in bench/package-lock.json): in memory only, no users, rooms named by the URL path.
Both are pinned to SERVER_CORE and share one small interface (``name``, ``ws_url``, ``pid``, ``port``, ``start``,
``stop``, ``rss_kb``, ``settle_s``, ``has_storage``), so a scenario runs against either without knowing which.

Also the helpers the bench and bench/soak.py share (pinning, ports, open-files limit, the npm install, the
machine's description).
"""

from __future__ import annotations

import io
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVER_CORE = 0
CLIENT_CORE = 1
USERS = ("bench0", "bench1", "bench2", "bench3")  # bench0 owns every document; the others are editors
REFERENCE_PACKAGE = BENCH / "node_modules" / "@y" / "websocket-server"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_fd_limit() -> None:
    """Raise the soft limit of open files to the hard limit (thousands of sockets); also the children's preexec."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(core: int, argv: list[str]) -> list[str]:
    """``argv`` run on one core when taskset exists and the machine has that core (taskset execs: same pid)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core), *argv]
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_node_modules() -> None:
    marker = BENCH / "node_modules" / ".package-lock.json"
    lock = BENCH / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("installing the load generator and the reference server (npm ci in bench/)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=300)


def reference_version() -> str:
    return json.loads((REFERENCE_PACKAGE / "package.json").read_text())["version"]


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    from importlib.metadata import version

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ramGiB": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "node": node,
        "pycrdt": version("pycrdt"),
        "daphne": version("daphne"),
        "reference": f"@y/websocket-server {reference_version()}",
        "kernel": platform.release(),
        "taskset": bool(shutil.which("taskset")),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- the project's environment, database and data --------------------------------------------------------------------
def server_env(db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # one process, in-memory channel layer
    env.update(
        DATABASE_URL=f"sqlite:///{db_path}",
        DJANGO_SETTINGS_MODULE="collab.settings",
        SECRET_KEY="bench",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # The per-connection rate limits protect production from one abusive client; the bench's editors type far
        # faster than people on purpose (and the reference server has no such limits).
        COLLAB_RATE_UPDATES_PER_SECOND="1000000",
        COLLAB_RATE_UPDATES_BURST="1000000",
        COLLAB_RATE_AWARENESS_PER_SECOND="1000000",
        COLLAB_RATE_AWARENESS_BURST="1000000",
    )
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrate the fresh database and set up Django in this process (for creating data directly)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_users() -> list[str]:
    """The bench users' API tokens, through ``manage.py create_api_token --create-user``."""
    from django.core.management import call_command

    tokens = []
    for username in USERS:
        out = io.StringIO()
        call_command("create_api_token", username, create_user=True, stdout=out)
        tokens.append(out.getvalue().strip())
    return tokens


def create_documents(count: int, prefix: str) -> list[str]:
    """``count`` documents owned by bench0 with the other bench users as editors; their ids."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from documents.models import Document, Membership

    users = {u.username: u for u in get_user_model().objects.filter(username__in=USERS)}
    docs = [Document(title=f"{prefix} {i}", owner=users["bench0"]) for i in range(count)]
    Document.objects.bulk_create(docs, batch_size=500)
    Membership.objects.bulk_create(
        [Membership(document=d, user=users[name], role="editor") for d in docs for name in USERS[1:]], batch_size=500
    )
    connections.close_all()
    return [str(d.pk) for d in docs]


# -- the servers -----------------------------------------------------------------------------------------------------
class _PinnedProcess:
    """A server process on a free loopback port, pinned to SERVER_CORE, started and stopped by this process."""

    name = "server"
    log_prefix = "server"
    settle_s = 0.5  # the pause after a scenario before the next one (see Server.settle_s)
    has_metrics = False  # serves the project's /metrics
    has_storage = False  # loads documents from a database (else they exist only while it runs)

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> _PinnedProcess:
        self.port = free_port()
        self.starts += 1
        log_path = self.log_dir / f"{self.log_prefix}-{self.starts}.log"
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                pinned(SERVER_CORE, self.argv()),
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_fd_limit,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited early; see {log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} server did not start; see {log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


class Server(_PinnedProcess):
    """The project: one daphne process (``collab.asgi:application``) with the environment of ``server_env``."""

    name = "project"
    log_prefix = "daphne"  # bench/soak.py keeps daphne-<starts>.log
    # Rooms left empty unload after the grace period (flush + compaction): keep that out of the next figure.
    settle_s = 3.0
    has_metrics = True
    has_storage = True

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/documents"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "collab.asgi:application"]


class ReferenceServer(_PinnedProcess):
    """``@y/websocket-server``'s own entry point (src/server.js): HOST/PORT from the environment, no persistence.

    It keeps every room's Y.Doc in memory until it exits (without YPERSISTENCE nothing unloads), so the bench
    starts a fresh one for each scenario, as the project's rooms have unloaded between scenarios.
    """

    name = "reference"
    log_prefix = "reference"
    settle_s = 0.5  # nothing runs in the background once its clients have gone

    def __init__(self, log_dir: Path) -> None:
        # Its defaults: no persistence, no HTTP callback, Yjs garbage collection on (what the npm package runs).
        env = {key: value for key, value in os.environ.items() if key not in ("YPERSISTENCE", "CALLBACK_URL", "GC")}
        super().__init__(env, log_dir)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"  # the room is the rest of the path: <ws_url>/<document id>

    def argv(self) -> list[str]:
        self.env.update(HOST="127.0.0.1", PORT=str(self.port))
        return ["node", str(REFERENCE_PACKAGE / "src" / "server.js")]


AnyServer = Server | ReferenceServer
