"""A lenient, re-encoding codec of Yjs v1 updates, for the fuzzer's structure-aware mutations.

Why our own and not ``documents.engine.update_reader``: mutations need to *write* updates back after changing a
client id, a clock, an origin or a delete range, keeping every other byte (content included) exactly as it was; and
they start from updates the strict reader may refuse on purpose. Content is kept raw, so ``encode(parse(u)) == u``
for any update this parses. ``Writer.inflate`` re-encodes chosen varints with extra continuation bytes (a
varint-inflation mutation that still frames correctly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ID = tuple[int, int]
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
XML_ELEMENT, XML_TEXT = 3, 6
_MAX_ANY_DEPTH = 100


class DecodeError(ValueError):
    """The bytes are not an update this codec understands."""


class Reader:
    """A cursor over bytes; every read past the end raises DecodeError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def var_uint(self) -> int:
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
            if shift > 70:
                raise DecodeError("varint too long")

    def raw(self, length: int) -> bytes:
        if length > len(self.data) - self.pos:
            raise DecodeError("length past the end")
        self.pos += length
        return self.data[self.pos - length : self.pos]

    def var_bytes(self) -> bytes:
        return self.raw(self.var_uint())

    def var_string(self) -> str:
        return self.var_bytes().decode("utf-8", "surrogatepass")

    def any(self, depth: int = 0) -> None:
        """Skip one lib0 Any value."""
        if depth > _MAX_ANY_DEPTH:
            raise DecodeError("Any nested too deep")
        tag = self.u8()
        if tag == 125:
            first = self.u8()
            if first & 0x80:
                self.var_uint()
        elif tag == 124:
            self.raw(4)
        elif tag in (123, 122):
            self.raw(8)
        elif tag == 119 or tag == 116:
            self.var_bytes()
        elif tag == 118:
            for _ in range(self.var_uint()):
                self.var_bytes()
                self.any(depth + 1)
        elif tag == 117:
            for _ in range(self.var_uint()):
                self.any(depth + 1)
        elif tag not in (127, 126, 121, 120):
            raise DecodeError(f"Any tag {tag}")


class Writer:
    """Builds bytes; varint number ``n`` (in write order) gets ``inflate[n]`` extra continuation bytes."""

    def __init__(self, inflate: dict[int, int] | None = None) -> None:
        self.parts: list[bytes] = []
        self.inflate = inflate or {}
        self.varints = 0

    def var_uint(self, value: int) -> None:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        extra = self.inflate.get(self.varints, 0)
        self.varints += 1
        if extra:
            out[-1] |= 0x80
            out.extend(b"\x80" * (extra - 1) + b"\x00")
        self.parts.append(bytes(out))

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def var_bytes(self, data: bytes) -> None:
        self.var_uint(len(data))
        self.raw(data)

    def var_string(self, text: str) -> None:
        self.var_bytes(text.encode("utf-8", "surrogatepass"))

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


@dataclass
class Struct:
    """A GC/Skip (``info`` 0 or 10, only ``length``) or an item with its raw content bytes."""

    info: int
    length: int = 0
    origin: ID | None = None
    right_origin: ID | None = None
    parent: str | ID | None = None  # a root name, or the ID of the parent type's item; only without origins
    parent_sub: str | None = None
    content: bytes = b""
    type_ref: int | None = None


@dataclass
class Block:
    """One client's consecutive structs, starting at ``clock``."""

    client: int
    clock: int
    structs: list[Struct] = field(default_factory=list)


@dataclass
class Update:
    blocks: list[Block]
    deletes: list[tuple[int, list[tuple[int, int]]]]  # (client, [(clock, length)]) in encoding order


def _content(reader: Reader, ref: int) -> tuple[int, int | None]:
    """Skip an item's content; return its length in clock units and its type ref when it is a type."""
    if ref == DELETED:
        return reader.var_uint(), None
    if ref == STRING:
        text = reader.var_string()
        return len(text.encode("utf-16-le", "surrogatepass")) // 2, None
    if ref == JSON:
        count = reader.var_uint()
        for _ in range(count):
            reader.var_bytes()
        return count, None
    if ref == ANY:
        count = reader.var_uint()
        for _ in range(count):
            reader.any()
        return count, None
    if ref in (BINARY, EMBED):
        reader.var_bytes()
    elif ref == FORMAT:
        reader.var_bytes()
        reader.var_bytes()
    elif ref == TYPE:
        type_ref = reader.var_uint()
        if type_ref in (XML_ELEMENT, 5):
            reader.var_bytes()
        return 1, type_ref
    elif ref == DOC:
        reader.var_bytes()
        reader.any()
    else:
        raise DecodeError(f"content ref {ref}")
    return 1, None


