"""The room registry without sockets: fake connections, the memory store, no peers or PeerLinks over one in-memory
channel layer. Loading, the grace period, unloading, joiners during an unload, lifecycle events, housekeeping."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import OperationalError
from pycrdt import Doc, Text

from documents.engine.hooks import ROOM_EVENTS, Hooks
from documents.engine.protocol import SyncStep1, SyncStep2, SyncUpdate, decode_message, encode_update
from documents.engine.registry import RoomRegistry
from documents.engine.replication import PeerLink, group_name
from documents.engine.rooms import Room
from documents.engine.storage import Compaction, MemoryStorage, StoredRows
from documents.engine.store import DocumentStore
from documents.exceptions import CloseCode
from documents.models import Document, Membership
from tests.waiting import until

GRACE = 0.1  # seconds an empty room stays loaded in these tests


# -- doubles -------------------------------------------------------------------------------------------------------
class FakeConnection:
    """A client connection as the consumer is one: records the frames it is sent; closing it leaves the room
    through the registry (as ``DocumentConsumer.close`` does)."""

    _ids = itertools.count(1)

    def __init__(self, registry: RoomRegistry, name: str, user: Any = None, can_write: bool = True) -> None:
        self.registry = registry
        self.id = name
        self.user = user
        self.user_id = user.pk if user is not None else next(self._ids)
        self.user_name = name
        self.user_color = "#123456"
        self.can_write = can_write
        self.sent: list[Any] = []
        self.closed_with: int | None = None
        self.room: Room | None = None

    async def send(self, message: bytes) -> None:
        self.sent.append(decode_message(message))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = code
        await self.leave()

    def backlog(self) -> int:
        return 0

    async def join(self, document_id: uuid.UUID) -> Room:
        self.room = await self.registry.join(document_id, self)
        return self.room

    async def leave(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            await self.registry.leave(room, self)

    def updates(self) -> list[bytes]:
        return [m.update for m in self.sent if isinstance(m, SyncUpdate | SyncStep2)]


class FlakyStorage(MemoryStorage):
    """Documents in memory, whose writes and compactions fail while ``failing_writes`` is set; reads still work (a
    database that refuses writes)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing_writes: Exception | None = None

    def write_batch(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        if self.failing_writes is not None:
            raise self.failing_writes
        super().write_batch(batch)

    def compact(self, document_id: uuid.UUID) -> Compaction:
        if self.failing_writes is not None:
            raise self.failing_writes
        return super().compact(document_id)


class SpyStore(DocumentStore):
    """The store over memory storage, recording its loads and compactions, which can be held at a gate."""

    def __init__(self) -> None:
        self.storage = FlakyStorage()
        super().__init__(self.storage)
        self.calls: list[str] = []
        self.load_gate: asyncio.Event | None = None
        self.compact_gate: asyncio.Event | None = None
        self.load_entered = asyncio.Event()
        self.compact_entered = asyncio.Event()
        self.failing_loads: Exception | None = None

    async def load(self, document_id: uuid.UUID) -> StoredRows:
        self.calls.append("load")
        self.load_entered.set()
        if self.load_gate is not None:
            await self.load_gate.wait()
        if self.failing_loads is not None:
            raise self.failing_loads
        return await super().load(document_id)

    async def compact(self, document_id: uuid.UUID) -> None:
        self.calls.append("compact")
        self.compact_entered.set()
        if self.compact_gate is not None:
            await self.compact_gate.wait()
        await super().compact(document_id)
        self.calls.append("compacted")


class Recorder:
    """Subscribes to every room event and records (event, room, time) in order."""

    def __init__(self, events: Hooks) -> None:
        self.events: list[tuple[str, Room, float]] = []
        for name in ROOM_EVENTS:
            events.subscribe(name, functools.partial(self._record, name))

    def _record(self, name: str, room: Room) -> None:
        self.events.append((name, room, time.monotonic()))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.events]

    def rooms(self, name: str) -> list[Room]:
        return [room for event, room, _ in self.events if event == name]

    def at(self, name: str) -> float:
        return next(at for event, _, at in self.events if event == name)


class Writer:
    """A client's Doc whose edits come out as updates."""

    def __init__(self) -> None:
        self.doc = Doc()
        self._updates: list[bytes] = []
        self.doc.observe(lambda event: self._updates.append(event.update))

    def type(self, text: str, name: str = "t") -> bytes:
        root = self.doc.get(name, type=Text)
        root += text
        return self._updates[-1]


