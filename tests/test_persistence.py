"""Durability against a real server: graceful stops, crashes after the flush window, large and long documents."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from rest_framework.authtoken.models import Token

from documents.engine.storage import DjangoStorage
from documents.engine.store import DocumentStore
from documents.models import DocumentUpdate, SnapshotSegment
from tests.waiting import until_value
from tests.yclient import open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def tokens(alice: Any, bob: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_graceful_stop_loses_nothing(start_server: Any, document: Any, tokens: dict, sig: int) -> None:
    # A long flush window: only the shutdown flush can have stored these edits.
    server = start_server(COLLAB_FLUSH_INTERVAL="60")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    for i in range(30):
        client.add_paragraph(f"line {i}")
    watcher = await open_client(server.ws_url, document.pk, tokens["bob"])
    await watcher.wait_for(lambda: len(watcher.paragraph_texts()) == 30)
    assert await sync_to_async(server.stop)(sig) == 0
    restarted = start_server(port=server.port)
    fresh = await open_client(restarted.ws_url, document.pk, tokens["bob"])
    assert fresh.paragraph_texts() == [f"line {i}" for i in range(30)]
    assert "flushed" in server.log()
    for c in (client, watcher, fresh):
        await c.close()


async def test_crash_after_flush_window_loses_nothing(start_server: Any, document: Any, tokens: dict) -> None:
    server = start_server(COLLAB_FLUSH_INTERVAL="0.3")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    for i in range(25):
        client.add_paragraph(f"kept {i}")
    watcher = await open_client(server.ws_url, document.pk, tokens["bob"])
    await watcher.wait_for(lambda: len(watcher.paragraph_texts()) == 25)
    # A wall-clock wait on purpose: the contract is about time (edits older than the flush window survive a crash),
    # so no event may stand in for it; 1 s is past the 0.3 s window with margin.
    await asyncio.sleep(1.0)
    server.stop(signal.SIGKILL)
    restarted = start_server(port=server.port)
    fresh = await open_client(restarted.ws_url, document.pk, tokens["bob"])
    assert fresh.paragraph_texts() == [f"kept {i}" for i in range(25)]
    for c in (client, watcher, fresh):
        await c.close()


async def test_reconnect_that_changes_nothing_stores_nothing(start_server: Any, document: Any, tokens: dict) -> None:
    server = start_server(COLLAB_FLUSH_INTERVAL="0.1")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    client.add_paragraph("once")
    count = sync_to_async(DocumentUpdate.objects.filter(document=document).count)
    before = await until_value(count, lambda rows: rows > 0, "the edit to be stored")
    # A second client with the same content re-sends it all in SyncStep2: nothing new to store.
    twin = await open_client(server.ws_url, document.pk, tokens["bob"])
    twin.doc.apply_update(client.doc.get_update())
    await asyncio.sleep(0)  # the twin's send task writes the re-sent content to its socket
    # The server handles a connection's messages in order: once it echoes the presence sent after the re-sent
    # content, it has taken that content (and buffered whatever it would store of it)...
    seen = len(twin.awareness_payloads)
    await twin.set_presence({"cursor": None})
    await twin.wait_for(lambda: any('"cursor"' in payload for payload in twin.awareness_payloads[seen:]))
    # ...and a graceful stop (the room still open: no unload compacts the log) writes everything still buffered.
    assert await sync_to_async(server.stop)(signal.SIGTERM) == 0
    after = await count()
    assert before == after == 1
    await client.close()
    await twin.close()


def _history_of(count: int) -> list[bytes]:
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("default", type=XmlFragment)
    text.children.append(XmlElement("paragraph", {}, [XmlText("")]))
    body = text.children[0].children[0]
    for i in range(count):
        body.insert(len(body), "abcdefghij"[i % 10])
    return updates


async def test_long_history_loads_from_one_snapshot_read(start_server: Any, document: Any, tokens: dict) -> None:
    store = DocumentStore(DjangoStorage())
    history = _history_of(100_000)
    for update in history:
        store.append(document.pk, update)
    await store.flush()
    await store.compact(document.pk)
    assert await sync_to_async(DocumentUpdate.objects.filter(document=document).count)() == 0
    segments = await sync_to_async(SnapshotSegment.objects.filter(document=document).count)()
    assert segments == 1

    def queries_to_load() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            store.read_sync(document.pk)
        return [q["sql"] for q in captured.captured_queries]

    assert len(await sync_to_async(queries_to_load)()) == 2  # the snapshot segments, then the (empty) log
    server = start_server()
    client = await open_client(server.ws_url, document.pk, tokens["bob"])
    assert len(client.paragraph_texts()[0]) == 100_000
    await client.close()


async def test_document_larger_than_transport_limit_opens(start_server: Any, document: Any, tokens: dict) -> None:
    server = start_server(COLLAB_FLUSH_INTERVAL="0.1", COLLAB_SEGMENT_BYTES="262144")
    writer = await open_client(server.ws_url, document.pk, tokens["alice"])
    chunk = "0123456789abcdef" * 16_000  # 256 KB of text per edit, 10 edits: 2.5 MB of state
    for i in range(10):
        writer.add_paragraph(f"{i}:{chunk}")
        await asyncio.sleep(0.05)
    watcher = await open_client(server.ws_url, document.pk, tokens["bob"])
    await watcher.wait_for(lambda: len(watcher.paragraph_texts()) == 10, timeout=30)
    await writer.close()
    await watcher.close()
    # After a restart the room loads from stored segments; a client with the transport's 1 MiB limit opens it.
    server.stop(signal.SIGTERM)
    restarted = start_server(port=server.port, COLLAB_SEGMENT_BYTES="262144")
    import websockets

    from documents.engine.protocol import decode_message, encode_sync_step1

    async with websockets.connect(f"{restarted.ws_url}/{document.pk}?token={tokens['bob']}", max_size=2**20) as ws:
        await ws.send(encode_sync_step1(b"\x00"))
        doc = Doc()
        while True:
            message = decode_message(await asyncio.wait_for(ws.recv(), 10))
            if type(message).__name__ in ("SyncUpdate", "SyncStep2"):
                assert len(message.update) < 2**20
                doc.apply_update(message.update)
                if type(message).__name__ == "SyncStep2":
                    break
    assert len(doc.get("default", type=XmlFragment).children) == 10
