"""/metrics: what the engine's instruments count (rooms, store, replication, handshakes), who may scrape, and the
text format as Prometheus' own parser reads it back from a real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websockets
from channels.layers import InMemoryChannelLayer
from django.test import AsyncClient, RequestFactory
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Doc, Text
from rest_framework.authtoken.models import Token

from documents.engine import telemetry
from documents.engine.protocol import encode_awareness, encode_awareness_update, encode_update
from documents.engine.registry import RoomRegistry
from documents.engine.replication import PeerLink
from documents.engine.rooms import Room
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from documents.exceptions import ProtocolError
from documents.metrics import PrometheusTelemetry
from documents.web.health import address_allowed, bearer_matches, scrape_allowed
from documents.ws.middleware import TOKEN_OFFERED, record_refusal
from tests.test_health import FailingWrites
from tests.waiting import until, until_value
from tests.yclient import open_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# -- helpers ------------------------------------------------------------------------------------------------------
class Recorder:
    """A connection that records how many messages it was sent."""

    def __init__(self, name: str, can_write: bool = True) -> None:
        self.id = name
        self.user = None
        self.user_id = abs(hash(name)) % 1000 + 1
        self.user_name = name
        self.user_color = "#123456"
        self.can_write = can_write
        self.sent = 0

    async def send(self, message: bytes) -> None:
        self.sent += 1

    async def close(self, code: int, reason: str = "") -> None:
        pass

    def backlog(self) -> int:
        return 0


def edit(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    doc.get("t", type=Text).insert(0, text)
    return updates[0]


def awareness_of(client_id: int) -> bytes:
    return encode_awareness(encode_awareness_update([(client_id, 1, "{}")]))


@pytest.fixture
def tokens(alice: Any, bob: Any, dave: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, dave)}


@pytest.fixture
def instruments() -> Iterator[CollectorRegistry]:
    """Fresh Prometheus instruments installed as the engine's, for this test only."""
    collectors = CollectorRegistry()
    previous = telemetry.install(PrometheusTelemetry(collectors))
    yield collectors
    telemetry.install(previous)


def value(instruments: CollectorRegistry, name: str, **labels: str) -> float:
    found = instruments.get_sample_value(name, labels)
    assert found is not None, f"no sample {name} {labels}"
    return found


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample of a scrape by (name, labels), and every family's type by name."""
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}
    return samples, {family.name: family.type for family in families}


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- the instruments ----------------------------------------------------------------------------------------------
async def test_room_traffic_is_counted_by_kind(instruments: CollectorRegistry) -> None:
    room = Room(uuid.uuid4(), DocumentStore(MemoryStorage()), None)
    a, b, c = Recorder("a"), Recorder("b"), Recorder("c", can_write=False)
    for connection in (a, b, c):
        await room.join(connection)
    assert value(instruments, "collab_messages_sent_total", kind="sync_step1") == 3
    message = encode_update(edit("hello"))
    await room.receive(a, message)
    assert value(instruments, "collab_messages_received_total", kind="update") == 1
    assert value(instruments, "collab_received_bytes_total", kind="update") == len(message)
    assert value(instruments, "collab_updates_applied_total") == 1
    assert value(instruments, "collab_update_apply_seconds_count") == 1
    assert value(instruments, "collab_messages_sent_total", kind="update") == 2  # b and c, not the sender
    assert value(instruments, "collab_fanout_seconds_count", kind="update") == 1
    assert value(instruments, "collab_sent_bytes_total", kind="update") == 2 * len(message)

    await room.receive(c, encode_update(edit("viewer")))
    assert value(instruments, "collab_updates_refused_total", reason="read_only") == 1
    with pytest.raises(ProtocolError):
        await room.receive(a, encode_update(b"\x05\xff\xff\xff"))
    assert value(instruments, "collab_updates_refused_total", reason="invalid_payload") == 1
    assert value(instruments, "collab_updates_applied_total") == 1

    await room.receive(b, awareness_of(b.user_id))
    assert value(instruments, "collab_messages_received_total", kind="awareness") == 1
    assert value(instruments, "collab_messages_sent_total", kind="awareness") == 3  # echoed to the sender too