def text_of(room: Room, name: str = "t") -> str:
    return str(room.doc.get(name, type=Text))


def text_in(updates: list[bytes], name: str = "t") -> str:
    """The text a list of stored updates holds."""
    return str(StoredRows(log=list(updates)).doc().get(name, type=Text))


class Harness:
    """Builds registries, stores and links, and stops all their timers and tasks at the end of the test."""

    def __init__(self) -> None:
        self.registries: list[RoomRegistry] = []
        self.links: list[PeerLink] = []
        self.stores: list[SpyStore] = []

    def store(self) -> SpyStore:
        store = SpyStore()
        self.stores.append(store)
        return store

    async def link(self, layer: InMemoryChannelLayer, replicate: bool = False) -> PeerLink:
        link = PeerLink(layer)
        # The in-memory layer means "no other process": a test standing in for several processes turns replication on.
        link.replicate = replicate
        await link.start()
        self.links.append(link)
        return link

    def registry(self, store: SpyStore, peers: PeerLink | None, events: Hooks) -> RoomRegistry:
        registry = RoomRegistry(store, peers, events)
        self.registries.append(registry)
        return registry

    async def close(self) -> None:
        for registry in self.registries:
            for timer in registry._grace.values():
                timer.cancel()
            tasks = [task for task in (registry._checker, registry._housekeeping) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, *registry._unloading.values(), return_exceptions=True)
            for room in registry.rooms.values():
                room.close()
        for link in self.links:
            await link.close()
        for store in self.stores:
            if store._flusher is not None:
                store._flusher.cancel()
                await asyncio.gather(store._flusher, return_exceptions=True)
            store._executor.shutdown(wait=False)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.close()


@pytest.fixture
def grace(settings: Any) -> float:
    settings.COLLAB = {**settings.COLLAB, "ROOM_GRACE_SECONDS": GRACE}
    return GRACE


@pytest.fixture
def store(harness: Harness) -> SpyStore:
    return harness.store()


@pytest.fixture
def events() -> Hooks:
    return Hooks()


@pytest.fixture
def recorder(events: Hooks) -> Recorder:
    return Recorder(events)


@pytest.fixture
def registry(harness: Harness, store: SpyStore, events: Hooks, recorder: Recorder, grace: float) -> RoomRegistry:
    return harness.registry(store, None, events)


