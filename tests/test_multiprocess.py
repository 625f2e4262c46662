"""Several daphne processes sharing the database and Redis behave as one server."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
import redis
import requests
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from documents.models import DocumentUpdate
from tests.services import redis_url
from tests.yclient import open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120), pytest.mark.redis]


@pytest.fixture
def two_servers(start_server: Any) -> tuple[Any, Any]:
    url = redis_url()
    # A database of its own, emptied first, so runs never see each other's groups.
    redis.Redis.from_url(url.rsplit("/", 1)[0] + "/5").flushdb()
    env = {
        "REDIS_URL": url.rsplit("/", 1)[0] + "/5",
        "COLLAB_FLUSH_INTERVAL": "0.2",
        "COLLAB_REPLICA_CHECK_SECONDS": "1",
        "COLLAB_ROOM_GRACE_SECONDS": "30",
    }
    return start_server(**env), start_server(**env)


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol)}


async def test_edits_and_cursors_cross_processes(two_servers: Any, document: Any, tokens: dict) -> None:
    one, two = two_servers
    a = await open_client(one.ws_url, document.pk, tokens["alice"])
    b = await open_client(two.ws_url, document.pk, tokens["bob"])
    a.add_paragraph("from one")
    await b.wait_for(lambda: b.paragraph_texts() == ["from one"])
    b.add_paragraph("from two")
    await a.wait_for(lambda: a.paragraph_texts() == ["from one", "from two"])
    await b.set_presence({"cursor": None})
    await a.wait_for(lambda: a.presence_names() == {"bob"})
    await b.close()
    await a.wait_for(lambda: a.presence_names() == set(), timeout=3)
    await a.close()
    # A graceful stop writes everything a process still buffers: once both exited, every row they would ever store
    # (a peer's update stored a second time included) is in the database.
    for server in (one, two):
        assert await sync_to_async(server.stop)(signal.SIGTERM) == 0
    # Each update stored by both processes: by the one that received it and by the replica, whose rows must hold
    # it should the first be killed before its flush.
    assert await sync_to_async(DocumentUpdate.objects.filter(document=document).count)() == 4


async def test_revocation_closes_sockets_in_other_processes(two_servers: Any, document: Any, tokens: dict) -> None:
    one, two = two_servers
    b = await open_client(two.ws_url, document.pk, tokens["bob"])
    response = await sync_to_async(requests.delete)(
        f"{one.http_url}/api/documents/{document.pk}/members/bob/",
        headers={"Authorization": f"Token {tokens['alice']}"},
        timeout=10,
    )
    assert response.status_code == 204
    await asyncio.wait_for(b.closed.wait(), 2)
    assert b.close_code == 4403


async def test_replicas_repair_a_lost_message(two_servers: Any, document: Any, tokens: dict) -> None:
    one, two = two_servers
    a = await open_client(one.ws_url, document.pk, tokens["alice"])
    b = await open_client(two.ws_url, document.pk, tokens["bob"])
    # Lose every channel-layer message for a moment by emptying Redis; the periodic state-vector check repairs it.
    a.add_paragraph("lost?")
    redis.Redis.from_url(redis_url().rsplit("/", 1)[0] + "/5").flushdb()
    await b.wait_for(lambda: b.paragraph_texts() == ["lost?"], timeout=10)
    await a.close()
    await b.close()


async def test_admin_counts_connections_of_every_process(
    two_servers: Any, document: Any, tokens: dict, settings: Any
) -> None:
    from documents.admin import live_connections

    one, two = two_servers
    settings.REDIS_URL = redis_url().rsplit("/", 1)[0] + "/5"
    clients = [
        await open_client(one.ws_url, document.pk, tokens["alice"]),
        await open_client(two.ws_url, document.pk, tokens["bob"]),
        await open_client(two.ws_url, document.pk, tokens["carol"]),
    ]
    count = sync_to_async(live_connections)
    async with asyncio.timeout(5):
        while await count(document.pk) != 3:
            await asyncio.sleep(0.05)
    await clients[2].close()
    async with asyncio.timeout(5):
        while await count(document.pk) != 2:
            await asyncio.sleep(0.05)
    for client in clients[:2]:
        await client.close()
