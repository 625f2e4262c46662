"""PeerLink: two "processes" (two links with their own instance ids) in one event loop, sharing one in-memory
channel layer; the state-vector rule (missing_from) and LinkHealth's logging."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from pycrdt import Doc, Text

from documents.engine.protocol import EMPTY_UPDATE, encode_state_vector
from documents.engine.replication import LinkHealth, PeerLink, group_name, missing_from
from tests.waiting import until


class FlakyLayer(InMemoryChannelLayer):
    """The in-memory layer, whose group sends fail while ``failing`` is set (Redis down)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: Exception | None = None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if self.failing is not None:
            raise self.failing
        await super().group_send(group, message)


class Inbox:
    """A handler recording the events a link delivers for one document."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]


@pytest.fixture
def layer() -> FlakyLayer:
    return FlakyLayer()


@pytest.fixture
async def links(layer: FlakyLayer) -> AsyncIterator[tuple[PeerLink, PeerLink]]:
    one, two = PeerLink(layer), PeerLink(layer)
    # The in-memory layer means "no other process"; these two links stand in for two processes.
    assert not one.replicate and not two.replicate
    one.replicate = two.replicate = True
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


@pytest.fixture
def replication_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog for documents.engine.replication (the "documents" logger does not propagate to caplog's handler)."""
    logger = logging.getLogger("documents.engine.replication")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="documents.engine.replication")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def edits(doc: Doc, *words: str) -> list[bytes]:
    """Type ``words`` into ``doc``, one transaction each; their updates."""
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    for word in words:
        text += word
    doc.unobserve(subscription)
    return updates


async def test_an_update_reaches_the_other_process_and_not_the_sender(links: tuple[PeerLink, PeerLink]) -> None:
    one, two = links
    assert one.instance != two.instance
    document_id = uuid.uuid4()
    inbox_one, inbox_two = Inbox(), Inbox()
    await one.subscribe(document_id, inbox_one)
    await two.subscribe(document_id, inbox_two)
    one.publish_update(document_id, b"update bytes")
    await until(lambda: inbox_two.events, "two to receive the update")
    assert inbox_two.events == [
        {"type": "room.update", "update": b"update bytes", "origin": one.instance, "group": group_name(document_id)}
    ]
    # Two answers; one's channel is in order, so once one has two's message it has read (and skipped) its own.
    two.publish_state(document_id, b"\x00")
    await until(lambda: inbox_one.events, "one to receive two's state")
    assert [(event["type"], event["origin"]) for event in inbox_one.events] == [("room.state", two.instance)]
    assert inbox_one.events[0]["reply"] is False


async def test_the_in_memory_layer_alone_publishes_no_document_traffic(layer: FlakyLayer) -> None:
    link = PeerLink(layer)
    await link.start()
    try:
        document_id = uuid.uuid4()
        await link.subscribe(document_id, Inbox())
        link.publish_update(document_id, b"x")
        link.publish_awareness(document_id, b"y", {1: 2})
        link.publish_state(document_id, b"\x00")
        assert link._outbox.empty()  # nothing was queued for a group that only this process is in
    finally:
        await link.close()


def test_missing_from_compares_state_vectors() -> None:
    ours = encode_state_vector({1: 5, 2: 3})
    assert not missing_from(ours, ours)
    assert not missing_from(encode_state_vector({1: 4}), ours)  # they are behind: nothing we lack
    assert not missing_from(encode_state_vector({}), ours)
    assert missing_from(encode_state_vector({1: 6}), ours)  # a later clock of a client we know
    assert missing_from(encode_state_vector({3: 1}), ours)  # a client we have never seen
    assert missing_from(encode_state_vector({1: 1, 2: 4}), ours)


async def test_state_vector_exchange_repairs_missed_updates_both_ways(links: tuple[PeerLink, PeerLink]) -> None:
    """One replica missed an update of the other and the other way round (the layer dropped them); one announcement
    and the reply it triggers repair both, and the reply is not answered again."""
    one, two = links
    document_id = uuid.uuid4()
    writer_one, writer_two = Doc(), Doc()
    shared = edits(writer_one, "shared ")
    replica_one, replica_two = Doc(), Doc()
    for doc in (writer_two, replica_one, replica_two):
        doc.apply_update(shared[0])
    for update in edits(writer_one, "seen by one only"):
        replica_one.apply_update(update)
    for update in edits(writer_two, "seen by two only"):
        replica_two.apply_update(update)
    states: dict[str, list[bool]] = {"one": [], "two": []}

    def replica(name: str, link: PeerLink, doc: Doc) -> Callable[[dict[str, Any]], Any]:
        # What a room replica does with its peers' events (RoomRegistry._on_peer_event and _answer_state).
        async def handle(event: dict[str, Any]) -> None:
            if event["type"] == "room.update":
                doc.apply_update(event["update"])
            elif event["type"] == "room.state":
                states[name].append(event["reply"])
                diff = doc.get_update(event["state"])
                if diff != EMPTY_UPDATE:
                    link.publish_update(document_id, diff)
                if not event["reply"] and missing_from(event["state"], doc.get_state()):
                    link.publish_state(document_id, doc.get_state(), reply=True)

        return handle

    await one.subscribe(document_id, replica("one", one, replica_one))
    await two.subscribe(document_id, replica("two", two, replica_two))
    assert missing_from(replica_two.get_state(), replica_one.get_state())
    assert missing_from(replica_one.get_state(), replica_two.get_state())
    two.publish_state(document_id, replica_two.get_state())  # two announces itself (it loaded, or checks in)

    def converged() -> bool:
        return replica_one.get_state() == replica_two.get_state() and str(replica_one.get("t", type=Text)) == str(
            replica_two.get("t", type=Text)
        )

    await until(converged, "the replicas to converge")
    content = str(replica_one.get("t", type=Text))
    assert "seen by one only" in content and "seen by two only" in content and content.startswith("shared ")
    # A marker sent by two after everything else it sent (one's channel is in order, across documents too): once it
    # arrived, so did any further state message two would have sent.
    marker = Inbox()
    marker_id = uuid.uuid4()
    await one.subscribe(marker_id, marker)
    two.publish_update(marker_id, b"marker")
    await until(lambda: marker.events, "the marker")
    assert states == {"one": [False], "two": [True]}  # one announcement, one reply to it, no ping-pong


