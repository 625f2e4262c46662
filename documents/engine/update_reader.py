"""A strict, bounded decoder of the Yjs v1 update format, run on untrusted updates before yrs sees them.

Hand-written because no maintained Python library decodes Yjs v1 updates structurally with bounds, and pycrdt
exposes none: it passes the bytes to yrs, which decodes leniently (a parent info of 3 is read as an ID, trailing
bytes are ignored, a length prefix can reserve huge memory, a deep Any recurses on the native stack) and can
integrate part of a malformed update before it fails. Here, anything neither Yjs (lib0) nor yrs would write raises
``ProtocolError``; an update over its budget raises ``UpdateTooComplex``. Reading is linear in the input, and no
allocation is sized by a count or length the remaining bytes could not carry.

Rules stricter than the Yjs decoder, each about something neither encoder writes:

- varints are canonical (no trailing zero group), and clocks, lengths and Any integers stay within 2**53;
- strings are valid UTF-8, so encoded UTF-16 surrogates are refused: lib0 encodes with TextEncoder, which turns a
  lone surrogate into U+FFFD (as Yjs does itself when it splits a surrogate pair), and Rust strings cannot hold one;
- an ID naming the item's own client points to an earlier clock (a client creates its items in clock order);
- GC, Skip, Deleted, String, JSON and Any structs are never empty; a delete set names each client once.

The parentSub bit (0x20) is accepted next to an origin bit: Yjs and yrs set it for every map entry but write the
key only when no origin follows, so Yjs overwriting a map key writes exactly that combination.

The module is longer than our usual 300 lines because every field of the eleven content kinds and of lib0's Any
encoding is checked, and the depth walk must be iterative (chains of 30,000 types) with cycle detection.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass

from documents.engine.protocol import MAX_VARINT_BYTES, _Reader
from documents.exceptions import ProtocolError, UpdateTooComplex

ID = tuple[int, int]  # (client, clock)

# Content refs: the low 5 bits of a struct's info byte.
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)

MAX_CLOCK = 2**53
# Any values nest as deep as this; yrs reads them recursively, so a deep one would overflow its native stack.
MAX_ANY_DEPTH = 64

_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20
_XML_ELEMENT, _XML_HOOK, _LAST_TYPE_REF = 3, 5, 6
# Smallest encodings, used to refuse counts the remaining bytes cannot hold before looping over them.
_GROUP_MIN_BYTES = 3  # struct count, client, clock
_STRUCT_MIN_BYTES = 2  # info byte, then at least one more byte
_DS_CLIENT_MIN_BYTES = 2  # client, range count
_DS_RANGE_MIN_BYTES = 2  # clock, length
# Any tags of fixed-size values: undefined, null, false, true (no payload), float32, float64, bigint64.
_ANY_FIXED_SIZES = {127: 0, 126: 0, 121: 0, 120: 0, 124: 4, 123: 8, 122: 8}
_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # UTF-8 lead bytes of code points past U+FFFF


@dataclass(frozen=True, slots=True)
class Struct:
    """One struct (GC, Skip or item) of an update, with the fields that locate it in the document."""

    client: int
    clock: int
    length: int  # clock units it occupies (String: UTF-16 code units, as Yjs counts)
    kind: int  # one of the content refs above
    origin: ID | None = None
    right_origin: ID | None = None
    parent_root: str | None = None  # explicit parent: the name of a root type
    parent_id: ID | None = None  # explicit parent: the ID of the item whose content is the parent type
    parent_sub: str | None = None  # map key, when the item is a map entry
    # For kind TYPE: 0 Array, 1 Map, 2 Text, 3 XmlElement, 4 XmlFragment, 5 XmlHook, 6 XmlText.
    type_ref: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateStructure:
    """The structs and delete set of a decoded update."""

    structs: list[Struct]  # in encoding order (GC and Skip included)
    deletions: list[tuple[int, int, int]]  # (client, clock, length) of the delete set

    def clock_ranges(self) -> dict[int, list[tuple[int, int]]]:
        """Per client, the [start, end) clock ranges of its non-Skip structs, adjacent ones merged."""
        ranges: dict[int, list[tuple[int, int]]] = {}
        for struct in self.structs:
            if struct.kind == SKIP:
                continue
            end = struct.clock + struct.length
            client_ranges = ranges.setdefault(struct.client, [])
            if client_ranges and client_ranges[-1][1] == struct.clock:
                client_ranges[-1] = (client_ranges[-1][0], end)
            else:
                client_ranges.append((struct.clock, end))
        return ranges

    def skips(self) -> list[tuple[int, int, int]]:
        """The (client, clock, length) of every Skip struct: the gaps a merged update leaves."""
        return [(s.client, s.clock, s.length) for s in self.structs if s.kind == SKIP]


class _UpdateReader(_Reader):
    """``_Reader`` plus the primitives of the update format, all bounded by the bytes left."""

    __slots__ = ()

    def read_var_uint(self) -> int:
        """Read a canonical lib0 varuint of at most MAX_VARINT_BYTES bytes."""
        data, pos = self._data, self._pos
        try:
            byte = data[pos]
            value, shift = byte & 0x7F, 0
            while byte >= 0x80:
                pos += 1
                shift += 7
                if shift == 7 * MAX_VARINT_BYTES:
                    raise ProtocolError(f"varint longer than {MAX_VARINT_BYTES} bytes")
                byte = data[pos]
                value |= (byte & 0x7F) << shift
        except IndexError:
            raise ProtocolError("truncated varint") from None
        if not byte and shift:
            raise ProtocolError("overlong varint")
        self._pos = pos + 1
        return value

    def read_var_int(self) -> None:
        """Check a lib0 signed varint (6 value bits and a sign bit in the first byte)."""
        first = self.read_u8()
        if first & 0x80:
            rest = self.read_var_uint()
            if not rest or ((rest << 6) | (first & 0x3F)) > MAX_CLOCK:
                raise ProtocolError("overlong or unsafe varint integer")

    def read_u8(self) -> int:
        """Read one byte."""
        if self._pos >= len(self._data):
            raise ProtocolError("truncated update")
        self._pos += 1
        return self._data[self._pos - 1]

    def skip(self, length: int) -> None:
        """Step over ``length`` bytes, which must be there."""
        if length > self.remaining:
            raise ProtocolError(f"length {length} runs past the end ({self.remaining} bytes left)")
        self._pos += length

    def read_raw(self) -> bytes:
        """Read a length-prefixed byte string, bounded by the bytes left."""
        length = self.read_var_uint()
        self.skip(length)
        return self._data[self._pos - length : self._pos]

    def read_string(self) -> str:
        """Read a length-prefixed UTF-8 string."""
        try:
            return self.read_raw().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("string is not valid UTF-8") from error

    def read_clock(self) -> int:
        """Read a clock or length, at most 2**53 like every JS safe integer."""
        value = self.read_var_uint()
        if value > MAX_CLOCK:
            raise ProtocolError(f"clock or length {value} is out of range")
        return value

    def read_length(self) -> int:
        """Read the length of a GC, Skip, Deleted struct or deletion: never 0."""
        length = self.read_clock()
        if not length:
            raise ProtocolError("zero length")
        return length

    def read_id(self, client: int, clock: int) -> ID:
        """Read an ID that the struct at (client, clock) refers to."""
        ref_client = self.read_client_id()
        ref_clock = self.read_clock()
        if ref_client == client and ref_clock >= clock:
            raise ProtocolError("item refers to a clock of its own client that is not before it")
        return ref_client, ref_clock

    def skip_any(self) -> None:
        """Check one lib0 Any value, iteratively so that nesting is a counted budget."""
        left = [1]  # values still to read at each open level
        in_object = [False]
        while left:
            if not left[-1]:
                left.pop()
                in_object.pop()
                continue
            left[-1] -= 1
            if in_object[-1]:
                self.read_string()
            tag = self.read_u8()
            if tag in _ANY_FIXED_SIZES:
                self.skip(_ANY_FIXED_SIZES[tag])
            elif tag == 125:
                self.read_var_int()
            elif tag == 119:
                self.read_string()
            elif tag == 116:
                self.skip(self.read_var_uint())
            elif tag in (118, 117):
                if len(left) > MAX_ANY_DEPTH:
                    raise ProtocolError(f"Any value nested deeper than {MAX_ANY_DEPTH}")
                left.append(self.read_count(2 if tag == 118 else 1))
                in_object.append(tag == 118)
            else:
                raise ProtocolError(f"unknown Any tag {tag}")

    def read_content(self, ref: int) -> tuple[int, int | None]:
        """Check an item's content and return (its length in clock units, its type ref if a type)."""
        if ref == DELETED:
            return self.read_length(), None
        if ref == STRING:
            raw = self.read_raw()
            try:
                length = len(raw.decode("utf-8"))
            except UnicodeDecodeError as error:
                raise ProtocolError("string is not valid UTF-8") from error
            if length != len(raw):  # Yjs counts UTF-16 code units: a code point past U+FFFF is two
                length += sum(map(raw.count, _ASTRAL_LEADS))
            if not length:
                raise ProtocolError("empty string content")
            return length, None
        if ref in (JSON, ANY):
            count = self.read_count(1)
            if not count:
                raise ProtocolError("empty JSON or Any content")
            for _ in range(count):
                if ref == ANY:
                    self.skip_any()
                else:
                    text = self.read_string()
                    if text != "undefined":  # how Yjs writes an undefined element
                        _check_json(text)
            return count, None
        if ref == BINARY:
            self.skip(self.read_var_uint())
        elif ref == EMBED:
            _check_json(self.read_string())
        elif ref == FORMAT:
            self.read_string()
            _check_json(self.read_string())
        elif ref == TYPE:
            type_ref = self.read_var_uint()
            if type_ref > _LAST_TYPE_REF:
                raise ProtocolError(f"unknown type ref {type_ref}")
            if type_ref in (_XML_ELEMENT, _XML_HOOK):
                self.read_string()  # element or hook name
            return 1, type_ref
        else:  # DOC: guid, then the options
            self.read_string()
            self.skip_any()
        return 1, None

    def read_struct(self, client: int, clock: int) -> Struct:
        """Read the struct that starts at ``clock`` of ``client``."""
        info = self.read_u8()
        ref = info & 0x1F
        if ref in (GC, SKIP):
            if info != ref:
                raise ProtocolError(f"info {info:#x} of a GC or Skip struct has flag bits")
            return Struct(client, clock, self.read_length(), ref)
        if ref > SKIP:
            raise ProtocolError(f"unknown content ref {ref}")
        origin = self.read_id(client, clock) if info & _HAS_ORIGIN else None
        right_origin = self.read_id(client, clock) if info & _HAS_RIGHT_ORIGIN else None
        parent_root = parent_id = parent_sub = None
        if origin is None and right_origin is None:
            parent_info = self.read_var_uint()
            if parent_info == 1:
                parent_root = self.read_string()
            elif parent_info == 0:
                parent_id = self.read_id(client, clock)
            else:
                raise ProtocolError(f"parent info {parent_info} is neither 0 nor 1")
            if info & _HAS_PARENT_SUB:
                parent_sub = self.read_string()
        length, type_ref = self.read_content(ref)
        return Struct(client, clock, length, ref, origin, right_origin, parent_root, parent_id, parent_sub, type_ref)


