"""A Yjs client id writes for the user who first used it: another editor cannot write its next clocks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Doc, Text

from documents.engine.protocol import encode_awareness, encode_awareness_update
from documents.engine.rooms import Room
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from documents.exceptions import ProtocolError
from tests.test_rooms import FakeConnection


class Typist:
    """A client Doc with a fixed id; ``type`` returns the update of what it typed."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)

    def type(self, text: str, at: int | None = None) -> bytes:
        before = self.doc.get_state()
        content = self.doc.get("t", type=Text)
        content.insert(len(content) if at is None else at, text)
        return self.doc.get_update(before)


@pytest.fixture
def room() -> Any:
    room = Room(uuid.uuid4(), DocumentStore(MemoryStorage()), None)
    yield room
    room.close()


def text(room: Room) -> str:
    return str(room.doc.get("t", type=Text))


async def test_another_user_cannot_write_a_client_ids_next_clocks(room: Room) -> None:
    alice, mallory = FakeConnection("alice"), FakeConnection("mallory")
    owner = Typist(1234)
    await room.change(owner.type("hello"), origin=alice)
    # Mallory saw id 1234 in Alice's updates and writes its next clocks before Alice does.
    forged = Typist(1234)
    forged.doc.apply_update(room.doc.get_update())
    with pytest.raises(ProtocolError, match="belongs to another user"):
        await room.change(forged.type(" forged"), origin=mallory)
    assert text(room) == "hello"
    # Alice's own next keystrokes still integrate.
    await room.change(owner.type(" world"), origin=alice)
    assert text(room) == "hello world"


async def test_the_same_user_writes_one_id_from_two_connections(room: Room) -> None:
    """A reconnecting tab (a new connection of the same user) keeps writing with its id."""
    first, second = FakeConnection("alice"), FakeConnection("alice")
    typist = Typist(77)
    await room.change(typist.type("one"), origin=first)
    await room.change(typist.type(" two"), origin=second)
    assert text(room) == "one two"


async def test_an_id_first_seen_in_presence_is_its_users(room: Room) -> None:
    """A y-websocket client announces its presence on connect, before it types: that already makes the id its."""
    alice, mallory = FakeConnection("alice"), FakeConnection("mallory")
    await room.join(alice)
    await room.join(mallory)
    await room.receive(alice, encode_awareness(encode_awareness_update([(555, 1, '{"user":{"name":"alice"}}')])))
    with pytest.raises(ProtocolError, match="belongs to another user"):
        await room.change(Typist(555).type("squatted"), origin=mallory)
    await room.change(Typist(555).type("mine"), origin=alice)
    assert text(room) == "mine"


async def test_anyone_may_delete_and_re_send_what_the_room_has(room: Room) -> None:
    """Ownership is about new clocks: deleting another's text, or re-sending known clocks, is ordinary editing."""
    alice, bob = FakeConnection("alice"), FakeConnection("bob")
    typist = Typist(1)
    update = typist.type("shared text")
    await room.change(update, origin=alice)
    await room.change(update, origin=bob)  # a sync step 2 that overlaps what the room has: nothing new
    editor = Typist(2)
    editor.doc.apply_update(room.doc.get_update())
    before = editor.doc.get_state()
    del editor.doc.get("t", type=Text)[0:7]
    await room.change(editor.doc.get_update(before), origin=bob)
    assert text(room) == "text"