async def test_store_flushes_failures_and_compactions_are_counted(instruments: CollectorRegistry) -> None:
    storage = FailingWrites()
    store = DocumentStore(storage)
    document_id = uuid.uuid4()
    updates = [edit("one"), edit("two")]
    for update in updates:
        store.append(document_id, update)
    storage.failure = OSError("disk gone")
    with pytest.raises(OSError):
        await store.flush()
    assert value(instruments, "collab_store_failures_total") == 1
    assert value(instruments, "collab_store_flush_seconds_count") == 0
    storage.failure = None
    await store.flush()
    assert value(instruments, "collab_store_flush_seconds_count") == 1
    assert value(instruments, "collab_store_flush_batch_updates_sum") == 2
    assert value(instruments, "collab_store_flush_batch_bytes_sum") == sum(map(len, updates))
    await store.compact(document_id)
    assert value(instruments, "collab_compactions_total") == 1


class BrokenLayer(InMemoryChannelLayer):
    async def group_send(self, group: str, message: dict) -> None:
        raise ConnectionError("redis gone")


async def test_publishes_and_their_failures_are_counted(instruments: CollectorRegistry) -> None:
    links = [PeerLink(InMemoryChannelLayer()), PeerLink(BrokenLayer())]
    for link in links:
        link.replicate = True  # stands in for a channel layer with other processes behind it
        await link.start()
    try:
        for link in links:
            link.publish_update(uuid.uuid4(), edit("x"))
        await until(lambda: instruments.get_sample_value("collab_channel_layer_publishes_total") == 1, "a publish")
        await until(
            lambda: instruments.get_sample_value("collab_channel_layer_publish_failures_total") == 1, "a failed publish"
        )
    finally:
        for link in links:
            await link.close()


