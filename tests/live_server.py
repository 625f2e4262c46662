"""Fixtures that run the real server: daphne subprocesses on free loopback ports, sharing the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.services import redis_url

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database pytest-django created, for server subprocesses."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


# The ASGI application a test server runs unless the test names another one (tests/garbage_asgi.py, say).
SERVED_APPLICATION = "collab.asgi:application"


class DaphneServer:
    """One daphne process serving collab.asgi on a loopback port; its output goes to ``log_path``."""

    def __init__(
        self, log_dir: Path, env: dict[str, str], port: int | None = None, application: str = SERVED_APPLICATION
    ) -> None:
        self.port = port or free_port()
        self.env = env
        self.application = application
        self.log_path = log_dir / f"daphne-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/documents"

    def start(self) -> DaphneServer:
        """Start daphne and wait until it accepts connections."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.application],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"daphne did not start:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Stop the process with ``sig`` and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def server_env() -> dict[str, str]:
    """Environment for server subprocesses: the test settings and the test database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=test_database_url(),
        PYTHONUNBUFFERED="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture
def start_server(transactional_db: None, server_env: dict[str, str], tmp_path: Path) -> Iterator:
    """A factory starting daphne servers (stopped at the end of the test): ``start_server(REDIS_URL=..., ...)``."""
    servers: list[DaphneServer] = []

    def start(port: int | None = None, application: str = SERVED_APPLICATION, **overrides: str) -> DaphneServer:
        env = dict(server_env, **overrides)
        server = DaphneServer(tmp_path, env, port, application).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


@pytest.fixture
def live_server_url(start_server) -> DaphneServer:  # type: ignore[no-untyped-def]
    """One running server with the default configuration."""
    return start_server()


@pytest.fixture
def redis_server_env() -> str:
    """The Redis URL for multi-process tests (skips, or fails under CI, when Redis is absent)."""
    return redis_url()


@pytest.fixture(scope="session", autouse=True)
def _end_server_sessions(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Before the test database is dropped, end the sessions killed servers left behind.

    PostgreSQL notices a killed client's connection a moment after the process is gone; dropping the database
    meanwhile fails with "being accessed by other users".
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
