"""Compatibility with the reference client: y-websocket's ``WebsocketProvider`` (Node, ``tests/node/yclient.mjs``).

Each test starts the real server (daphne) and runs the Node script as a subprocess; it prints one JSON result.
``tests/node/node_modules`` is installed with ``npm ci`` when missing or older than the lock file (``make test``
does it beforehand). The tests skip when Node is absent, and fail instead under ``COLLAB_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from tests.services import node_available, require
from tests.yclient import open_client

pytestmark = [pytest.mark.node, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "yclient.mjs"


def _modules_fresh() -> bool:
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= (NODE_DIR / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="session")
def node_client_ready() -> None:
    """Node is here and the pinned y-websocket client is installed (``npm ci`` when needed)."""
    require(node_available(), "Node.js is not installed (needed for the y-websocket reference client)")
    if _modules_fresh():
        return
    npm = shutil.which("npm")
    require(npm is not None, "npm is not installed (needed to install tests/node)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=300
    )
    require(result.returncode == 0, f"npm ci in tests/node failed: {result.stderr[-2000:]}")


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol, dave)}


class NodeClient:
    """One run of ``yclient.mjs``; ``events`` collects its progress lines (stderr) as they arrive."""

    def __init__(self, server: Any, room: Any, token: str, *options: str, timeout_ms: int = 15000) -> None:
        self.argv = [
            shutil.which("node") or "node",
            str(SCRIPT),
            "--url",
            server.ws_url,
            "--room",
            str(room),
            "--token",
            token,
            "--timeout",
            str(timeout_ms),
            *options,
        ]
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._seen = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None

    async def start(self) -> NodeClient:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        self._stderr_task = asyncio.get_running_loop().create_task(self._read_stderr())
        return self

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                self.events.append(event)
                self._seen.set()

    async def wait_event(self, name: str, timeout: float = 15) -> dict[str, Any]:
        """Wait for a progress event (``synced``, ``inserted``, ``done``)."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["event"] == name:
                        return event
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"node exited before {name!r}: {self.stderr}")
                self._seen.clear()
                await asyncio.wait([asyncio.ensure_future(self._seen.wait())], timeout=0.1)

    async def result(self, timeout: float = 30) -> tuple[int, dict[str, Any]]:
        """The exit code and the JSON the script printed."""
        assert self.process is not None and self.process.stdout is not None
        stdout = await asyncio.wait_for(self.process.stdout.read(), timeout)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._stderr_task is not None:
            await asyncio.wait_for(self._stderr_task, timeout)
        lines = stdout.decode(errors="replace").strip().splitlines()
        assert lines, f"node printed nothing (exit {code}); stderr: {self.stderr}"
        return code, json.loads(lines[-1])

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def node_clients(node_client_ready: None) -> Any:
    """A factory starting Node clients, each killed at the end of the test if it is still running."""
    started: list[NodeClient] = []

    async def start(server: Any, room: Any, token: str, *options: str, timeout_ms: int = 15000) -> NodeClient:
        client = await NodeClient(server, room, token, *options, timeout_ms=timeout_ms).start()
        started.append(client)
        return client

    yield start
    for client in started:
        client.kill()
        if client.process is not None:
            await client.process.wait()


