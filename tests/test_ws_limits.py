"""Bad input over the WebSocket: the right close code, a log line, the document intact, everyone else unaffected."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from rest_framework.authtoken.models import Token

from documents.engine.protocol import encode_awareness, encode_update
from tests.yclient import YClient, open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol, dave)}


BAD_MESSAGES = {
    "text frame": ("hello", 1003),
    "unknown message type": (b"\x07\x00", 1007),
    "truncated varint": (b"\x00\x02\x80", 1007),
    "length past end": (b"\x00\x02\x10abc", 1007),
    "corrupt update": (encode_update(b"\x05\xff\xff\xff"), 1007),
    "auth message type": (b"\x02\x00", 1007),
    "awareness not json": (encode_awareness(b"\x01\x05\x01\x03{x}"), 1007),
    "run of 0xff": (b"\x00" + b"\xff" * 100_000, 1007),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
async def test_bad_message_closes_only_the_sender(live_server_url: Any, document: Any, tokens: dict, case: str) -> None:
    message, code = BAD_MESSAGES[case]
    bystander = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    bystander.add_paragraph("kept")
    attacker = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    await attacker.wait_for(lambda: attacker.paragraph_texts() == ["kept"])
    await attacker.send_raw(message)
    await asyncio.wait_for(attacker.closed.wait(), 5)
    assert attacker.close_code == code
    # The server is alive, the bystander keeps editing, the content is intact.
    bystander.add_paragraph("still editing")
    late = await open_client(live_server_url.ws_url, document.pk, tokens["carol"])
    await late.wait_for(lambda: late.paragraph_texts() == ["kept", "still editing"])
    assert not bystander.closed.is_set()
    assert "closed with" in live_server_url.log()
    await bystander.close()
    await late.close()


async def test_oversized_message_closes_with_1009(start_server: Any, document: Any, tokens: dict) -> None:
    server = start_server(COLLAB_MAX_MESSAGE_BYTES="50000")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    await client.send_raw(encode_update(b"\x00" * 60_000))
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_code == 1009
    await client.close()


async def test_update_flood_closes_with_1008(start_server: Any, document: Any, tokens: dict) -> None:
    server = start_server(COLLAB_RATE_UPDATES_PER_SECOND="5", COLLAB_RATE_UPDATES_BURST="10")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    for i in range(50):
        client.add_paragraph(f"flood {i}")
        await asyncio.sleep(0)
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_code == 1008
    await client.close()


async def test_document_size_cap_refuses_edits_but_stays_readable(
    start_server: Any, document: Any, tokens: dict
) -> None:
    server = start_server(COLLAB_MAX_DOCUMENT_BYTES="20000")
    writer = await open_client(server.ws_url, document.pk, tokens["alice"])
    writer.add_paragraph("x" * 15_000)
    reader = await open_client(server.ws_url, document.pk, tokens["carol"])
    await reader.wait_for(lambda: reader.paragraph_texts() == ["x" * 15_000])
    writer.add_paragraph("y" * 10_000)
    await asyncio.wait_for(writer.closed.wait(), 5)
    assert writer.close_code == 1009
    late = await open_client(server.ws_url, document.pk, tokens["bob"])
    assert late.paragraph_texts() == ["x" * 15_000]
    for client in (reader, late):
        await client.close()


@pytest.mark.parametrize("path", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
async def test_unknown_document_refused(live_server_url: Any, tokens: dict, path: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        await YClient(f"{live_server_url.ws_url}/{path}", token=tokens["alice"]).connect()
    assert info.value.response.status_code == 403


async def test_foreign_origin_refused(live_server_url: Any, document: Any, tokens: dict) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        await YClient(
            f"{live_server_url.ws_url}/{document.pk}", token=tokens["alice"], origin="http://evil.example"
        ).connect()
    assert info.value.response.status_code == 403
    # The origin the server is reached at (another host or port of it is refused: tests/test_security.py)
    ok = await YClient(
        f"{live_server_url.ws_url}/{document.pk}", token=tokens["alice"], origin=live_server_url.http_url
    ).connect()
    await asyncio.wait_for(ok.synced.wait(), 5)
    await ok.close()


async def test_awareness_cannot_impersonate_or_hijack(live_server_url: Any, document: Any, tokens: dict) -> None:
    alice = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    await alice.set_presence({"user": {"name": "alice"}})
    mallory = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    await mallory.wait_for(lambda: "alice" in mallory.presence_names())
    # Speak for alice's client id with a higher clock: dropped, alice's state stays hers.
    from documents.engine.protocol import encode_awareness_update

    forged = encode_awareness_update([(alice.doc.client_id, 99, '{"user":{"name":"bob"},"cursor":1}')])
    await mallory.send_raw(encode_awareness(forged))
    await mallory.set_presence({"user": {"name": "alice"}})
    watcher = await open_client(live_server_url.ws_url, document.pk, tokens["carol"])
    await watcher.wait_for(lambda: watcher.presence_names() == {"alice", "bob"})
    states = {cid: s for cid, s in watcher.awareness.states.items() if s}
    assert states[alice.doc.client_id]["user"]["name"] == "alice"
    for client in (alice, mallory, watcher):
        await client.close()


async def test_message_over_transport_limit_closes_with_1009(live_server_url: Any, document: Any, tokens: dict) -> None:
    client = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    await client.send_raw(encode_update(b"\x00" * (1024 * 1024 + 10)))
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_code == 1009
    other = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    assert other.paragraph_texts() == []
    await other.close()
