"""The fault tests' private databases: a SQLite file in the test's directory, or a PostgreSQL cluster of its own.

Nothing here touches the machine's own databases: SQLite is a file in the test's temporary directory, PostgreSQL a
cluster of its own (Debian's binaries, run as the ``postgres`` user when the tests run as root) on a spare loopback
port, removed at teardown. Holds SqliteDatabase, PostgresCluster and the postgres_* availability helpers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.live_server import free_port


class SqliteDatabase:
    """A SQLite file of the test's own (WAL mode, as the server's settings leave it after ``migrate``)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "collab.sqlite3"
        self.url = f"sqlite:///{self.path}"

    def rows(self, table: str = "documents_documentupdate") -> int:
        """How many rows a table holds, read on a connection of our own (WAL readers never wait for the writer)."""
        with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    @contextlib.contextmanager
    def exclusive_lock(self) -> Iterator[sqlite3.Connection]:
        """Hold ``BEGIN EXCLUSIVE`` on another connection: every writer (the server's commits) waits, then fails."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                raise RuntimeError(f"expected the server's WAL journal mode, found {mode!r}")
            conn.execute("BEGIN EXCLUSIVE")
            yield conn
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def teardown(self) -> None:
        """Nothing to stop: the file lives in the test's temporary directory."""


def postgres_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL binaries directory with initdb and pg_ctl, if any."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (candidate / "pg_ctl").exists() and (candidate / "postgres").exists():
            return candidate
    return None


def postgres_unavailable_reason() -> str | None:
    """Why a private PostgreSQL cluster cannot be started here, or None when it can."""
    if postgres_bin_dir() is None:
        return "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, pg_ctl)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' system user to run initdb/postgres as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PostgresCluster:
    """A PostgreSQL cluster of the test's own: initdb'd in a temporary directory, on a spare loopback port.

    The machine's PostgreSQL (5432) is never touched: every command names this cluster's data directory.
    """

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None, postgres_unavailable_reason()
        self.bin_dir = bin_dir
        # Not under pytest's tmp_path: that is private to root, and the postgres user must reach its files.
        self.directory = Path(tempfile.mkdtemp(prefix="collab-faults-pg-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/collab"
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [*prefix, str(self.bin_dir / args[0]), *args[1:]]
        result = subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def init(self) -> PostgresCluster:
        """initdb (trust auth, no locale), start, and create the ``collab`` database."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "collab")
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-k {self.directory} -p {self.port} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: the database goes away under the server (its connections are terminated)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")
        self.running = False

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def teardown(self) -> None:
        """Stop the cluster (immediately) and remove its directory."""
        if self.data.exists():
            result = self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "immediate", "stop", check=False)
            if result.returncode != 0 and (self.data / "postmaster.pid").exists():
                # pg_ctl could not stop it: end our own postmaster by its pid, nothing else.
                with contextlib.suppress(OSError, ValueError):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)
