"""Tests of the y-websocket framing: golden bytes, every malformed case, and property tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import (
    Array,
    Awareness,
    Doc,
    Map,
    Text,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    write_var_uint,
)

from documents.engine.protocol import (
    MAX_CLIENT_ID,
    AwarenessMessage,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_awareness_update,
    encode_message,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    parse_awareness_update,
    read_state_vector,
)
from documents.exceptions import ProtocolError

# The update of a Doc with client ID 1 whose root Text "t" got "hello" inserted, written out by hand:
# 1 client group, 1 struct, client 1, clock 0, info 0x04 (string content), parent is a root type named "t",
# string "hello", empty delete set.
HELLO_UPDATE = bytes([1, 1, 1, 0, 0x04, 1, 1]) + b"t" + bytes([5]) + b"hello" + bytes([0])
HELLO_STATE_VECTOR = bytes([1, 1, 5])  # one entry: client 1 at clock 5


def hello_doc() -> Doc:
    doc = Doc(client_id=1)
    doc["t"] = text = Text()
    text += "hello"
    return doc


# --- golden bytes -----------------------------------------------------------------------------


def test_hello_doc_matches_hand_written_update() -> None:
    doc = hello_doc()
    assert doc.get_update() == HELLO_UPDATE
    assert doc.get_state() == HELLO_STATE_VECTOR


def test_encode_golden_bytes() -> None:
    assert encode_update(HELLO_UPDATE) == bytes([0, 2, len(HELLO_UPDATE)]) + HELLO_UPDATE
    assert encode_sync_step2(HELLO_UPDATE) == bytes([0, 1, len(HELLO_UPDATE)]) + HELLO_UPDATE
    assert encode_sync_step1(HELLO_STATE_VECTOR) == bytes([0, 0, 3, 1, 1, 5])
    assert encode_awareness(b"\x00") == bytes([1, 1, 0])
    assert encode_query_awareness() == bytes([3])


def test_encode_matches_pycrdt_helpers() -> None:
    doc = hello_doc()
    assert encode_update(HELLO_UPDATE) == create_update_message(HELLO_UPDATE)
    assert encode_sync_step1(doc.get_state()) == create_sync_message(doc)
    assert encode_awareness(b"\x01\x02\x03\x02{}") == create_awareness_message(b"\x01\x02\x03\x02{}")
    # pycrdt's reply to a step 1 is the step 2 we would build.
    reply = handle_sync_message(encode_sync_step1(b"\x00")[1:], doc)
    assert reply == encode_sync_step2(doc.get_update(b"\x00"))


def test_decode_golden_bytes() -> None:
    assert decode_message(bytes([0, 0, 3, 1, 1, 5])) == SyncStep1(HELLO_STATE_VECTOR)
    assert decode_message(bytes([0, 1, len(HELLO_UPDATE)]) + HELLO_UPDATE) == SyncStep2(HELLO_UPDATE)
    assert decode_message(bytes([0, 2, len(HELLO_UPDATE)]) + HELLO_UPDATE) == SyncUpdate(HELLO_UPDATE)
    assert decode_message(bytes([1, 1, 0])) == AwarenessMessage(b"\x00")
    assert decode_message(bytes([3])) == QueryAwareness()


def test_decode_pycrdt_messages() -> None:
    doc = hello_doc()
    assert decode_message(create_sync_message(doc)) == SyncStep1(HELLO_STATE_VECTOR)
    assert decode_message(create_update_message(HELLO_UPDATE)) == SyncUpdate(HELLO_UPDATE)
    assert decode_message(handle_sync_message(b"\x00\x01\x00", doc)) == SyncStep2(doc.get_update(b"\x00"))


def test_decode_pycrdt_awareness() -> None:
    doc = Doc(client_id=7)
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "é"}})
    payload = awareness.encode_awareness_update([7])
    assert payload == b'\x01\x07\x01\x1a{"user":{"name":"\\u00e9"}}'
    assert decode_message(create_awareness_message(payload)) == AwarenessMessage(payload)
    assert parse_awareness_update(payload) == [(7, 1, '{"user":{"name":"\\u00e9"}}')]
    assert encode_awareness_update(parse_awareness_update(payload)) == payload


def test_awareness_update_round_trips_into_pycrdt() -> None:
    payload = encode_awareness_update([(9, 3, '{"name":"ü"}'), (10, 0, "null")])
    assert payload == b'\x02\x09\x03\x0d{"name":"\xc3\xbc"}\x0a\x00\x04null'
    awareness = Awareness(Doc(client_id=1))
    awareness.apply_awareness_update(payload, "test")
    assert awareness.states[9] == {"name": "ü"}
    assert 10 not in awareness.states


def test_read_state_vector() -> None:
    assert read_state_vector(b"\x00") == {}
    assert read_state_vector(HELLO_STATE_VECTOR) == {1: 5}
    doc = Doc()
    doc["t"] = text = Text()
    text += "x" * 300
    assert read_state_vector(doc.get_state()) == {doc.client_id: 300}


def test_largest_client_id_accepted() -> None:
    state_vector = b"\x01" + write_var_uint(MAX_CLIENT_ID) + b"\x00"
    assert read_state_vector(state_vector) == {MAX_CLIENT_ID: 0}
    assert parse_awareness_update(encode_awareness_update([(MAX_CLIENT_ID, 0, "{}")])) == [(MAX_CLIENT_ID, 0, "{}")]


def test_encode_awareness_update_rejects_out_of_range_numbers() -> None:
    with pytest.raises(ValueError):
        encode_awareness_update([(MAX_CLIENT_ID + 1, 0, "{}")])
    with pytest.raises(ValueError):
        encode_awareness_update([(1, -1, "{}")])


# --- malformed input ---------------------------------------------------------------------------

MALFORMED_MESSAGES = {
    "empty": b"",
    "auth type 2": b"\x02\x00",
    "bare auth type 2": b"\x02",
    "unknown type 4": b"\x04",
    "unknown type 255": b"\xff\x01",
    "sync subtype 3": b"\x00\x03\x00",
    "sync without subtype": b"\x00",
    "truncated type varint": b"\x80",
    "truncated subtype varint": b"\x00\x80",
    "truncated length varint": b"\x00\x02\x80",
    "nine-byte varint": b"\x00\x02" + b"\x80" * 8 + b"\x00",
    "nine-byte type varint": b"\x80" * 8 + b"\x01",
    "length past end": b"\x00\x02\x05abc",
    "length past end awareness": b"\x01\x10\x00",
    "missing payload": b"\x00\x02",
    "trailing bytes update": b"\x00\x02\x01\x00\x00",
    "trailing bytes query awareness": b"\x03\x00",
    "trailing bytes awareness": b"\x01\x01\x00\x00",
    "empty state vector": b"\x00\x00\x00",
    "state vector huge count": b"\x00\x00\x05\xff\xff\xff\xff\x0f",
    "state vector count over length": b"\x00\x00\x03\x02\x01\x01",
    "state vector trailing": b"\x00\x00\x04\x01\x01\x05\x00",
    "state vector repeated client": b"\x00\x00\x05\x02\x01\x01\x01\x02",
    "awareness huge count": b"\x01\x05\xff\xff\xff\xff\x0f",
    # The entries of an awareness message are read by parse_awareness_update (MALFORMED_AWARENESS below), where
    # the room's entry limit is known.
}


@pytest.mark.parametrize("message", MALFORMED_MESSAGES.values(), ids=MALFORMED_MESSAGES.keys())
def test_malformed_messages_raise_protocol_error(message: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(message)


MALFORMED_STATE_VECTORS = {
    "empty": b"",
    "huge count": b"\xff\xff\xff\xff\x0f",
    "count over length": b"\x02\x01\x01",
    "truncated clock": b"\x01\x01\x80",
    "nine-byte clock": b"\x01\x01" + b"\xff" * 8 + b"\x01",
    "client id over 2**53": b"\x01" + write_var_uint(MAX_CLIENT_ID + 1) + b"\x00",
    "trailing": b"\x00\x00",
}


@pytest.mark.parametrize("state_vector", MALFORMED_STATE_VECTORS.values(), ids=MALFORMED_STATE_VECTORS.keys())
def test_malformed_state_vectors_raise_protocol_error(state_vector: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_state_vector(state_vector)


MALFORMED_AWARENESS = {
    "empty": b"",
    "huge count": b"\xff\xff\xff\xff\x0f",
    "count over length": b"\x02\x01\x01\x00",
    "invalid utf-8": b"\x01\x01\x01\x02\xc3\x28",
    "lone surrogate utf-8": b"\x01\x01\x01\x03\xed\xa0\x80",
    "string past end": b"\x01\x01\x01\x09{}",
    "nine-byte clock": b"\x01\x01" + b"\xff" * 8 + b"\x01\x00",
    "client id over 2**53": b"\x01" + write_var_uint(MAX_CLIENT_ID + 1) + b"\x00\x00",
    "trailing": b"\x01\x01\x01\x00\x00",
}


@pytest.mark.parametrize("payload", MALFORMED_AWARENESS.values(), ids=MALFORMED_AWARENESS.keys())
def test_malformed_awareness_raises_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_awareness_update(payload)


@pytest.mark.parametrize("type_byte", [0, 1, 2, 3, 4])
def test_long_run_of_ff_raises_protocol_error(type_byte: int) -> None:
    with pytest.raises(ProtocolError):
        decode_message(bytes([type_byte]) + b"\xff" * (1 << 20))


def test_long_run_of_ff_in_payloads_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_state_vector(b"\xff" * (1 << 20))
    with pytest.raises(ProtocolError):
        parse_awareness_update(b"\xff" * (1 << 20))


# --- property tests ----------------------------------------------------------------------------

client_ids = st.integers(min_value=0, max_value=MAX_CLIENT_ID)
clocks = st.integers(min_value=0, max_value=2**53)
# pycrdt panics on integers outside i64 and cannot encode lone surrogates; neither is what we test here.
safe_ints = st.integers(min_value=-(2**53), max_value=2**53)
safe_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
awareness_entries = st.lists(st.tuples(client_ids, clocks, st.text(max_size=50)), max_size=8)


@st.composite
def updates(draw: st.DrawFn) -> bytes:
    """A real pycrdt update from a few random edits."""
    doc = Doc(client_id=draw(st.integers(min_value=0, max_value=2**32 - 1)))
    doc["text"] = text = Text()
    doc["map"] = map_ = Map()
    doc["array"] = array = Array()
    for chunk in draw(st.lists(safe_text, max_size=5)):
        text += chunk
    for key, value in draw(st.dictionaries(safe_text, safe_ints, max_size=4)).items():
        map_[key] = value
    array.extend(draw(st.lists(safe_ints, max_size=4)))
    return doc.get_update()


clocks_by_client = st.dictionaries(client_ids, clocks, max_size=8)


def encode_state_vector(clocks: dict[int, int]) -> bytes:
    """Encode {client_id: clock} the way Yjs writes a state vector."""
    parts = [write_var_uint(len(clocks))]
    for client_id, clock in clocks.items():
        parts += [write_var_uint(client_id), write_var_uint(clock)]
    return b"".join(parts)


state_vectors = clocks_by_client.map(encode_state_vector)


messages: st.SearchStrategy[Message] = st.one_of(
    state_vectors.map(SyncStep1),
    updates().map(SyncStep2),
    updates().map(SyncUpdate),
    awareness_entries.map(lambda entries: AwarenessMessage(encode_awareness_update(entries))),
    st.just(QueryAwareness()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, max_size=5))
def test_valid_message_sequences_round_trip(sequence: list[Message]) -> None:
    for message in sequence:
        assert decode_message(encode_message(message)) == message


@settings(max_examples=200, deadline=None)
@given(updates())
def test_update_framing_matches_pycrdt(update: bytes) -> None:
    assert encode_update(update) == create_update_message(update)
    assert decode_message(create_update_message(update)) == SyncUpdate(update)


@given(awareness_entries)
def test_awareness_entries_round_trip(entries: list[tuple[int, int, str]]) -> None:
    assert parse_awareness_update(encode_awareness_update(entries)) == entries


@given(clocks_by_client)
def test_state_vectors_round_trip(clocks: dict[int, int]) -> None:
    assert read_state_vector(encode_state_vector(clocks)) == clocks


def _decodes_or_protocol_error(function: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        function(data)


@settings(max_examples=500)
@given(st.binary(max_size=2000))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    # Any other exception type escapes the helper and fails the test.
    _decodes_or_protocol_error(decode_message, data)
    _decodes_or_protocol_error(read_state_vector, data)
    _decodes_or_protocol_error(parse_awareness_update, data)


@settings(max_examples=500)
@given(st.sampled_from([b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01", b"\x03"]), st.binary(max_size=2000))
def test_random_bytes_after_valid_prefix_only_raise_protocol_error(prefix: bytes, data: bytes) -> None:
    _decodes_or_protocol_error(decode_message, prefix + data)
