"""A connection that ends is freed when it ends, by reference counting, not left for the cyclic collector.

The server runs the collector rarely (collab/asgi.py), so what a closed connection leaves in reference cycles stays
in memory until a pass comes: under clients that reconnect, or handshakes refused one after another, resident
memory grew with it. Here daphne serves the application with the collector off and a census endpoint
(tests/garbage_asgi.py); connections of every kind open and close (editors with a token, a browser session, a
refused handshake, a connection closed for bad input), and the census must find none of their objects unreachable,
nor any function left in a cycle by the queries that let them in.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
import websockets
from django.test import Client
from rest_framework.authtoken.models import Token

from documents.engine.protocol import encode_update
from tests.yclient import open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def read_census(server: Any) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"{server.http_url}/_test/garbage", timeout=10) as response:
        return json.load(response)


async def census(server: Any) -> dict[str, dict[str, int]]:
    return await asyncio.to_thread(read_census, server)


@pytest.fixture
def tokens(alice: Any, bob: Any) -> list[str]:
    return [Token.objects.get_or_create(user=user)[0].key for user in (alice, bob)]


@pytest.fixture
def cookie(alice: Any) -> str:
    browser = Client()
    browser.force_login(alice)
    return f"sessionid={browser.cookies['sessionid'].value}"


async def test_closed_connections_leave_nothing_for_the_cyclic_collector(
    start_server: Any, document: Any, tokens: list[str], cookie: str
) -> None:
    server = start_server(application="tests.garbage_asgi:application")
    await census(server)  # what start-up left
    url = f"{server.ws_url}/{document.pk}"

    for round_ in range(5):
        editors = [await open_client(server.ws_url, document.pk, token) for token in tokens]
        editors[0].add_paragraph(f"round {round_}")
        await editors[1].wait_for(lambda: f"round {round_}" in editors[1].paragraph_texts())  # noqa: B023
        async with websockets.connect(url, additional_headers={"Cookie": cookie}, origin=server.http_url) as tab:
            await tab.send(b"\x00\x00\x01\x00")  # SyncStep1 of an empty document
            await asyncio.wait_for(tab.recv(), 10)
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(url, additional_headers={"Authorization": "Token wrong"}, open_timeout=10)
        bad = await open_client(server.ws_url, document.pk, tokens[1])
        await bad.ws.send(encode_update(b"\x05\xff\xff\xff"))
        await asyncio.wait_for(bad.closed.wait(), 10)
        assert bad.close_code == 1007
        for editor in editors:
            await editor.close()

    left: dict[str, int] = {}
    live: dict[str, int] = {}
    async with asyncio.timeout(30):
        while True:  # the server lets go of a closed connection within a second or two
            figures = await census(server)
            for name, count in figures["garbage"].items():
                left[name] = left.get(name, 0) + count
            live = figures["live"]
            if live.get("daphne.ws_protocol.WebSocketProtocol", 0) == 0:
                break
            await asyncio.sleep(0.2)
    assert left == {}, f"objects of closed connections found only by the cyclic collector: {left}"
    assert live.get("django.contrib.auth.models.User", 0) == 0, live
