"""y-websocket framing over pycrdt's sync helpers: bytes in, bytes out, no I/O.

Encoding delegates to pycrdt so our frames are byte-identical to what pycrdt and Yjs produce.
Decoding never touches pycrdt's ``Decoder``: it reads varints without a length bound (quadratic
time on a run of 0xff bytes) and silently truncates lengths that point past the end of the
buffer. Every untrusted byte goes through the bounded ``_Reader`` below instead, and anything
malformed raises ``ProtocolError`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import (
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
    write_message,
    write_var_uint,
)

from documents.exceptions import ProtocolError, RateLimited

# The update that changes nothing (no items, empty delete set), as Yjs encodes it.
EMPTY_UPDATE = b"\x00\x00"

# y-websocket's messageQueryAwareness; pycrdt's YMessageType has no member for it.
MESSAGE_QUERY_AWARENESS = 3

# 8 bytes carry 56 bits: enough for any JS safe integer (2**53), so a ninth byte is never legitimate.
MAX_VARINT_BYTES = 8

# Yjs client IDs are uint32, but pycrdt draws them up to 2**53 (JS Number.MAX_SAFE_INTEGER + 1).
MAX_CLIENT_ID = 2**53

_MAX_VARINT = (1 << (7 * MAX_VARINT_BYTES)) - 1

# Smallest possible entry sizes, used to reject counts the remaining bytes could never hold
# before we loop over them (a 5-byte count must not buy a billion iterations).
_STATE_VECTOR_ENTRY_MIN_BYTES = 2  # client varint + clock varint
_AWARENESS_ENTRY_MIN_BYTES = 3  # client varint + clock varint + string length varint


@dataclass(frozen=True, slots=True)
class SyncStep1:
    """Sync step 1: the sender's encoded state vector."""

    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    """Sync step 2: the update answering a step 1."""

    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """An incremental document update."""

    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    """An awareness update payload, not read yet: ``parse_awareness_update`` reads it within a limit."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    """A request for the current awareness states (y-websocket message type 3)."""


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessMessage | QueryAwareness


class _Reader:
    """A cursor over untrusted bytes whose every read is bounded by what is left."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def read_var_uint(self) -> int:
        """Read a lib0 varuint of at most MAX_VARINT_BYTES bytes."""
        value = 0
        for index in range(MAX_VARINT_BYTES):
            if self._pos >= len(self._data):
                raise ProtocolError("truncated varint")
            byte = self._data[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                return value
        raise ProtocolError(f"varint longer than {MAX_VARINT_BYTES} bytes")

    def read_var_bytes(self) -> bytes:
        """Read a length-prefixed byte string whose length must fit in what is left."""
        length = self.read_var_uint()
        if length > self.remaining:
            raise ProtocolError(f"length {length} runs past the end ({self.remaining} bytes left)")
        start = self._pos
        self._pos += length
        return bytes(self._data[start : self._pos])

    def read_count(self, min_entry_bytes: int) -> int:
        """Read an entry count, rejecting one the remaining bytes cannot possibly hold."""
        count = self.read_var_uint()
        if count > self.remaining // min_entry_bytes:
            raise ProtocolError(f"count {count} does not fit in {self.remaining} bytes")
        return count

    def read_client_id(self) -> int:
        """Read a client ID, bounded like a JS safe integer."""
        client_id = self.read_var_uint()
        if client_id > MAX_CLIENT_ID:
            raise ProtocolError(f"client ID {client_id} is out of range")
        return client_id

    def expect_end(self) -> None:
        """Reject trailing bytes: a message that says more than it should is not one we understand."""
        if self.remaining:
            raise ProtocolError(f"{self.remaining} trailing bytes")


def decode_message(message: bytes) -> Message:
    """Decode one y-websocket binary message, raising ProtocolError if it is malformed."""
    reader = _Reader(message)
    if not reader.remaining:
        raise ProtocolError("empty message")
    message_type = reader.read_var_uint()
    result: Message
    if message_type == YMessageType.SYNC:
        result = _decode_sync(reader)
    elif message_type == YMessageType.AWARENESS:
        payload = reader.read_var_bytes()
        # Only the entry count is checked here (against the bytes that carry it): reading the entries is left to
        # ``parse_awareness_update``, called where the room's entry limit is known, so that an oversized message
        # is refused before a single entry is read (a 100,000-entry message took 200 ms to read).
        _Reader(payload).read_count(_AWARENESS_ENTRY_MIN_BYTES)
        result = AwarenessMessage(payload)
    elif message_type == MESSAGE_QUERY_AWARENESS:
        result = QueryAwareness()
    else:
        # Includes type 2 (auth): this server has no use for client-sent auth messages.
        raise ProtocolError(f"unknown message type {message_type}")
    reader.expect_end()
    return result


def _decode_sync(reader: _Reader) -> SyncStep1 | SyncStep2 | SyncUpdate:
    """Decode the part of a sync message after its type."""
    sub_type = reader.read_var_uint()
    if sub_type == YSyncMessageType.SYNC_STEP1:
        state_vector = reader.read_var_bytes()
        # pycrdt's get_update would accept junk state vectors; catch them here instead.
        read_state_vector(state_vector)
        return SyncStep1(state_vector)
    if sub_type == YSyncMessageType.SYNC_STEP2:
        return SyncStep2(reader.read_var_bytes())
    if sub_type == YSyncMessageType.SYNC_UPDATE:
        return SyncUpdate(reader.read_var_bytes())
    raise ProtocolError(f"unknown sync message type {sub_type}")


def _sync_message(sub_type: YSyncMessageType, payload: bytes) -> bytes:
    """Frame a sync payload exactly as pycrdt's create_message does (it is not exported)."""
    return bytes([YMessageType.SYNC, sub_type]) + write_message(payload)


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Frame an encoded state vector as a sync step 1 message."""
    return _sync_message(YSyncMessageType.SYNC_STEP1, state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    """Frame an update as a sync step 2 message."""
    return _sync_message(YSyncMessageType.SYNC_STEP2, update)


def encode_update(update: bytes) -> bytes:
    """Frame an update as a sync update message."""
    return create_update_message(update)


def encode_awareness(payload: bytes) -> bytes:
    """Frame an awareness update payload as an awareness message."""
    return create_awareness_message(payload)


def encode_query_awareness() -> bytes:
    """Return a query-awareness message (type 3, no payload)."""
    return write_var_uint(MESSAGE_QUERY_AWARENESS)


def encode_message(message: Message) -> bytes:
    """Encode any decoded message back to bytes; the inverse of decode_message."""
    match message:
        case SyncStep1(state_vector):
            return encode_sync_step1(state_vector)
        case SyncStep2(update):
            return encode_sync_step2(update)
        case SyncUpdate(update):
            return encode_update(update)
        case AwarenessMessage(payload):
            return encode_awareness(payload)
        case QueryAwareness():
            return encode_query_awareness()
    raise TypeError(f"not a protocol message: {message!r}")


def read_state_vector(state_vector: bytes) -> dict[int, int]:
    """Decode an encoded state vector into {client_id: clock}, raising ProtocolError if malformed."""
    reader = _Reader(state_vector)
    count = reader.read_count(_STATE_VECTOR_ENTRY_MIN_BYTES)
    clocks: dict[int, int] = {}
    for _ in range(count):
        client_id = reader.read_client_id()
        if client_id in clocks:
            # Yjs never repeats a client; a repeat means the vector is not what it claims.
            raise ProtocolError(f"client ID {client_id} repeated in state vector")
        clocks[client_id] = reader.read_var_uint()
    reader.expect_end()
    return clocks


def encode_state_vector(clocks: dict[int, int]) -> bytes:
    """Encode {client_id: clock} as a Yjs state vector (the inverse of ``read_state_vector``)."""
    parts = [write_var_uint(len(clocks))]
    for client_id, clock in clocks.items():
        parts.append(write_var_uint(client_id))
        parts.append(write_var_uint(clock))
    return b"".join(parts)


def parse_awareness_update(payload: bytes, max_entries: int | None = None) -> list[tuple[int, int, str]]:
    """Decode an awareness update into [(client_id, clock, state_json)].

    Raises:
        ProtocolError: malformed.
        RateLimited: more than ``max_entries`` entries (checked before any is read).
    """
    reader = _Reader(payload)
    count = reader.read_count(_AWARENESS_ENTRY_MIN_BYTES)
    if max_entries is not None and count > max_entries:
        raise RateLimited(f"awareness update with {count} entries (at most {max_entries} here)")
    entries: list[tuple[int, int, str]] = []
    for _ in range(count):
        client_id = reader.read_client_id()
        clock = reader.read_var_uint()
        raw_state = reader.read_var_bytes()
        try:
            state_json = raw_state.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError(f"awareness state of client {client_id} is not UTF-8") from error
        entries.append((client_id, clock, state_json))
    reader.expect_end()
    return entries


def encode_awareness_update(entries: list[tuple[int, int, str]]) -> bytes:
    """Encode [(client_id, clock, state_json)] as an awareness update payload; the inverse of parse."""
    parts = [write_var_uint(len(entries))]
    for client_id, clock, state_json in entries:
        _check_encodable(client_id, MAX_CLIENT_ID, "client ID")
        _check_encodable(clock, _MAX_VARINT, "clock")
        parts.append(write_var_uint(client_id))
        parts.append(write_var_uint(clock))
        # Length in UTF-8 bytes, as lib0's writeVarString does; pycrdt's Encoder.write_var_string
        # writes the length in characters, which is wrong for any non-ASCII state.
        parts.append(write_message(state_json.encode("utf-8")))
    return b"".join(parts)


def _check_encodable(value: int, maximum: int, what: str) -> None:
    """Refuse to write a number our own decoder would reject, so encode and parse stay inverses."""
    if not 0 <= value <= maximum:
        raise ValueError(f"{what} {value} is out of range 0..{maximum}")
