"""End to end: a real daphne server and real pycrdt + websockets clients."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from documents.models import Membership
from tests.yclient import YClient, open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def token_for(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, str]:
    return {user.username: token_for(user) for user in (alice, bob, carol, dave)}


def rest_text(server: Any, document: Any, token: str) -> str:
    response = requests.get(
        f"{server.http_url}/api/documents/{document.pk}/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["text"]


async def test_two_clients_converge(live_server_url: Any, document: Any, tokens: dict[str, str]) -> None:
    a = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    b = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    a.add_paragraph("hello from alice")
    await b.wait_for(lambda: b.paragraph_texts() == ["hello from alice"])
    b.insert_text(0, 5, ",")
    await a.wait_for(lambda: a.paragraph_texts() == ["hello, from alice"])
    text = await sync_to_async(rest_text)(live_server_url, document, tokens["carol"])
    assert text == "hello, from alice"
    await a.close()
    await b.close()


async def test_late_joiner_gets_everything(live_server_url: Any, document: Any, tokens: dict[str, str]) -> None:
    a = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    for i in range(20):
        a.add_paragraph(f"line {i}")
    late = await open_client(live_server_url.ws_url, document.pk, tokens["carol"])
    await late.wait_for(lambda: len(late.paragraph_texts()) == 20)
    assert late.paragraph_texts() == [f"line {i}" for i in range(20)]
    await a.close()
    await late.close()


async def test_many_clients_random_edits_converge(live_server_url: Any, document: Any, tokens: dict[str, str]) -> None:
    users = ["alice", "bob", "alice", "bob", "alice"]
    seed = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    seed.add_paragraph("")
    clients = [await open_client(live_server_url.ws_url, document.pk, tokens[name]) for name in users]
    await asyncio.gather(*(c.wait_for(lambda c=c: len(c.paragraph_texts()) == 1) for c in clients))
    rng = random.Random(7)

    async def edit(client: YClient) -> None:
        for _ in range(200):
            text = client.fragment.children[0].children[0]
            text.insert(rng.randint(0, len(text)), rng.choice("abcdefgh "))
            await asyncio.sleep(0)

    await asyncio.gather(*(edit(c) for c in clients))
    expected_length = 1000
    for client in [seed, *clients]:
        await client.wait_for(lambda client=client: len(client.paragraph_texts()[0]) == expected_length, timeout=30)
    contents = {client.paragraph_texts()[0] for client in [seed, *clients]}
    assert len(contents) == 1
    text = await sync_to_async(rest_text)(live_server_url, document, tokens["bob"])
    assert text == contents.pop()
    for client in [seed, *clients]:
        await client.close()


async def test_viewer_edits_are_dropped(live_server_url: Any, document: Any, tokens: dict[str, str]) -> None:
    viewer = await open_client(live_server_url.ws_url, document.pk, tokens["carol"])
    editor = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    viewer.add_paragraph("viewer was here")
    editor.add_paragraph("editor was here")
    await viewer.wait_for(lambda: "editor was here" in viewer.paragraph_texts())
    observer = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    assert observer.paragraph_texts() == ["editor was here"]
    assert await sync_to_async(rest_text)(live_server_url, document, tokens["alice"]) == "editor was here"
    for client in (viewer, editor, observer):
        await client.close()


async def test_awareness_is_stamped_and_removed(live_server_url: Any, document: Any, tokens: dict[str, str]) -> None:
    a = await open_client(live_server_url.ws_url, document.pk, tokens["alice"])
    b = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    await b.set_presence({"user": {"name": "the real alice", "color": "#000"}, "cursor": None})
    await a.wait_for(lambda: a.presence_names() == {"bob"})
    # Echoed to the sender too (its keepalive), with the server's stamp.
    await b.wait_for(lambda: any('"name":"bob"' in p for p in b.awareness_payloads))
    await b.close()
    await a.wait_for(lambda: a.presence_names() == set(), timeout=3)
    await a.close()


@pytest.mark.parametrize("who", ["anonymous", "dave", "bad-token"])
async def test_handshake_refused(live_server_url: Any, document: Any, tokens: dict[str, str], who: str) -> None:
    import websockets

    token = {"anonymous": None, "dave": tokens["dave"], "bad-token": "x" * 40}[who]
    with pytest.raises(websockets.InvalidStatus) as info:
        await YClient(f"{live_server_url.ws_url}/{document.pk}", token=token).connect()
    assert info.value.response.status_code == 403


async def test_revocation_closes_socket(live_server_url: Any, document: Any, tokens: dict[str, str], bob: Any) -> None:
    b = await open_client(live_server_url.ws_url, document.pk, tokens["bob"])
    response = await sync_to_async(requests.delete)(
        f"{live_server_url.http_url}/api/documents/{document.pk}/members/bob/",
        headers={"Authorization": f"Token {tokens['alice']}"},
        timeout=10,
    )
    assert response.status_code == 204
    await asyncio.wait_for(b.closed.wait(), 2)
    assert b.close_code == 4403
    assert not await sync_to_async(Membership.objects.filter(user=bob).exists)()
