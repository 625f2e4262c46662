"""An untrusted update changes the room completely or not at all; what is stored and sent is what changed.

Rooms without sockets (fake connections, the memory store); the same cases over a real daphne socket are in
``test_integrity_ws.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Doc, Text, XmlElement, XmlFragment

from documents.engine.protocol import encode_sync_step1, encode_update, read_state_vector
from documents.engine.rooms import Room
from documents.engine.storage import MemoryStorage, StoredRows
from documents.engine.store import DocumentStore
from documents.exceptions import ProtocolError, StoreUnavailable, UpdateTooComplex
from tests.test_rooms import FakeConnection, edit

# An editor's first paragraph, then a mutant whose third struct names a string item as its parent: yrs integrates
# the first two structs, then raises RuntimeError.
FIRST = bytes.fromhex(
    "010383ecaff4b68b83080007010764656661756c740309706172616772617068070083ecaff4b68b83080006040083ecaff4b68b"
    "8308010d68656c6c6f20776f726c64203000"
)
HALF_INTEGRATES = bytes.fromhex(
    "010383ecaff4968b83080007010764656661756c740309706172616762617068070083ecaff4b68b83080006040083ecaff4b68b"
    "8308090d68656c6c6f20776f726c64203200"
)
# The fuzzer's original of the above, with seven trailing bytes after its delete set.
HALF_INTEGRATES_TRAILING = HALF_INTEGRATES + bytes.fromhex("ffffffffffff59")
# Accepted by yrs on an empty document: it changes the Doc while the observer's update is empty.
SILENT_CHANGE = bytes.fromhex(
    "010f0d0807010764656661756c740309706172616772617068a10d000d010368656c840d040a6c6f20776f726c64200d0001000e870d"
    "0f0309706172616772617068a10d1e0604000d1f0d6c6c6f20776e726c642032c48ed30d040d05018ed30d2d0d0502595a460d0204626f"
    "6c64027b7dc60d2d0d2e04626f6c64046e756c6ca1300161a10d3002010d020f0f3302"
)


@pytest.fixture
def store() -> DocumentStore:
    return DocumentStore(MemoryStorage())


@pytest.fixture
def room(store: DocumentStore) -> Room:
    return Room(uuid.uuid4(), store, peers=None)


def fragment(doc: Doc) -> str:
    return str(doc.get("default", type=XmlFragment))


def replica(connection: FakeConnection) -> Doc:
    """What a client that applied every update the room sent it holds."""
    doc: Doc[Any] = Doc()
    for update in connection.updates():
        doc.apply_update(update)
    return doc


async def joiner_of(room: Room) -> Doc:
    """What a fresh client receives when it joins."""
    late = FakeConnection("late")
    await room.join(late)
    await room.receive(late, encode_sync_step1(b"\x00"))
    doc = replica(late)
    await room.leave(late)
    return doc


async def stored_doc(store: DocumentStore, room: Room) -> Doc:
    await store.flush()
    return StoredRows(store.backend.segments[room.document_id], store.backend.log[room.document_id]).doc()


async def assert_invariant(room: Room, store: DocumentStore, *clients: FakeConnection) -> str:
    """The room, the stored rows, a fresh joiner and every connected client hold the same document."""
    expected = fragment(room.doc)
    state = read_state_vector(room.doc.get_state())
    for doc in (await stored_doc(store, room), await joiner_of(room), *map(replica, clients)):
        assert fragment(doc) == expected
        assert read_state_vector(doc.get_state()) == state
    return expected


@pytest.mark.parametrize("mutant", [HALF_INTEGRATES, HALF_INTEGRATES_TRAILING, SILENT_CHANGE])
async def test_crafted_update_is_refused_and_changes_nothing(room: Room, store: DocumentStore, mutant: bytes) -> None:
    sender, other = FakeConnection("sender"), FakeConnection("other")
    await room.join(sender)
    await room.join(other)
    await room.receive(sender, encode_update(FIRST))
    before = await assert_invariant(room, store, other)
    sent_before = len(other.updates())
    with pytest.raises(ProtocolError) as refused:
        await room.receive(sender, encode_update(mutant))
    assert refused.value.close_code == 1007
    assert len(other.updates()) == sent_before
    assert await assert_invariant(room, store, other) == before == "<paragraph>hello world 0</paragraph>"


async def test_silent_change_on_an_empty_document_is_refused(room: Room, store: DocumentStore) -> None:
    sender = FakeConnection("sender")
    await room.join(sender)
    with pytest.raises(ProtocolError):
        await room.receive(sender, encode_update(SILENT_CHANGE))
    await store.flush()
    assert store.backend.log[room.document_id] == []
    assert fragment(await joiner_of(room)) == ""


def nested_update(depth: int) -> bytes:
    """One update nesting ``depth`` XmlElements, as a hostile client would build it."""
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    with doc.transaction():
        node: Any = doc.get("default", type=XmlFragment)
        for _ in range(depth):
            node = node.children.append(XmlElement("blockquote"))
    return updates[0]


async def test_nesting_past_the_limit_is_refused(room: Room, store: DocumentStore, settings: Any) -> None:
    sender = FakeConnection("sender")
    await room.join(sender)
    with pytest.raises(UpdateTooComplex) as refused:
        await room.receive(sender, encode_update(nested_update(300)))
    assert refused.value.close_code == 1008
    assert fragment(room.doc) == ""
    await room.receive(sender, encode_update(nested_update(200)))  # within the default 256
    assert fragment(room.doc).count("<blockquote>") == 200


async def test_nesting_built_up_over_several_updates_is_refused(room: Room, settings: Any) -> None:
    settings.COLLAB = {"MAX_NESTING_DEPTH": 10}
    source: Doc[Any] = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    node: Any = source.get("default", type=XmlFragment)
    for _ in range(12):
        node = node.children.append(XmlElement("blockquote"))
    sender = FakeConnection("sender")
    await room.join(sender)
    for update in updates[:10]:
        await room.receive(sender, encode_update(update))
    with pytest.raises(UpdateTooComplex):
        await room.receive(sender, encode_update(updates[10]))
    assert fragment(room.doc).count("<blockquote>") == 10


async def test_thirty_thousand_deep_update_is_refused(room: Room) -> None:
    sender = FakeConnection("sender")
    await room.join(sender)
    with pytest.raises(UpdateTooComplex):
        await room.receive(sender, encode_update(nested_update(30_000)))
    assert fragment(room.doc) == ""


async def test_held_update_survives_a_reload(room: Room, store: DocumentStore) -> None:
    source: Doc[Any] = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text = source.get("t", type=Text)
    text += "hello"
    text += " world"
    sender = FakeConnection("sender")
    await room.join(sender)
    await room.receive(sender, encode_update(updates[1]))
    await store.flush()
    await store.compact(room.document_id)  # held rows stay in the log, outside the snapshot
    reloaded = Room(room.document_id, store, peers=None)
    reloaded.load(await store.load(room.document_id))
    assert len(reloaded.live.held) == 1
    await reloaded.join(sender)
    await reloaded.receive(sender, encode_update(updates[0]))
    assert str(reloaded.doc.get("t", type=Text)) == "hello world"


async def test_failed_write_keeps_the_batch_and_retries(room: Room, store: DocumentStore) -> None:
    sender = FakeConnection("sender")
    await room.join(sender)
    store.backend.unavailable = ConnectionError("database is down")
    await room.receive(sender, encode_update(edit("one")))
    with pytest.raises(ConnectionError):
        await store.flush()
    await room.receive(sender, encode_update(edit("two")))
    with pytest.raises(ConnectionError):
        await store.flush()
    store.backend.unavailable = None
    await store.flush()
    assert len(store.backend.log[room.document_id]) == 2
    assert store.buffered_bytes == 0


async def test_full_buffer_refuses_writers_with_1013(room: Room, store: DocumentStore, settings: Any) -> None:
    settings.COLLAB = {"STORE_BUFFER_DOCUMENT_BYTES": 200}
    sender = FakeConnection("sender")
    await room.join(sender)
    store.backend.unavailable = ConnectionError("database is down")
    refused = None
    for index in range(20):
        try:
            await room.receive(sender, encode_update(edit(f"typed {index} " * 3)))
        except StoreUnavailable as exc:
            refused = exc
            break
    assert refused is not None and refused.close_code == 1013
    kept = str(room.doc.get("t", type=Text))
    store.backend.unavailable = None
    await store.flush()
    assert str((await stored_doc(store, room)).get("t", type=Text)) == kept
