"""One fault test's world: the private database, the daphne servers on it, and HTTP exchanges with them.

Holds FaultRig (the database, the servers started on it, the owner's token, the spill directory), Answer (one HTTP
exchange: status, Retry-After, how long it took) and ``http``, which measures one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.faultkit.databases import PostgresCluster, SqliteDatabase
from tests.faultkit.progress import log
from tests.live_server import ROOT, DaphneServer

SECRET_KEY = "fault-tests-secret-key-not-for-production"


class FaultRig:
    """One test's world: a private database, the server processes started on it, a user's token, the spill dir.

    Attributes:
        database: the SqliteDatabase or PostgresCluster the servers use.
        directory: the test's temporary directory (server logs, the SQLite file, the spill directory).
        spill_dir: COLLAB_SPILL_DIR of every server started here.
        servers: every server started, in order (killed at teardown if still running).
        token: the API token of the document owner, once ``create_token`` ran.
    """

    def __init__(self, database: SqliteDatabase | PostgresCluster, directory: Path) -> None:
        self.database = database
        self.directory = directory
        self.spill_dir = directory / "spill"
        self.spill_dir.mkdir()
        self.servers: list[DaphneServer] = []
        self.token = ""

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of server and manage.py subprocesses: production settings on the private database."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("COLLAB_") and key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="collab.settings",
            DATABASE_URL=self.database.url,
            SECRET_KEY=SECRET_KEY,
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
            COLLAB_FLUSH_INTERVAL="0.2",
            COLLAB_ROOM_GRACE_SECONDS="1",
            COLLAB_SPILL_DIR=str(self.spill_dir),
        )
        env.update(overrides)
        return env

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run ``manage.py ARGS`` against the private database; its stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def migrate(self) -> None:
        self.manage("migrate", "--noinput")

    def create_token(self, username: str = "typist") -> str:
        """Create the document owner and print its API token (``create_api_token --create-user``)."""
        self.token = self.manage("create_api_token", username, "--create-user").strip()
        assert re.fullmatch(r"[0-9a-f]{40}", self.token), f"unexpected token output {self.token!r}"
        return self.token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def start_server(self, port: int | None = None, **env: str) -> DaphneServer:
        """Start a fresh daphne process on the private database (its log in a directory of its own)."""
        log_dir = self.directory / f"server-{len(self.servers) + 1}"
        log_dir.mkdir()
        server = DaphneServer(log_dir, self.env(**env), port)
        self.servers.append(server)
        server.start()
        log(f"server {len(self.servers)} up on port {server.port} (log {server.log_path})")
        return server

    def create_document(self, server: DaphneServer, title: str = "Fault test") -> str:
        """POST /api/documents/ as the owner; the new document's id."""
        url = f"{server.http_url}/api/documents/"
        response = requests.post(url, json={"title": title}, headers=self.headers, timeout=30)
        assert response.status_code == 201, f"creating a document answered {response.status_code}: {response.text}"
        return str(response.json()["id"])

    def spill_files(self) -> list[Path]:
        """The files in the spill directory (what a graceful stop during an outage left for the next start)."""
        return sorted(path for path in self.spill_dir.rglob("*") if path.is_file())

    def server_logs(self) -> str:
        return "\n".join(server.log() for server in self.servers)

    def teardown(self) -> None:
        for server in self.servers:
            server.stop(signal.SIGKILL)
        self.database.teardown()


@dataclass
class Answer:
    """One HTTP exchange: status (None when the client timed out or failed), Retry-After, and how long it took."""

    status: int | None
    retry_after: str | None
    seconds: float
    error: str = ""
    body: str = ""

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else f"no answer ({self.error})"
        return f"{what}, Retry-After={self.retry_after!r}, after {self.seconds:.1f} s"


def http(method: str, url: str, headers: dict[str, str], timeout: float, **kwargs: Any) -> Answer:
    """One request with a client timeout; never raises for network errors (they are part of what is measured)."""
    started = time.monotonic()
    try:
        response = requests.request(method, url, headers=headers, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        return Answer(None, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:200])
    return Answer(
        response.status_code, response.headers.get("Retry-After"), time.monotonic() - started, body=response.text[:300]
    )