def parse(data: bytes) -> Update:
    """Parse a v1 update (lenient: no bounds beyond the buffer's end); DecodeError if it cannot."""
    reader = Reader(data)
    blocks = []
    for _ in range(reader.var_uint()):
        count = reader.var_uint()
        if count > len(data):
            raise DecodeError("struct count past the end")
        block = Block(reader.var_uint(), reader.var_uint())
        for _ in range(count):
            info = reader.u8()
            ref = info & 0x1F
            if ref in (GC, SKIP):
                block.structs.append(Struct(info, reader.var_uint()))
                continue
            struct = Struct(info)
            if info & 0x80:
                struct.origin = (reader.var_uint(), reader.var_uint())
            if info & 0x40:
                struct.right_origin = (reader.var_uint(), reader.var_uint())
            if not info & 0xC0:
                struct.parent = (
                    reader.var_string() if reader.var_uint() == 1 else (reader.var_uint(), reader.var_uint())
                )
                if info & 0x20:
                    struct.parent_sub = reader.var_string()
            start = reader.pos
            struct.length, struct.type_ref = _content(reader, ref)
            struct.content = data[start : reader.pos]
            block.structs.append(struct)
        blocks.append(block)
    deletes = []
    for _ in range(reader.var_uint()):
        client, count = reader.var_uint(), reader.var_uint()
        if count > len(data):
            raise DecodeError("range count past the end")
        deletes.append((client, [(reader.var_uint(), reader.var_uint()) for _ in range(count)]))
    if reader.pos != len(data):
        raise DecodeError("trailing bytes")
    return Update(blocks, deletes)


def encode(update: Update, inflate: dict[int, int] | None = None) -> bytes:
    """The inverse of ``parse``; ``inflate`` as for ``Writer``."""
    writer = Writer(inflate)
    _write(update, writer)
    return writer.getvalue()


def count_varints(update: Update) -> int:
    """How many varints ``encode`` writes for this update (the keys ``inflate`` can use)."""
    writer = Writer()
    _write(update, writer)
    return writer.varints


def _write(update: Update, writer: Writer) -> None:
    writer.var_uint(len(update.blocks))
    for block in update.blocks:
        writer.var_uint(len(block.structs))
        writer.var_uint(block.client)
        writer.var_uint(block.clock)
        for struct in block.structs:
            writer.raw(bytes([struct.info]))
            if struct.info & 0x1F in (GC, SKIP):
                writer.var_uint(struct.length)
                continue
            for ref in (struct.origin, struct.right_origin):
                if ref is not None:
                    writer.var_uint(ref[0])
                    writer.var_uint(ref[1])
            if not struct.info & 0xC0:
                if isinstance(struct.parent, str):
                    writer.var_uint(1)
                    writer.var_string(struct.parent)
                else:
                    parent = struct.parent or (0, 0)
                    writer.var_uint(0)
                    writer.var_uint(parent[0])
                    writer.var_uint(parent[1])
                if struct.info & 0x20:
                    writer.var_string(struct.parent_sub or "")
            writer.raw(struct.content)
    writer.var_uint(len(update.deletes))
    for client, ranges in update.deletes:
        writer.var_uint(client)
        writer.var_uint(len(ranges))
        for clock, length in ranges:
            writer.var_uint(clock)
            writer.var_uint(length)


def delete_set(update: bytes) -> dict[int, list[tuple[int, int]]]:
    """The update's delete set as {client: [(start, end)]}, sorted with touching ranges merged (a canonical form)."""
    merged: dict[int, list[tuple[int, int]]] = {}
    for client, ranges in parse(update).deletes:
        spans = merged.setdefault(client, [])
        spans.extend((clock, clock + length) for clock, length in ranges if length)
    return {client: merge_spans(spans) for client, spans in merged.items() if spans}


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _var_string(text: str) -> bytes:
    data = text.encode()
    return var_uint(len(data)) + data


def nested_elements(depth: int, client: int, clock: int = 0, parent: str | ID = "default") -> bytes:
    """A valid update: ``depth`` XmlElements, each inside the previous, the first in ``parent``; an XmlText inside.

    Written directly (not through pycrdt or ``encode``): 30,000 levels must cost milliseconds, and a Doc holding
    such a chain cannot even be rendered by yrs (``str()`` overflows the native stack past ~20,000 levels).
    """
    tags = [bytes([XML_ELEMENT]) + _var_string(tag) for tag in ("paragraph", "blockquote", "listItem", "bulletList")]
    head = (
        b"\x01" + _var_string(parent)
        if isinstance(parent, str)
        else b"\x00" + var_uint(parent[0]) + var_uint(parent[1])
    )
    client_bytes = var_uint(client)
    parts = [var_uint(1), var_uint(depth + 1), client_bytes, var_uint(clock)]
    for level in range(depth + 1):
        parts.append(bytes([TYPE]))
        parts.append(head if level == 0 else b"\x00" + client_bytes + var_uint(clock + level - 1))
        parts.append(tags[level % len(tags)] if level < depth else bytes([XML_TEXT]))
    parts.append(b"\x00")
    return b"".join(parts)


def delete_ranges(client: int, ranges: list[tuple[int, int]]) -> bytes:
    """An update with no structs and one client's delete ranges (fast, for updates with 100,000 of them)."""
    body = b"".join(var_uint(clock) + var_uint(length) for clock, length in ranges)
    return b"\x00\x01" + var_uint(client) + var_uint(len(ranges)) + body