def rest_text(server: Any, document_id: Any, token: str) -> str:
    response = requests.get(
        f"{server.http_url}/api/documents/{document_id}/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["text"]


async def test_node_and_pycrdt_clients_converge(
    live_server_url: Any, document: Any, tokens: dict[str, str], node_clients: Any
) -> None:
    py = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    py.add_paragraph("before node")
    node = await node_clients(
        live_server_url,
        document.pk,
        tokens["alice"],
        "--insert",
        "from node",
        "--expect",
        "before node",
        "--expect",
        "from python",
        "--linger",
        "200",
    )
    synced = await node.wait_event("synced")
    assert synced["paragraphs"] == ["before node"]  # the initial sync carried the existing content
    # Node -> Python, live.
    await py.wait_for(lambda: "from node" in py.paragraph_texts())
    # Python -> Node, live (the Node client is connected and waiting for it).
    py.add_paragraph("from python")
    code, result = await node.result()
    assert code == 0, result
    assert result["ok"] and result["synced"]
    assert result["paragraphs"] == ["before node", "from node", "from python"]
    assert py.paragraph_texts() == result["paragraphs"]
    text = await sync_to_async(rest_text)(live_server_url, document.pk, tokens["carol"])
    assert [line for line in text.splitlines() if line] == ["before node", "from node", "from python"]
    await py.close()


async def test_node_sees_stamped_presence_of_pycrdt_client(
    live_server_url: Any, document: Any, tokens: dict[str, str], node_clients: Any
) -> None:
    py = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    await py.set_presence({"user": {"name": "an impostor", "color": "#000"}, "cursor": None})
    node = await node_clients(
        live_server_url,
        document.pk,
        tokens["alice"],
        "--name",
        "also an impostor",
        "--expect-peer",
        "bob",
        "--linger",
        "300",
    )
    await node.wait_event("done")
    # Both ways: the pycrdt client sees the Node client's presence under alice's real name.
    await py.wait_for(lambda: "alice" in py.presence_names())
    assert "also an impostor" not in py.presence_names()
    code, result = await node.result()
    assert code == 0, result
    assert result["peerNames"] == ["bob"]
    await py.close()


async def test_two_node_clients_converge(
    live_server_url: Any, document: Any, tokens: dict[str, str], node_clients: Any
) -> None:
    common = ("--expect", "from alice", "--expect", "from bob", "--expect-count", "2", "--linger", "300")
    a = await node_clients(live_server_url, document.pk, tokens["alice"], "--insert", "from alice", *common)
    b = await node_clients(live_server_url, document.pk, tokens["bob"], "--insert", "from bob", *common)
    (code_a, result_a), (code_b, result_b) = await asyncio.gather(a.result(), b.result())
    assert code_a == 0, result_a
    assert code_b == 0, result_b
    assert sorted(result_a["paragraphs"]) == ["from alice", "from bob"]
    assert result_a["paragraphs"] == result_b["paragraphs"]  # same order: converged, not just both present
    observer = await open_client(live_server_url.ws_url, document.pk, tokens["carol"])
    assert observer.paragraph_texts() == result_a["paragraphs"]
    await observer.close()


async def test_server_echoes_awareness_to_a_lone_node_client(
    live_server_url: Any, document: Any, tokens: dict[str, str], node_clients: Any
) -> None:
    """y-websocket drops a connection silent for 30 s; a lone client's keepalive is its own awareness echoed back."""
    node = await node_clients(live_server_url, document.pk, tokens["carol"], "--name", "someone else", "--expect-echo")
    code, result = await node.result()
    assert code == 0, result
    received = result["received"]
    # The server greets with SyncStep1, answers the client's SyncStep1 with SyncStep2, and echoes presence.
    assert received.get("sync-step1", 0) >= 1, received
    assert received.get("sync-step2", 0) >= 1, received
    assert received.get("awareness", 0) >= 1, received
    # The echo is the client's own state, with the user stamped by the server.
    assert result["echoes"] and set(result["echoes"]) == {"carol"}, result["echoes"]
    assert result["closeCodes"] == []


async def test_node_client_with_bad_token_never_syncs(live_server_url: Any, document: Any, node_clients: Any) -> None:
    node = await node_clients(live_server_url, document.pk, "x" * 40, "--insert", "nope", timeout_ms=1500)
    code, result = await node.result()
    assert code == 2
    assert result["ok"] is False and result["synced"] is False
    assert result["missing"] == ["sync"]
    assert result["received"] == {}


def test_node_client_modules_are_pinned(node_client_ready: None) -> None:
    """The installed client is the locked one (y-websocket 3.1.0, yjs 13.6.x, ws 8.x)."""
    versions = {
        name: json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())["version"]
        for name in ("y-websocket", "yjs", "ws")
    }
    assert versions["y-websocket"] == "3.1.0"
    assert versions["yjs"].startswith("13.6.")
    assert versions["ws"].startswith("8.")
    assert os.access(SCRIPT, os.R_OK)