def _check_json(text: str) -> None:
    """Check a string that Yjs JSON.parses: JSON proper, without Python's NaN and Infinity extensions."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ProtocolError("invalid JSON content") from error


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_update(update: bytes, max_structs: int | None = None) -> UpdateStructure:
    """Decode a Yjs v1 update strictly: ProtocolError if malformed, UpdateTooComplex past ``max_structs``."""
    reader = _UpdateReader(update)
    budget = MAX_CLOCK if max_structs is None else max_structs
    structs: list[Struct] = []
    clients: set[int] = set()
    for _ in range(reader.read_count(_GROUP_MIN_BYTES)):
        count = reader.read_count(_STRUCT_MIN_BYTES)
        budget -= count
        if budget < 0:
            raise UpdateTooComplex(f"update has more than {max_structs} structs and deletions")
        client = reader.read_client_id()
        if client in clients:
            raise ProtocolError(f"client {client} has two struct groups")
        clients.add(client)
        clock = reader.read_clock()
        for _ in range(count):
            struct = reader.read_struct(client, clock)
            clock += struct.length
            if clock > MAX_CLOCK:
                raise ProtocolError(f"clock of client {client} runs past 2**53")
            structs.append(struct)
    deletions: list[tuple[int, int, int]] = []
    clients.clear()
    for _ in range(reader.read_count(_DS_CLIENT_MIN_BYTES)):
        client = reader.read_client_id()
        if client in clients:
            raise ProtocolError(f"client {client} appears twice in the delete set")
        clients.add(client)
        count = reader.read_count(_DS_RANGE_MIN_BYTES)
        budget -= count
        if budget < 0:
            raise UpdateTooComplex(f"update has more than {max_structs} structs and deletions")
        for _ in range(count):
            clock = reader.read_clock()
            length = reader.read_length()
            if clock + length > MAX_CLOCK:
                raise ProtocolError(f"deletion of client {client} runs past 2**53")
            deletions.append((client, clock, length))
    reader.expect_end()
    return UpdateStructure(structs, deletions)


def type_depths(structure: UpdateStructure, known: Mapping[ID, int], unknown_parent_depth: int) -> dict[ID, int]:
    """Nesting depth of every type item the update creates (a type directly under a root type has depth 1)."""
    structs = structure.structs
    # Per client, the start clocks of its structs and their positions, to find the struct holding any ID.
    index: dict[int, tuple[list[int], list[int]]] = {}
    for position, struct in enumerate(structs):
        starts, positions = index.setdefault(struct.client, ([], []))
        starts.append(struct.clock)
        positions.append(position)

    def find(id_: ID) -> Struct | None:
        """The struct of this update that holds ``id_``, if it holds it as content (not a Skip)."""
        entry = index.get(id_[0])
        if entry is None:
            return None
        at = bisect.bisect_right(entry[0], id_[1]) - 1
        if at < 0:
            return None
        found = structs[entry[1][at]]
        return found if id_[1] < found.clock + found.length and found.kind != SKIP else None

    # parent_depths[(client, clock)] of a struct: the depth of the type it sits in (0 for a root type).
    parent_depths: dict[ID, int] = {}
    depths: dict[ID, int] = {}
    for struct in structs:
        if struct.kind != TYPE:
            continue
        # Walk towards a struct whose parent depth is settled, noting how each step changes the depth:
        # +1 from an item to the type it is in, 0 from an item to a neighbour (which shares its parent).
        chain: list[tuple[ID, int]] = []
        on_chain: set[ID] = set()
        current: Struct | None = struct
        base = unknown_parent_depth
        while current is not None:
            key = (current.client, current.clock)
            if key in parent_depths:
                base = parent_depths[key]
                break
            if key in on_chain:
                raise ProtocolError(f"items of the update form a parent cycle at {key}")
            on_chain.add(key)
            step, following = 0, None
            if current.parent_root is not None:
                base = 0
            elif current.parent_id is not None:
                parent = find(current.parent_id)
                if parent is not None and parent.kind == TYPE:
                    step, following = 1, parent
                elif parent is None or parent.kind in (GC, DELETED):
                    # Not in this update, or deleted in it (concurrent edits merged): only the caller can know.
                    base = known.get(current.parent_id, unknown_parent_depth)
                else:
                    raise ProtocolError(f"parent {current.parent_id} of {key} is not a type")
            else:
                # Yjs takes the parent from the origin when there is one, else from the right origin.
                neighbour = current.origin if current.origin is not None else current.right_origin
                found = find(neighbour) if neighbour is not None else None
                if found is not None and found.kind != GC:
                    following = found
                elif neighbour is not None and neighbour in known:
                    base = known[neighbour] - 1  # a type the caller knows: a sibling, one level below the parent
                else:
                    base = unknown_parent_depth
            chain.append((key, step))
            current = following
        for key, step in reversed(chain):
            base += step
            parent_depths[key] = base
        depths[(struct.client, struct.clock)] = parent_depths[(struct.client, struct.clock)] + 1
    return depths