async def test_a_lagging_replica_is_repaired_and_counted(instruments: CollectorRegistry, settings: Any) -> None:
    settings.COLLAB = {**settings.COLLAB, "ROOM_GRACE_SECONDS": 60}
    layer = InMemoryChannelLayer()
    links = [PeerLink(layer), PeerLink(layer)]
    for link in links:
        link.replicate = True
        await link.start()
    # Two processes, each with storage of its own: the second one's replica starts empty.
    first, second = (RoomRegistry(DocumentStore(MemoryStorage()), link) for link in links)
    document_id = uuid.uuid4()
    writer = Recorder("writer")
    try:
        room = await first.join(document_id, writer)
        await room.change(edit("only in the first process"), origin=writer)
        assert value(instruments, "collab_replica_repairs_total") == 0
        replica = await second.join(document_id, Recorder("reader"))
        await until(lambda: str(replica.doc.get("t", type=Text)) == "only in the first process", "the repair")
        assert value(instruments, "collab_replica_repairs_total") >= 1
    finally:
        for process in (first, second):
            for timer in process._grace.values():
                timer.cancel()
            tasks = [task for task in (process._checker, process._housekeeping) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for open_room in process.rooms.values():
                open_room.close()
        for link in links:
            await link.close()


def test_handshake_refusals_are_counted_by_reason(instruments: CollectorRegistry) -> None:
    from django.contrib.auth.models import AnonymousUser

    class Member:
        is_authenticated = True

    record_refusal({"user": AnonymousUser(), TOKEN_OFFERED: False})
    record_refusal({"user": AnonymousUser(), TOKEN_OFFERED: True})
    record_refusal({"user": Member(), TOKEN_OFFERED: True})
    for reason in ("no_credential", "bad_token", "no_access"):
        assert value(instruments, "collab_auth_refusals_total", reason=reason) == 1
    assert value(instruments, "collab_auth_refusals_total", reason="forbidden_origin") == 0


# -- who may scrape -----------------------------------------------------------------------------------------------
def test_bearer_token_comparison() -> None:
    assert bearer_matches("Bearer s3cret", "s3cret")
    assert bearer_matches("bearer s3cret", "s3cret")
    assert not bearer_matches("Bearer s3cre", "s3cret")
    assert not bearer_matches("Token s3cret", "s3cret")
    assert not bearer_matches("", "s3cret")


def test_address_allowlist() -> None:
    allow = ("10.0.0.0/8", "192.168.1.7", "::1", "not-an-address")
    assert address_allowed("10.20.30.40", allow)
    assert address_allowed("192.168.1.7", allow)
    assert address_allowed("::ffff:10.1.1.1", allow)  # an IPv4 client of a dual-stack socket
    assert address_allowed("::1", allow)
    assert not address_allowed("192.168.1.8", allow)
    assert not address_allowed("not-an-address", allow)
    assert not address_allowed(None, allow)


@pytest.mark.django_db
async def test_metrics_token_is_required_when_set(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"
    client = AsyncClient()
    assert (await client.get("/metrics")).status_code == 403
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 403
    response = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert not response.cookies


def allowed(remote_addr: str, forwarded_for: str | None = None) -> bool:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return scrape_allowed(RequestFactory().get("/metrics", REMOTE_ADDR=remote_addr, headers=headers))


def test_allowlist_checks_the_connection_and_the_forwarded_client(settings: Any) -> None:
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert allowed("10.0.0.5")
    assert not allowed("172.16.0.5")
    # Behind one proxy the forwarded client counts too: through an allowed proxy, an outsider is still refused...
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert not allowed("10.0.0.2", forwarded_for="203.0.113.9")
    assert allowed("10.0.0.2", forwarded_for="10.7.7.7")
    # ...and a forged X-Forwarded-For sent straight to the process gains nothing.
    assert not allowed("172.16.0.5", forwarded_for="10.7.7.7")


@pytest.mark.django_db
async def test_metrics_view_applies_the_allowlist(settings: Any) -> None:
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert (await AsyncClient().get("/metrics")).status_code == 403  # the test client connects from 127.0.0.1
    settings.METRICS_ALLOW = ["127.0.0.1"]
    assert (await AsyncClient().get("/metrics")).status_code == 200


# -- a real server ------------------------------------------------------------------------------------------------
def scrape(server: Any, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{server.http_url}/metrics", headers=headers, timeout=10)


async def scraped(server: Any) -> Samples:
    response = await asyncio.to_thread(scrape, server)
    assert response.status_code == 200, response.text
    return parse(response.text)[0]


async def handshake_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        ws = await websockets.connect(url, open_timeout=10, **kwargs)
        await ws.close()
    return refused.value.response.status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_a_real_server_counts_what_its_clients_do(live_server_url: Any, document: Any, tokens: dict) -> None:
    server = live_server_url
    response = await asyncio.to_thread(scrape, server)
    assert response.status_code == 200
    samples, types = parse(response.text)
    assert types["collab_messages_received"] == "counter"
    assert types["collab_fanout_seconds"] == "histogram"
    assert types["collab_connections"] == "gauge"
    assert "process_cpu_seconds" in types
    assert sample(samples, "collab_connections") == 0

    alice = await open_client(server.ws_url, document.pk, tokens["alice"])
    bob = await open_client(server.ws_url, document.pk, tokens["bob"])
    alice.add_paragraph("counted")
    await bob.wait_for(lambda: bob.paragraph_texts() == ["counted"])
    samples = await scraped(server)
    assert sample(samples, "collab_connections") == 2
    assert sample(samples, "collab_rooms") == 1
    assert sample(samples, "collab_messages_received_total", kind="update") >= 1
    assert sample(samples, "collab_updates_applied_total") >= 1
    assert sample(samples, "collab_messages_sent_total", kind="update") >= 1
    assert sample(samples, "collab_fanout_seconds_count", kind="update") >= 1
    assert sample(samples, "collab_messages_sent_total", kind="sync_step1") >= 2
    await until_value(
        lambda: scraped(server),
        lambda samples: sample(samples, "collab_store_flush_seconds_count") >= 1,
        "a group commit to be counted",
    )

    url = f"{server.ws_url}/{document.pk}"
    assert await handshake_status(url) == 403
    assert await handshake_status(url, additional_headers={"Authorization": "Token nonsense"}) == 403
    assert await handshake_status(url, additional_headers={"Authorization": f"Token {tokens['dave']}"}) == 403
    cross_site = {"Authorization": f"Token {tokens['alice']}"}
    assert await handshake_status(url, additional_headers=cross_site, origin="http://evil.example") == 403
    samples = await scraped(server)
    for reason in ("no_credential", "bad_token", "no_access", "forbidden_origin"):
        assert sample(samples, "collab_auth_refusals_total", reason=reason) == 1, reason

    await alice.close()
    await bob.close()
    await until_value(
        lambda: scraped(server), lambda samples: sample(samples, "collab_connections") == 0, "connections to close"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_a_real_server_guards_its_metrics(start_server: Any) -> None:
    guarded = start_server(METRICS_TOKEN="s3cret", METRICS_ALLOW="127.0.0.1")
    assert (await asyncio.to_thread(scrape, guarded)).status_code == 403
    assert (await asyncio.to_thread(scrape, guarded, "wrong")).status_code == 403
    assert (await asyncio.to_thread(scrape, guarded, "s3cret")).status_code == 200
    elsewhere = start_server(METRICS_ALLOW="10.9.9.9")
    response = await asyncio.to_thread(scrape, elsewhere)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert "not an allowed scraper" in elsewhere.log()
