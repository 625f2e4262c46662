"""/healthz and /readyz: their JSON, each readiness check, and real servers whose database or Redis is unreachable
or which are stopping."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import AsyncClient

from documents.engine.registry import RoomRegistry
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from documents.web.health import check_process, check_store
from tests.faultkit.databases import SqliteDatabase
from tests.faultkit.rig import FaultRig
from tests.live_server import free_port
from tests.services import redis_url
from tests.waiting import until_value
from tests.yclient import open_client

CHECKS = {"database", "channel_layer", "store", "process"}


class FailingWrites(MemoryStorage):
    """Memory storage whose writes fail while ``failure`` is set (a database that refuses writes)."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None

    def write_batch(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        if self.failure is not None:
            raise self.failure
        super().write_batch(batch)


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


async def readiness_of(server: Any) -> requests.Response:
    return await asyncio.to_thread(get, f"{server.http_url}/readyz")


async def readiness_while_stopping(server: Any) -> requests.Response | None:
    """``/readyz`` once the stop has begun, or None when no answer came: daphne cancels the requests in flight
    when the stop begins, so a probe that arrived just before the signal is never answered (a balancer counts it as
    failed, as it does the 503 that follows)."""
    try:
        return await asyncio.to_thread(requests.get, f"{server.http_url}/readyz", timeout=3)
    except requests.exceptions.ReadTimeout:
        return None


# -- in process ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db
async def test_healthz_answers_ok_without_cookies() -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_ready_with_every_check_named() -> None:
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": dict.fromkeys(CHECKS, "ok")}
    assert not response.cookies


@pytest.mark.django_db
async def test_probes_refuse_other_methods() -> None:
    assert (await AsyncClient().post("/readyz")).status_code == 405
    assert (await AsyncClient().head("/healthz")).status_code == 200


async def test_store_check_follows_failing_writes() -> None:
    storage = FailingWrites()
    store = DocumentStore(storage)
    assert check_store(store) == "ok"
    storage.failure = OSError("disk gone")
    store.append(uuid.uuid4(), b"\x00\x00")
    with pytest.raises(OSError):
        await store.flush()
    assert check_store(store).startswith("writes failing for ")
    storage.failure = None
    await store.flush()
    assert check_store(store) == "ok"


async def test_store_check_reports_a_full_buffer(settings: Any) -> None:
    settings.COLLAB = {**settings.COLLAB, "STORE_BUFFER_BYTES": 10}
    storage = FailingWrites()
    store = DocumentStore(storage)
    store.append(uuid.uuid4(), b"x" * 10)
    assert check_store(store) == "buffer full (10 bytes held)"
    await store.flush()
    assert check_store(store) == "ok"


async def test_process_check_fails_once_shutdown_begins() -> None:
    registry = RoomRegistry(DocumentStore(MemoryStorage()), None)
    assert check_process(registry) == "ok"
    assert check_process(None) == "ok"
    await registry.shutdown()
    assert check_process(registry) == "shutting down"


# -- real servers -------------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_unreachable_database_makes_readyz_503(start_server: Any, tmp_path: Path) -> None:
    server = start_server(DATABASE_URL=f"sqlite:///{tmp_path}/missing-directory/db.sqlite3")
    health = await asyncio.to_thread(get, f"{server.http_url}/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    response = await readiness_of(server)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unavailable (OperationalError)"
    assert {name: body["checks"][name] for name in CHECKS - {"database"}} == dict.fromkeys(CHECKS - {"database"}, "ok")
    assert "missing-directory" not in response.text  # the error's message stays in the server
    assert "set-cookie" not in response.headers
    assert (await readiness_of(server)).status_code == 503
    # Logged once when the check started failing, not at every probe.
    assert server.log().count("database check failed") == 1
    assert "Service Unavailable: /readyz" not in server.log()


@pytest.mark.timeout(60)
async def test_unreachable_redis_makes_readyz_503(start_server: Any) -> None:
    server = start_server(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = await readiness_of(server)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["channel_layer"].startswith(("unavailable (", "no answer within")), checks
    assert checks["database"] == "ok"


@pytest.mark.timeout(60)
@pytest.mark.redis
async def test_readyz_pings_a_running_redis(start_server: Any) -> None:
    server = start_server(REDIS_URL=redis_url())
    response = await readiness_of(server)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["channel_layer"] == "ok"


@pytest.mark.faults
@pytest.mark.timeout(120)
async def test_store_failure_and_shutdown_show_in_readyz(tmp_path: Path) -> None:
    """A server whose database is locked reports its store failing; after SIGTERM, while it waits to write what it
    holds, it reports that it is shutting down."""
    database = SqliteDatabase(tmp_path)
    rig = FaultRig(database, tmp_path)
    try:
        rig.migrate()
        rig.create_token()
        server = rig.start_server(COLLAB_SHUTDOWN_WAIT_SECONDS="30")
        document_id = rig.create_document(server)
        client = await open_client(server.ws_url, document_id, rig.token)
        ready = await readiness_of(server)
        assert ready.status_code == 200, ready.text
        with database.exclusive_lock():
            client.add_paragraph("held while the database is locked")
            failing = await until_value(
                lambda: readiness_of(server),
                lambda response: response.json()["checks"]["store"] != "ok",
                "the store check to fail",
                timeout=30,
            )
            assert failing.status_code == 503
            assert failing.json()["checks"]["store"].startswith("writes failing for ")
            await client.close()
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            stopping = await until_value(
                lambda: readiness_while_stopping(server),
                lambda response: response is not None and response.json()["checks"]["process"] != "ok",
                "the process check to fail",
                timeout=20,
            )
            assert stopping.status_code == 503
            assert stopping.json()["checks"]["process"] == "shutting down"
        # The lock is gone: the stop writes what it held and the process exits.
        assert await asyncio.to_thread(server.process.wait, 60) == 0
    finally:
        rig.teardown()
