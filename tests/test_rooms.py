"""Rooms without sockets: fake connections, the memory store, no peers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Awareness, Doc, Text

from documents.engine.protocol import (
    AwarenessMessage,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_awareness_update,
    encode_sync_step1,
    encode_update,
)
from documents.engine.rooms import Room
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from documents.exceptions import DocumentTooLarge, ProtocolError


class FakeConnection:
    """Records what the room sends."""

    def __init__(self, name: str, can_write: bool = True) -> None:
        self.id = name
        self.user = None
        self.user_id = hash(name)
        self.user_name = name
        self.user_color = "#123456"
        self.can_write = can_write
        self.sent: list[Any] = []
        self.closed: int | None = None

    async def send(self, message: bytes) -> None:
        self.sent.append(decode_message(message))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code

    def updates(self) -> list[bytes]:
        return [m.update for m in self.sent if isinstance(m, SyncUpdate | SyncStep2)]


def edit(text: str) -> bytes:
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    doc.get("t", type=Text).insert(0, text)
    return updates[0]


@pytest.fixture
def store() -> DocumentStore:
    return DocumentStore(MemoryStorage())


@pytest.fixture
def room(store: DocumentStore) -> Room:
    return Room(uuid.uuid4(), store, None)


async def test_update_fans_out_to_others_only(room: Room) -> None:
    a, b, c = FakeConnection("a"), FakeConnection("b"), FakeConnection("c")
    for conn in (a, b, c):
        await room.join(conn)
    update = edit("hi")
    await room.receive(a, encode_update(update))
    assert a.updates() == []
    replica = Doc()
    replica.apply_update(b.updates()[0])
    assert str(replica.get("t", type=Text)) == "hi"
    assert len(c.updates()) == 1


async def test_duplicate_update_is_neither_broadcast_nor_stored(room: Room, store: DocumentStore) -> None:
    a, b = FakeConnection("a"), FakeConnection("b")
    await room.join(a)
    await room.join(b)
    update = edit("once")
    await room.receive(a, encode_update(update))
    await room.receive(a, encode_update(update))
    assert len(b.updates()) == 1
    await store.flush()
    assert len(store.backend.log[room.document_id]) == 1


async def test_read_only_updates_dropped(room: Room) -> None:
    viewer, editor = FakeConnection("v", can_write=False), FakeConnection("e")
    await room.join(viewer)
    await room.join(editor)
    await room.receive(viewer, encode_update(edit("nope")))
    assert editor.updates() == []
    assert str(room.doc.get("t", type=Text)) == ""


async def test_corrupt_update_applies_nothing(room: Room) -> None:
    a = FakeConnection("a")
    await room.join(a)
    good = edit("good")
    with pytest.raises(ProtocolError):
        await room.receive(a, encode_update(good[:-4]))
    assert str(room.doc.get("t", type=Text)) == ""


async def test_pending_update_is_held_then_sent_integrated(room: Room, store: DocumentStore) -> None:
    source = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text = source.get("t", type=Text)
    text += "hello"
    text += " world"
    a, b = FakeConnection("a"), FakeConnection("b")
    await room.join(a)
    await room.join(b)
    await room.receive(a, encode_update(updates[1]))  # depends on the first: held, stored, not sent
    assert b.updates() == []
    await store.flush()
    assert store.backend.log[room.document_id] == [updates[1]]
    await room.receive(a, encode_update(updates[0]))
    assert str(room.doc.get("t", type=Text)) == "hello world"
    # b gets both, integrated (its own Doc shows the whole text), a only the held one it did not send last
    replica = Doc()
    for update in b.updates():
        replica.apply_update(update)
    assert str(replica.get("t", type=Text)) == "hello world"


async def test_late_joiner_sync(room: Room) -> None:
    a = FakeConnection("a")
    await room.join(a)
    await room.receive(a, encode_update(edit("shared")))
    late = FakeConnection("late")
    await room.join(late)
    await room.receive(late, encode_sync_step1(b"\x00"))
    replica = Doc()
    for update in late.updates():
        replica.apply_update(update)
    assert str(replica.get("t", type=Text)) == "shared"


async def test_awareness_removed_when_connection_leaves(room: Room) -> None:
    a, b = FakeConnection("a"), FakeConnection("b")
    await room.join(a)
    await room.join(b)
    client = Doc()
    awareness = Awareness(client)
    awareness.set_local_state({"user": {"name": "forged"}})
    await room.receive(a, encode_awareness(awareness.encode_awareness_update([client.client_id])))
    assert room.awareness.states[client.client_id]["user"]["name"] == "a"
    await room.leave(a)
    assert client.client_id not in room.awareness.states
    last = [m for m in b.sent if isinstance(m, AwarenessMessage)][-1]
    assert b"null" in last.payload


async def test_size_cap_counts_the_state_not_the_churn(room: Room, settings: Any) -> None:
    settings.COLLAB = {**settings.COLLAB, "MAX_DOCUMENT_BYTES": 6000}
    writer = FakeConnection("w")
    await room.join(writer)
    source = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text = source.get("t", type=Text)
    for _ in range(10):  # 10 x 1,000 characters typed and deleted: far more updates than the cap, little state
        text.insert(0, "x" * 1000)
        del text[0:1000]
    for update in updates:
        await room.receive(writer, encode_update(update))
    text.insert(0, "y" * 7000)
    with pytest.raises(DocumentTooLarge):
        await room.receive(writer, encode_update(updates[-1]))


async def test_client_id_stays_its_users_while_the_owner_reconnects(room: Room) -> None:
    owner, other = FakeConnection("alice"), FakeConnection("mallory")
    await room.join(owner)
    await room.join(other)
    client_id = 4242
    await room.receive(owner, encode_awareness(encode_awareness_update([(client_id, 1, '{"cursor":1}')])))
    # Held: another user's message for the id is ignored (y-websocket clients relay states they see).
    await room.receive(other, encode_awareness(encode_awareness_update([(client_id, 2, '{"cursor":"x"}')])))
    assert room.awareness.states[client_id]["user"]["name"] == "alice"
    await room.leave(owner)
    assert client_id not in room.awareness.states
    # Released but still alice's: mallory cannot take it meanwhile; alice's new connection can.
    await room.receive(other, encode_awareness(encode_awareness_update([(client_id, 3, '{"cursor":"x"}')])))
    assert client_id not in room.awareness.states
    back = FakeConnection("alice")
    await room.join(back)
    await room.receive(back, encode_awareness(encode_awareness_update([(client_id, 3, '{"cursor":2}')])))
    assert room.awareness.states[client_id] == {"cursor": 2, "user": {"name": "alice", "color": "#123456"}}


async def test_tabs_that_came_and_went_are_forgotten(room: Room, settings: Any) -> None:
    # Every browser tab draws a new client id; a room that stays loaded all week must not remember each one.
    settings.COLLAB = {**settings.COLLAB, "AWARENESS_RELEASE_SECONDS": 0}
    staying = FakeConnection("staying")
    await room.join(staying)
    await room.receive(staying, encode_awareness(encode_awareness_update([(1, 1, '{"cursor":1}')])))
    for tab in range(2, 52):
        visitor = FakeConnection(f"visitor {tab}")
        await room.join(visitor)
        await room.receive(visitor, encode_awareness(encode_awareness_update([(tab, 1, '{"cursor":1}')])))
        await room.leave(visitor)
    assert set(room.awareness.states) == {1}
    assert set(room.presence.owners.claims) <= {1, 51}  # the last visitor's claim is dropped at the next leave
    assert set(room.awareness.meta) - {room.doc.client_id} <= {1, 51}