async def test_awareness_passes_through_with_its_owners(links: tuple[PeerLink, PeerLink]) -> None:
    one, two = links
    document_id = uuid.uuid4()
    inbox = Inbox()
    await two.subscribe(document_id, inbox)
    payload = b"\x01\xc8\x01\x02\x02{}"
    one.publish_awareness(document_id, payload, {200: 7, 4_000_000_000: 8})
    await until(lambda: inbox.events, "two to receive the awareness update")
    (event,) = inbox.events
    assert event["type"] == "room.awareness" and event["payload"] == payload
    # String keys on the wire (msgpack and JSON need not keep integer map keys); the registry converts them back.
    assert event["owners"] == {"200": 7, "4000000000": 8}
    assert {int(client): int(user) for client, user in event["owners"].items()} == {200: 7, 4_000_000_000: 8}


async def test_unsubscribe_stops_delivery(layer: FlakyLayer, links: tuple[PeerLink, PeerLink]) -> None:
    one, two = links
    gone, kept = uuid.uuid4(), uuid.uuid4()
    inbox_gone, inbox_kept = Inbox(), Inbox()
    await two.subscribe(gone, inbox_gone)
    await two.subscribe(kept, inbox_kept)
    one.publish_update(gone, b"before")
    await until(lambda: inbox_gone.events, "the first update")
    await two.unsubscribe(gone)
    assert two.channel not in layer.groups.get(group_name(gone), {})
    one.publish_update(gone, b"after")
    # A message of the group already in the channel when the room unloaded is dropped as well.
    await layer.send(
        two.channel, {"type": "room.update", "update": b"late", "origin": one.instance, "group": group_name(gone)}
    )
    # One publishes in order and two's channel is in order: once the other document's update arrived, anything
    # for the unsubscribed one would have too.
    one.publish_update(kept, b"marker")
    await layer.send(
        two.channel, {"type": "room.update", "update": b"marker 2", "origin": one.instance, "group": group_name(kept)}
    )
    await until(lambda: len(inbox_kept.events) == 2, "the other document's updates")
    assert [event["update"] for event in inbox_gone.events] == [b"before"]


async def test_renew_restores_memberships_the_layer_lost(layer: FlakyLayer, links: tuple[PeerLink, PeerLink]) -> None:
    one, two = links
    document_id = uuid.uuid4()
    inbox = Inbox()
    await two.subscribe(document_id, inbox)
    layer.groups.pop(group_name(document_id))  # Redis expired the membership, or restarted empty
    await two.renew()
    one.publish_update(document_id, b"after renew")
    await until(lambda: inbox.events, "the update after renewing")
    assert inbox.events[0]["update"] == b"after renew"


async def test_a_publishing_outage_logs_once_when_it_starts_and_once_when_it_ends(
    layer: FlakyLayer, links: tuple[PeerLink, PeerLink], replication_logs: pytest.LogCaptureFixture
) -> None:
    one, two = links
    document_id = uuid.uuid4()
    inbox = Inbox()
    await two.subscribe(document_id, inbox)
    layer.failing = ConnectionError("redis is down")
    for i in range(5):
        one.publish_update(document_id, f"lost {i}".encode())
    await until(lambda: one._outbox.empty() and one._publish_health.failures == 5, "five failed sends")
    layer.failing = None
    one.publish_update(document_id, b"delivered")
    await until(lambda: inbox.events, "the update after the outage")
    assert [event["update"] for event in inbox.events] == [b"delivered"]  # the lost ones are for repair to fix
    lines = [(r.levelno, r.getMessage()) for r in replication_logs.records if r.name == "documents.engine.replication"]
    assert len(lines) == 2, lines
    assert lines[0] == (
        logging.ERROR,
        "publishing to the channel layer failed (ConnectionError: redis is down); "
        "peers catch up by state-vector repair once it works",
    )
    assert lines[1][0] == logging.WARNING
    assert lines[1][1].startswith("publishing to the channel layer works again after 5 failures in ")
    assert one._publish_health.failures == 0


def test_link_health_logs_one_line_per_change_of_state(replication_logs: pytest.LogCaptureFixture) -> None:
    health = LinkHealth("renewing channel-layer groups")
    health.succeeded()  # working, and it was: nothing to say
    for i in range(3):
        health.failed(TimeoutError(f"attempt {i}"))
    health.succeeded()
    health.succeeded()
    health.failed(OSError("again"))
    health.succeeded()
    lines = [(r.levelname, r.getMessage()) for r in replication_logs.records]
    assert [level for level, _ in lines] == ["ERROR", "WARNING", "ERROR", "WARNING"]
    assert "(TimeoutError: attempt 0)" in lines[0][1]  # the first error of the outage, not the later ones
    assert "works again after 3 failures" in lines[1][1]
    assert "(OSError: again)" in lines[2][1]
    assert "works again after 1 failures" in lines[3][1]
