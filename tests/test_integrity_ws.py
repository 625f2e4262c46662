"""Crafted updates over a real daphne socket: the sender gets 1007 or 1008; the room, the store, connected
clients and fresh joiners all keep the same document, before and after a restart."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from documents.engine.protocol import encode_update
from tests.test_integrity import FIRST, HALF_INTEGRATES, HALF_INTEGRATES_TRAILING, SILENT_CHANGE, nested_update
from tests.yclient import YClient, open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol)}


def rest_text(server: Any, document: Any, token: str) -> str:
    response = requests.get(
        f"{server.http_url}/api/documents/{document.pk}/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()["text"]


def fragment(client: YClient) -> str:
    return str(client.fragment)


CASES = {
    "half-integrates": (lambda: HALF_INTEGRATES, 1007),
    "trailing bytes": (lambda: HALF_INTEGRATES_TRAILING, 1007),
    "silent change": (lambda: SILENT_CHANGE, 1007),
    "30,000 deep": (lambda: nested_update(30_000), 1008),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_crafted_update_closes_the_sender_and_changes_nothing(
    start_server: Any, document: Any, tokens: dict, name: str
) -> None:
    make, code = CASES[name]
    mutant = make()
    server = start_server()
    bystander = await open_client(server.ws_url, document.pk, tokens["alice"])
    attacker = await open_client(server.ws_url, document.pk, tokens["bob"])
    await attacker.send_raw(encode_update(FIRST))
    await bystander.wait_for(lambda: fragment(bystander) == "<paragraph>hello world 0</paragraph>")
    await attacker.send_raw(encode_update(mutant))
    await asyncio.wait_for(attacker.closed.wait(), 10)
    assert attacker.close_code == code, name
    # The bystander still edits; everyone, now and after a restart, sees the same two paragraphs.
    bystander.add_paragraph("after")
    expected = "<paragraph>hello world 0</paragraph><paragraph>after</paragraph>"
    joiner = await open_client(server.ws_url, document.pk, tokens["carol"])
    await joiner.wait_for(lambda: fragment(joiner) == expected)
    assert fragment(bystander) == expected
    assert await sync_to_async(rest_text)(server, document, tokens["carol"]) == "hello world 0\nafter"
    for client in (bystander, attacker, joiner):
        await client.close()
    assert await sync_to_async(server.stop)(signal.SIGTERM) == 0
    restarted = start_server(port=server.port)
    fresh = await open_client(restarted.ws_url, document.pk, tokens["carol"])
    assert fragment(fresh) == expected
    assert await sync_to_async(rest_text)(restarted, document, tokens["carol"]) == "hello world 0\nafter"
    await fresh.close()