@pytest.fixture
def engine_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog for the engine's loggers (the "documents" logger does not propagate to caplog's root handler)."""
    logger = logging.getLogger("documents")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="documents")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def unloaded(registry: RoomRegistry, room: Room) -> Callable[[], bool]:
    """Whether ``room`` finished unloading (its final flush, compaction and room_unloaded are done)."""
    return lambda: room.closed and room.document_id not in registry._unloading


# -- loading -------------------------------------------------------------------------------------------------------
async def test_concurrent_joins_of_an_unloaded_document_share_one_load(
    registry: RoomRegistry, store: SpyStore, recorder: Recorder
) -> None:
    document_id = uuid.uuid4()
    store.storage.log[document_id].append(Writer().type("stored"))
    store.load_gate = asyncio.Event()
    a, b = FakeConnection(registry, "a"), FakeConnection(registry, "b")
    joins = [asyncio.create_task(a.join(document_id)), asyncio.create_task(b.join(document_id))]
    await asyncio.wait_for(store.load_entered.wait(), 5)
    assert not any(join.done() for join in joins)  # both joiners are waiting for the load in flight
    store.load_gate.set()
    room_a, room_b = await asyncio.wait_for(asyncio.gather(*joins), 5)
    assert store.calls.count("load") == 1
    assert room_a is room_b is registry.rooms[document_id]
    assert set(room_a.members) == {a, b}
    assert text_of(room_a) == "stored"
    assert recorder.names() == ["room_loaded"]
    assert not registry._loading
    for connection in (a, b):  # each greeted by the one room
        assert isinstance(connection.sent[0], SyncStep1)


async def test_a_failed_load_fails_every_waiting_joiner_and_the_next_join_loads_again(
    registry: RoomRegistry, store: SpyStore, recorder: Recorder
) -> None:
    document_id = uuid.uuid4()
    store.load_gate = asyncio.Event()
    store.failing_loads = OperationalError("database down")
    a, b = FakeConnection(registry, "a"), FakeConnection(registry, "b")
    joins = [asyncio.create_task(a.join(document_id)), asyncio.create_task(b.join(document_id))]
    await asyncio.wait_for(store.load_entered.wait(), 5)
    store.load_gate.set()
    results = await asyncio.wait_for(asyncio.gather(*joins, return_exceptions=True), 5)
    assert [type(result) for result in results] == [OperationalError, OperationalError]
    assert store.calls.count("load") == 1
    assert not registry._loading and document_id not in registry.rooms
    assert recorder.names() == []
    store.failing_loads = None
    room = await asyncio.wait_for(a.join(document_id), 5)
    assert store.calls.count("load") == 2
    assert registry.rooms[document_id] is room and set(room.members) == {a}


async def test_a_joiner_cancelled_during_the_load_leaves_no_room_behind(
    registry: RoomRegistry, store: SpyStore, recorder: Recorder, grace: float
) -> None:
    # daphne cancels a connection's handler some seconds after its client went away, a slow load included.
    document_id = uuid.uuid4()
    store.load_gate = asyncio.Event()
    join = asyncio.create_task(FakeConnection(registry, "gone").join(document_id))
    await asyncio.wait_for(store.load_entered.wait(), 5)
    join.cancel()
    store.load_gate.set()  # the shared load goes on and registers the room, which nobody joins
    with pytest.raises(asyncio.CancelledError):
        await join
    await until(lambda: document_id in registry.rooms, "the shared load to finish")
    room = registry.rooms[document_id]
    assert not room.members
    await until(unloaded(registry, room), "the empty room to unload after the grace period", timeout=5 * grace + 5)
    assert recorder.names() == ["room_loaded", "room_unloaded"]


async def test_a_joiner_cancelled_while_being_greeted_is_not_left_a_member(
    registry: RoomRegistry, recorder: Recorder, grace: float
) -> None:
    document_id = uuid.uuid4()

    class Stalled(FakeConnection):
        async def send(self, message: bytes) -> None:
            await asyncio.Event().wait()  # a socket that never takes the greeting

    join = asyncio.create_task(Stalled(registry, "stalled").join(document_id))
    await until(lambda: document_id in registry.rooms and registry.rooms[document_id].members, "the member")
    room = registry.rooms[document_id]
    join.cancel()
    with pytest.raises(asyncio.CancelledError):
        await join
    assert not room.members
    await until(unloaded(registry, room), "the room to unload", timeout=5 * grace + 5)


async def test_a_failed_subscription_registers_no_room(harness: Harness, events: Hooks, recorder: Recorder) -> None:
    store = harness.store()
    link = await harness.link(InMemoryChannelLayer(), replicate=True)
    registry = harness.registry(store, link, events)

    async def refuse(*args: Any) -> None:
        raise ConnectionError("the channel layer is down")

    subscribe = link.subscribe
    link.subscribe = refuse  # type: ignore[method-assign]
    document_id = uuid.uuid4()
    with pytest.raises(ConnectionError):
        await FakeConnection(registry, "a").join(document_id)
    assert document_id not in registry.rooms and recorder.names() == []
    link.subscribe = subscribe  # type: ignore[method-assign]
    room = await FakeConnection(registry, "b").join(document_id)
    assert registry.rooms[document_id] is room and store.calls.count("load") == 2


# -- the grace period and unloading --------------------------------------------------------------------------------
async def test_an_empty_room_unloads_after_the_grace_period_with_each_hook_once_in_order(
    registry: RoomRegistry, store: SpyStore, events: Hooks, recorder: Recorder, grace: float
) -> None:
    document_id = uuid.uuid4()
    writer = Writer()
    a = FakeConnection(registry, "a")
    room = await a.join(document_id)
    await room.receive(a, encode_update(writer.type("kept")))
    seen: dict[str, Any] = {}

    def at_unload(unloaded_room: Room) -> None:
        # What room_unloaded promises: after the final flush and compaction, with the Doc still readable.
        seen.update(
            text=text_of(unloaded_room),
            log=list(store.storage.log[document_id]),
            segments=len(store.storage.segments[document_id]),
            buffered=store.buffered_bytes,
        )

    events.subscribe("room_unloaded", at_unload)
    left_at = time.monotonic()
    await a.leave()
    # A second leave of the same connection (recheck_access closes it, then the consumer's own disconnect) is a no-op.
    await registry.leave(room, a)
    # Nothing unloads before the grace period: the room is still registered and open.
    assert registry.rooms.get(document_id) is room and not room.closed
    assert recorder.names() == ["room_loaded", "session_ended"]
    await until(unloaded(registry, room), "the room to unload")
    assert recorder.at("room_unloaded") - left_at >= grace - 0.005
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded"]
    assert all(event_room is room for _, event_room, _ in recorder.events)
    assert seen == {"text": "kept", "log": [], "segments": 1, "buffered": 0}
    assert document_id not in registry.rooms and not registry._grace
    assert document_id not in store._stats  # the store forgot the document's bookkeeping
    # The next join loads a fresh room from the compacted snapshot.
    b = FakeConnection(registry, "b")
    again = await b.join(document_id)
    assert again is not room and text_of(again) == "kept"
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded", "room_loaded"]


async def test_a_join_during_the_grace_period_cancels_the_unload(
    registry: RoomRegistry, recorder: Recorder, grace: float
) -> None:
    document_id = uuid.uuid4()
    a, b = FakeConnection(registry, "a"), FakeConnection(registry, "b")
    room = await a.join(document_id)
    await a.leave()
    timer = registry._grace[document_id]
    # Fires just after the grace period the registry's timer was set for (timers of one loop run in time order).
    grace_over = asyncio.Event()
    asyncio.get_running_loop().call_later(grace + 0.02, grace_over.set)
    assert await b.join(document_id) is room
    assert timer.cancelled() and document_id not in registry._grace
    await asyncio.wait_for(grace_over.wait(), 5)
    assert registry.rooms.get(document_id) is room and not room.closed
    assert not registry._unloading
    assert recorder.names() == ["room_loaded", "session_ended"]
    # Leaving again starts a new grace period, which unloads the room once.
    await b.leave()
    await until(unloaded(registry, room), "the room to unload")
    assert recorder.names() == ["room_loaded", "session_ended", "session_ended", "room_unloaded"]


async def test_a_join_while_the_unload_runs_waits_and_gets_a_fresh_room_with_everything(
    registry: RoomRegistry, store: SpyStore, recorder: Recorder
) -> None:
    document_id = uuid.uuid4()
    writer = Writer()
    a, b = FakeConnection(registry, "a"), FakeConnection(registry, "b")
    room = await a.join(document_id)
    for word in ("written ", "before ", "unload"):
        await room.receive(a, encode_update(writer.type(word)))
    store.compact_gate = asyncio.Event()
    await a.leave()
    await asyncio.wait_for(store.compact_entered.wait(), 5)  # the unload flushed and is compacting
    assert document_id in registry._unloading and document_id not in registry.rooms
    join = asyncio.create_task(b.join(document_id))
    await asyncio.sleep(0)  # one turn of the loop: the joiner runs up to where it waits
    assert not join.done()
    assert store.calls.count("load") == 1  # it waits for the unload instead of loading beside it
    store.compact_gate.set()
    fresh = await asyncio.wait_for(join, 5)
    assert fresh is not room and room.closed and not fresh.closed
    assert registry.rooms[document_id] is fresh and set(fresh.members) == {b}
    assert text_of(fresh) == "written before unload"
    assert store.calls == ["load", "compact", "compacted", "load"]
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded", "room_loaded"]
    assert recorder.rooms("room_loaded") == [room, fresh]
    # b was greeted by the fresh room and can sync everything from it.
    assert isinstance(b.sent[0], SyncStep1)
    replica = Doc()
    replica.apply_update(fresh.doc.get_update(b"\x00"))
    assert str(replica.get("t", type=Text)) == "written before unload"


async def test_a_failing_hook_is_logged_and_does_not_stop_the_lifecycle(
    harness: Harness, store: SpyStore, engine_logs: pytest.LogCaptureFixture, grace: float
) -> None:
    events = Hooks()

    def broken(room: Room) -> None:
        raise RuntimeError("hook bug")

    async def broken_later(room: Room) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async hook bug")

    def database_down(room: Room) -> None:
        raise OperationalError("database down")

    for name in ROOM_EVENTS:
        events.subscribe(name, broken)
    events.subscribe("room_unloaded", broken_later)
    events.subscribe("room_unloaded", database_down)
    recorder = Recorder(events)  # subscribed after the failing ones: still called
    registry = harness.registry(store, None, events)
    document_id = uuid.uuid4()
    a = FakeConnection(registry, "a")
    room = await a.join(document_id)
    await room.receive(a, encode_update(Writer().type("safe")))
    await a.leave()
    await until(unloaded(registry, room), "the room to unload")
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded"]
    assert (
        store.storage.segments[document_id] and not store.storage.log[document_id]
    )  # flushed and compacted all the same
    assert document_id not in registry.rooms
    records = [r for r in engine_logs.records if r.name == "documents.engine.hooks"]
    failed = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert failed == [
        f"room_loaded hook of {document_id} failed",
        f"session_ended hook of {document_id} failed",
        f"room_unloaded hook of {document_id} failed",
        f"room_unloaded hook of {document_id} failed",
    ]
    assert all(r.exc_info for r in records if r.levelno == logging.ERROR)
    skipped = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert skipped == [f"room_unloaded hook of {document_id} skipped: database unavailable (database down)"]
    assert not [r for r in engine_logs.records if r.name == "documents.engine.registry"]
    b = FakeConnection(registry, "b")
    assert text_of(await b.join(document_id)) == "safe"


async def test_the_store_failing_at_unload_keeps_the_updates_for_the_next_load(
    registry: RoomRegistry, store: SpyStore, recorder: Recorder, engine_logs: pytest.LogCaptureFixture
) -> None:
    document_id = uuid.uuid4()
    update = Writer().type("not lost")
    store.storage.failing_writes = OperationalError("database refuses writes")
    a = FakeConnection(registry, "a")
    room = await a.join(document_id)
    await room.receive(a, encode_update(update))
    await a.leave()
    await until(unloaded(registry, room), "the room to unload")
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded"]
    warnings = [r.getMessage() for r in engine_logs.records if r.name == "documents.engine.registry"]
    assert warnings == [f"room {document_id} unloaded while the store is failing (database refuses writes)"]
    assert not store.storage.log[document_id] and text_in(store._buffer[document_id]) == "not lost"
    # The next room (reads work, writes still fail) has the update, from the store's buffer.
    b = FakeConnection(registry, "b")
    fresh = await b.join(document_id)
    assert fresh is not room and text_of(fresh) == "not lost"
    # Once writes work, the update is written, once.
    store.storage.failing_writes = None
    await store.flush()
    assert len(store.storage.log[document_id]) == 1 and text_in(store.storage.log[document_id]) == "not lost"
    assert not store._buffer


# -- housekeeping --------------------------------------------------------------------------------------------------
async def test_housekeeping_runs_at_the_shortest_interval_while_rooms_are_open(
    registry: RoomRegistry, events: Hooks, recorder: Recorder
) -> None:
    interval = 0.05
    ticks: list[tuple[Room, float]] = []
    events.subscribe_housekeeping(lambda room, now: ticks.append((room, now)), lambda: interval)
    events.subscribe_housekeeping(lambda room, now: None, lambda: 600.0)
    document_id = uuid.uuid4()
    a = FakeConnection(registry, "a")
    joined_at = time.monotonic()
    room = await a.join(document_id)
    await until(lambda: len(ticks) >= 3, "three housekeeping ticks")
    assert all(tick_room is room for tick_room, _ in ticks)
    assert ticks[0][1] - joined_at >= interval - 0.005  # the first tick comes after one interval, not at once
    assert all(later - earlier >= interval - 0.005 for (_, earlier), (_, later) in itertools.pairwise(ticks))
    await a.leave()
    await until(unloaded(registry, room), "the room to unload")
    task = registry._housekeeping
    assert task is not None
    await asyncio.wait_for(task, 5)  # it ends once no room is open
    assert all(now < recorder.at("room_unloaded") for _, now in ticks)  # never for a room being unloaded


# -- peer events ---------------------------------------------------------------------------------------------------
async def test_control_events_reach_the_room_over_the_in_memory_layer(
    harness: Harness, store: SpyStore, events: Hooks, recorder: Recorder, grace: float
) -> None:
    layer = InMemoryChannelLayer()
    registry = harness.registry(store, await harness.link(layer), events)
    document_id = uuid.uuid4()
    a, b = FakeConnection(registry, "a"), FakeConnection(registry, "b")
    room = await a.join(document_id)
    await b.join(document_id)
    group = group_name(document_id)
    assert list(layer.groups[group]) == [registry.peers.channel]  # type: ignore[union-attr]
    # As documents.bridge sends it from synchronous Django code (an operator closed the document).
    event = {
        "type": "room.close",
        "code": CloseCode.CLOSED_BY_OPERATOR,
        "reason": "operator",
        "origin": "",
        "group": group,
    }
    await layer.group_send(group, event)
    await until(lambda: a.closed_with is not None and b.closed_with is not None, "both connections to close")
    assert (a.closed_with, b.closed_with) == (CloseCode.CLOSED_BY_OPERATOR, CloseCode.CLOSED_BY_OPERATOR)
    await until(unloaded(registry, room), "the room to unload")
    assert recorder.names() == ["room_loaded", "session_ended", "room_unloaded"]
    assert group not in layer.groups  # unsubscribed at unload


async def test_two_registries_repair_each_other_on_load_and_each_stores_everything_its_room_holds(
    harness: Harness, events: Hooks
) -> None:
    layer = InMemoryChannelLayer()
    store_one, store_two = harness.store(), harness.store()
    one = harness.registry(store_one, await harness.link(layer, replicate=True), events)
    two = harness.registry(store_two, await harness.link(layer, replicate=True), Hooks())
    document_id = uuid.uuid4()
    # What process two reads from storage holds an edit process one's room lacks (its announcement was lost)...
    from_storage = Writer().type("from storage", name="s")
    store_two.storage.log[document_id].append(from_storage)
    a = FakeConnection(one, "a")
    room_one = await a.join(document_id)
    # ...and process one's room has an edit typed before process two subscribed: lost for two as well.
    await room_one.receive(a, encode_update(Writer().type("typed in one", name="a")))
    b = FakeConnection(two, "b")
    room_two = await b.join(document_id)
    # Two announces its state vector on load; one sends what two lacks and asks back; two sends what one lacks.
    await until(lambda: text_of(room_two, "a") == "typed in one", "two to get one's edit")
    await until(lambda: text_of(room_one, "s") == "from storage", "one to get two's stored edit")
    replica = Doc()
    for update in b.updates():
        replica.apply_update(update)
    assert str(replica.get("a", type=Text)) == "typed in one"  # b was sent the repair
    # Live edits cross too.
    await room_two.receive(b, encode_update(Writer().type("typed in two", name="b")))
    await until(lambda: text_of(room_one, "b") == "typed in two", "one to get two's live edit")
    # Each process stored what its room took, its peers' updates and repairs too: either may be killed before its
    # next flush, and the other's rows alone must then hold every edit.
    await store_one.flush()
    await store_two.flush()
    for stored in (store_one.storage.log[document_id], store_two.storage.log[document_id]):
        assert (text_in(stored, "a"), text_in(stored, "s"), text_in(stored, "b")) == (
            "typed in one",
            "from storage",
            "typed in two",
        )


@pytest.mark.django_db(transaction=True)
async def test_recheck_access_follows_the_users_current_role(
    harness: Harness, store: SpyStore, events: Hooks, grace: float, document: Document, bob: Any, carol: Any
) -> None:
    layer = InMemoryChannelLayer()
    registry = harness.registry(store, await harness.link(layer), events)
    editor = FakeConnection(registry, "bob", user=bob, can_write=True)
    viewer = FakeConnection(registry, "carol", user=carol, can_write=False)
    room = await editor.join(document.pk)
    await viewer.join(document.pk)
    # Demoted: bob's connection stays, read-only.
    await Membership.objects.filter(document=document, user=bob).aupdate(role="viewer")
    await registry.recheck_access(room, bob.pk)
    assert editor.can_write is False and editor.closed_with is None
    # Removed, announced over the layer as documents.bridge does: bob is closed with 4403, carol stays.
    await Membership.objects.filter(document=document, user=bob).adelete()
    group = group_name(document.pk)
    await layer.group_send(group, {"type": "room.access", "user_id": bob.pk, "origin": "", "group": group})
    await until(lambda: editor.closed_with is not None, "bob's connection to close")
    assert editor.closed_with == CloseCode.ACCESS_REVOKED
    assert set(room.members) == {viewer} and viewer.closed_with is None
    # The document deleted: carol is closed with 4404.
    await sync_to_async(Document.objects.filter(pk=document.pk).delete)()
    await registry.recheck_access(room, carol.pk)
    assert viewer.closed_with == CloseCode.DOCUMENT_GONE
    assert not room.members


async def test_a_grace_period_of_zero_still_lets_joiners_in(
    registry: RoomRegistry, store: SpyStore, settings: Any
) -> None:
    # An empty room unloads at once; a joiner must still get in, and loading must not repeat.
    settings.COLLAB = {**settings.COLLAB, "ROOM_GRACE_SECONDS": 0}
    connection = FakeConnection(registry, "a")
    room = await asyncio.wait_for(connection.join(uuid.uuid4()), 5)
    assert set(room.members) == {connection} and store.calls.count("load") == 1
