"""Tests of the strict Yjs v1 update decoder: golden updates from pycrdt and Yjs, every refusal, fuzzing, depths."""

from __future__ import annotations

import contextlib
import functools
import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, merge_updates

from documents.engine.protocol import read_state_vector
from documents.engine.update_reader import (
    ANY,
    BINARY,
    DELETED,
    DOC,
    EMBED,
    FORMAT,
    GC,
    JSON,
    SKIP,
    STRING,
    TYPE,
    Struct,
    UpdateStructure,
    read_update,
    type_depths,
)
from documents.exceptions import ProtocolError, UpdateTooComplex
from tests.services import node_available, require

NODE_DIR = Path(__file__).resolve().parent / "node"
Ranges = dict[int, list[tuple[int, int]]]

# --- hand encoding ------------------------------------------------------------------------------


def uv(value: int) -> bytes:
    """A lib0 varuint."""
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def vs(text: str | bytes) -> bytes:
    """A lib0 var string (length in bytes, then the bytes)."""
    raw = text.encode() if isinstance(text, str) else text
    return uv(len(raw)) + raw


def id_(client: int, clock: int) -> bytes:
    return uv(client) + uv(clock)


def root_item(ref: int, content: bytes, root: str = "t", flags: int = 0) -> bytes:
    """An item whose parent is the root type ``root``."""
    return bytes([ref | flags]) + uv(1) + vs(root) + content


def child_item(ref: int, content: bytes, parent: tuple[int, int]) -> bytes:
    """An item whose explicit parent is the type item ``parent``."""
    return bytes([ref]) + uv(0) + id_(*parent) + content


def after_item(ref: int, content: bytes, origin: tuple[int, int]) -> bytes:
    """An item placed after ``origin`` (its parent is the origin's parent)."""
    return bytes([ref | 0x80]) + id_(*origin) + content


def encode(groups: list[tuple[int, int, list[bytes]]], deletes: bytes = b"\x00") -> bytes:
    """An update from (client, start clock, [struct bytes]) groups and an encoded delete set."""
    out = uv(len(groups))
    for client, clock, structs in groups:
        out += uv(len(structs)) + uv(client) + uv(clock) + b"".join(structs)
    return out + deletes


def string(text: str) -> bytes:
    return vs(text)


def xml_element(name: str) -> bytes:
    return uv(3) + vs(name)


HELLO = encode([(1, 0, [root_item(STRING, string("hello"))])])


def test_hand_encoded_hello() -> None:
    assert read_update(HELLO) == UpdateStructure([Struct(1, 0, 5, STRING, parent_root="t")], [])


# --- golden updates from pycrdt ------------------------------------------------------------------


def _diff_ranges(before: bytes, after: bytes) -> Ranges:
    """The clock ranges an update from state ``before`` to state ``after`` covers, from pycrdt's state vectors."""
    old, new = read_state_vector(before), read_state_vector(after)
    return {client: [(old.get(client, 0), clock)] for client, clock in new.items() if clock > old.get(client, 0)}


@functools.cache
def pycrdt_cases() -> dict[str, tuple[bytes, Ranges]]:
    """Updates pycrdt writes for many kinds of edit, each with the clock ranges its state vectors say it covers."""
    cases: dict[str, tuple[bytes, Ranges]] = {}

    def record(name: str, doc: Doc, edit: Callable[[], object]) -> None:
        before = doc.get_state()
        with doc.transaction():
            edit()
        cases[name] = (doc.get_update(before), _diff_ranges(before, doc.get_state()))

    def full_state(name: str, doc: Doc) -> None:
        cases[name] = (doc.get_update(), _diff_ranges(b"\x00", doc.get_state()))

    xml = Doc(client_id=2**53 - 5)  # pycrdt draws client IDs up to 2**53: the longest varints
    fragment = xml.get("default", type=XmlFragment)

    def tiptap() -> None:
        fragment.children.append(XmlElement("heading", {"level": "2"}, [XmlText("Tïtle ✓")]))
        fragment.children.append(XmlElement("paragraph", {}, [XmlText("Hello ")]))
        item = XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("nested")])])
        fragment.children.append(XmlElement("bulletList", {}, [item]))

    record("xml tiptap document", xml, tiptap)
    paragraph_text = fragment.children[1].children[0]
    assert isinstance(paragraph_text, XmlText)
    record("xml keystroke", xml, lambda: paragraph_text.insert(3, "x"))
    record("xml bold", xml, lambda: paragraph_text.insert(7, "world", {"bold": {}, "link": {"href": "https://e.x"}}))
    record("xml format", xml, lambda: paragraph_text.format(0, 4, {"italic": True}))
    record("xml embed", xml, lambda: paragraph_text.insert_embed(2, {"image": "x.png"}))
    record("xml text attribute", xml, lambda: paragraph_text.attributes.__setitem__("dir", "rtl"))
    record("xml element attribute", xml, lambda: fragment.children[0].attributes.__setitem__("level", "3"))
    record("xml delete text", xml, lambda: paragraph_text.__delitem__(slice(1, 6)))
    record("xml delete paragraph", xml, lambda: fragment.children.__delitem__(2))
    full_state("xml full state after deletions", xml)

    text_doc = Doc(client_id=7)
    text_doc["text"] = text = Text()
    record("text non-ascii", text_doc, lambda: text.__iadd__("héllo wörld 日本語 "))
    record("text astral", text_doc, lambda: text.__iadd__("😀 \U0001d518\U0001d52b\U0001d526 👩\u200d👩\u200d👧 "))
    record("text format", text_doc, lambda: text.format(0, 5, {"bold": True, "color": "#f00"}))
    record("text embed", text_doc, lambda: text.insert_embed(3, {"image": "x.png"}))
    record("text long", text_doc, lambda: text.__iadd__("long é😀 " * 3000))
    # pycrdt indexes text by UTF-8 bytes (an embed counts 1): cut "hé", the embed and "llo wörld " on boundaries,
    # since yrs writes an empty String item when an index falls inside a character.
    record(
        "text delete", text_doc, lambda: text.__delitem__(slice(0, len("hé".encode()) + 1 + len("llo wörld ".encode())))
    )
    full_state("text full state", text_doc)

    data = Doc(client_id=123456789)
    data["map"] = root_map = Map()
    data["array"] = root_array = Array()

    def nested() -> None:
        root_map["inner"] = Map({"deeper": Map({"k": "v"}), "list": Array([1, Array([2, 3])])})
        root_map["number"] = 1

    values: list[Any] = [1, -1, 0, 2**31, 2**40, 2**53 - 1, -(2**52), 1.5, 0.1, 1e300, True, False, None]
    values += ["s", "", "ünï 😀", {"a": {"b": [1, [2, {"c": None}]]}}, [], {}, b"\x00\xff bytes"]
    record("map nested", data, nested)
    record("map overwrite", data, lambda: root_map.__setitem__("number", 2))
    record("array any values", data, lambda: root_array.extend(values))
    record("array delete", data, lambda: root_array.__delitem__(slice(2, 6)))
    record("map subdoc", data, lambda: root_map.__setitem__("sub", Doc()))
    record("map delete key", data, lambda: root_map.pop("inner"))
    full_state("data full state", data)

    # Three clients editing their own copies, merged into one update.
    docs = [Doc(client_id=client) for client in (11, 22, 33)]
    updates = []
    for doc in docs:
        doc["t"] = shared = Text()
        shared += f"from {doc.client_id} "
        updates.append(doc.get_update())
    second = docs[0].get_state()
    docs[0]["t"] += "more"
    updates.append(docs[0].get_update(second))
    merged = merge_updates(*updates)
    cases["merged clients"] = (
        merged,
        {doc.client_id: [(0, read_state_vector(doc.get_state())[doc.client_id])] for doc in docs},
    )
    return cases


@pytest.mark.parametrize("name", sorted(pycrdt_cases()))
def test_pycrdt_updates_decode_and_cover_their_state_vectors(name: str) -> None:
    update, ranges = pycrdt_cases()[name]
    structure = read_update(update)
    assert structure.clock_ranges() == ranges
    assert not structure.skips()
    type_depths(structure, {}, 0)


def test_pycrdt_edit_kinds_are_covered() -> None:
    kinds = {s.kind for update, _ in pycrdt_cases().values() for s in read_update(update).structs}
    # pycrdt stores bytes as Any values, never as Binary content (which Yjs writes: see the Node golden tests).
    assert kinds >= {GC, DELETED, STRING, EMBED, FORMAT, TYPE, ANY, DOC}
    assert read_update(pycrdt_cases()["text delete"][0]).deletions


def test_pycrdt_merge_with_a_gap_has_a_skip() -> None:
    doc = Doc(client_id=5)
    doc["t"] = text = Text()
    parts = []
    for word in ("one ", "two ", "three"):
        before = doc.get_state()
        text += word
        parts.append(doc.get_update(before))
    structure = read_update(merge_updates(parts[0], parts[2]))
    assert structure.skips() == [(5, 4, 4)]
    assert structure.clock_ranges() == {5: [(0, 4), (8, 13)]}


def test_map_overwrite_sets_parent_sub_bit_with_origin() -> None:
    """Yjs and yrs flag a map entry's key even when an origin makes them omit it: that combination is valid."""
    entry = bytes([ANY | 0x20]) + uv(1) + vs("m") + vs("k") + uv(1) + b"\x7e"
    overwrite = bytes([ANY | 0x20 | 0x80]) + id_(1, 0) + uv(1) + b"\x78"
    structs = read_update(encode([(1, 0, [entry, overwrite])])).structs
    assert structs[0].parent_sub == "k" and structs[1].origin == (1, 0) and structs[1].parent_sub is None


# --- golden updates from real Yjs -----------------------------------------------------------------


def _node(*args: str, stdin: str | None = None) -> Any:
    require(node_available(), "Node.js is not installed (needed for the Yjs golden updates)")
    require((NODE_DIR / "node_modules" / "yjs").is_dir(), "tests/node/node_modules is not installed (npm ci)")
    result = subprocess.run(
        ["node", "yjs_updates.mjs", *args], cwd=NODE_DIR, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def yjs_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = _node()["cases"]
    return cases


def as_yjs(struct: Struct) -> dict[str, Any]:
    """A struct in the shape yjs_updates.mjs describes Yjs's own decoding."""
    described: dict[str, Any] = {"client": struct.client, "clock": struct.clock, "length": struct.length}
    described["kind"] = struct.kind
    if struct.kind in (GC, SKIP):
        return described

    def listed(value: tuple[int, int] | None) -> list[int] | None:
        return None if value is None else list(value)

    return described | {
        "origin": listed(struct.origin),
        "rightOrigin": listed(struct.right_origin),
        "parentRoot": struct.parent_root,
        "parentId": listed(struct.parent_id),
        "parentSub": struct.parent_sub,
        "typeRef": struct.type_ref,
    }


def assert_same_as_yjs(structure: UpdateStructure, yjs: dict[str, Any]) -> None:
    assert [as_yjs(s) for s in structure.structs] == yjs["structs"]
    assert [list(d) for d in structure.deletions] == yjs["deletions"]


@pytest.mark.node
def test_yjs_updates_decode_as_yjs_decodes_them(yjs_cases: list[dict[str, Any]]) -> None:
    assert len(yjs_cases) > 20
    for case in yjs_cases:
        assert_same_as_yjs(read_update(bytes.fromhex(case["update"])), case)


@pytest.mark.node
def test_yjs_edit_kinds_are_covered(yjs_cases: list[dict[str, Any]]) -> None:
    by_name = {case["name"]: read_update(bytes.fromhex(case["update"])) for case in yjs_cases}
    kinds = {s.kind for structure in by_name.values() for s in structure.structs}
    assert kinds >= {GC, DELETED, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP}
    assert {s.type_ref for structure in by_name.values() for s in structure.structs} >= set(range(7))
    gap = by_name["merged with gap"]
    assert len(gap.skips()) == 1
    client, clock, length = gap.skips()[0]
    assert gap.clock_ranges()[client] == [(0, clock), (clock + length, clock + length + 5)]
    depths = type_depths(by_name["tiptap document"], {}, 100)
    assert sorted(depths.values()) == [1, 1, 1, 1, 2, 2, 2, 3, 4]


@pytest.mark.node
def test_pycrdt_updates_decode_as_yjs_decodes_them() -> None:
    names = sorted(pycrdt_cases())
    decoded = _node("--decode", stdin=json.dumps([pycrdt_cases()[name][0].hex() for name in names]))
    for name, yjs in zip(names, decoded, strict=True):
        assert_same_as_yjs(read_update(pycrdt_cases()[name][0]), yjs)


@pytest.mark.node
def test_yjs_ignores_the_trailing_bytes_this_decoder_refuses() -> None:
    """The fuzzer's first case is a valid update plus 7 bytes: Yjs (like yrs) reads the update and ignores them."""
    update = bytes.fromhex(FUZZ_TRAILING)
    [yjs] = _node("--decode", stdin=json.dumps([update.hex()]))
    assert_same_as_yjs(read_update(update[:-7]), yjs)
    refuses(update, "7 trailing bytes")


# --- refusals -----------------------------------------------------------------------------------

FUZZ_TRAILING = (
    "010383ecaff4968b83080007010764656661756c740309706172616762617068070083ecaff4b68b83080006040083ecaff4b68b8308"
    "090d68656c6c6f20776f726c64203200ffffffffffff59"
)
FUZZ_PARENT_INFO_3 = (
    "010f0d0807010764656661756c740309706172616772617068a10d000d010368656c840d040a6c6f20776f726c64200d0001000e870d"
    "0f0309706172616772617068a10d1e0604000d1f0d6c6c6f20776e726c642032c48ed30d040d05018ed30d2d0d0502595a460d0204626f"
    "6c64027b7dc60d2d0d2e04626f6c64046e756c6ca1300161a10d3002010d020f0f3302"
)


def refuses(update: bytes, match: str | None = None) -> None:
    with pytest.raises(ProtocolError, match=match):
        read_update(update)


def test_fuzzer_case_with_trailing_bytes() -> None:
    refuses(bytes.fromhex(FUZZ_TRAILING), "trailing")


def test_fuzzer_case_with_parent_info_3() -> None:
    refuses(bytes.fromhex(FUZZ_PARENT_INFO_3), "parent info 3")


def test_trailing_bytes() -> None:
    refuses(HELLO + b"\x00", "trailing")


@pytest.mark.parametrize("parent_info", [2, 3, 127, 128])
def test_parent_info_other_than_0_or_1(parent_info: int) -> None:
    refuses(encode([(1, 0, [bytes([STRING]) + uv(parent_info) + vs("t") + string("x")])]), "parent info")


@pytest.mark.parametrize("info", [*range(11, 32), *(ref | 0x80 for ref in range(11, 32))])
def test_unknown_content_ref(info: int) -> None:
    refuses(encode([(1, 0, [bytes([info]) + uv(1) + vs("t") + string("x")])]), "content ref")


@pytest.mark.parametrize("info", [0x20, 0x40, 0x80, 0x2A, 0x8A])
def test_gc_and_skip_with_flag_bits(info: int) -> None:
    refuses(encode([(1, 0, [bytes([info]) + uv(3)])]))


@pytest.mark.parametrize(
    "struct",
    [
        bytes([GC]) + uv(0),
        bytes([SKIP]) + uv(0),
        root_item(DELETED, uv(0)),
        root_item(STRING, string("")),
        root_item(JSON, uv(0)),
        root_item(ANY, uv(0)),
    ],
    ids=["gc", "skip", "deleted", "string", "json", "any"],
)
def test_empty_structs(struct: bytes) -> None:
    refuses(encode([(1, 0, [struct])]))


def test_string_length_past_the_end() -> None:
    refuses(encode([(1, 0, [root_item(STRING, uv(100) + b"hello")])]), "past the end")
    refuses(encode([(1, 0, [root_item(BINARY, uv(2**50))])]), "past the end")


@pytest.mark.parametrize(
    "update",
    [
        uv(2**40) + b"\x00" * 64,
        uv(1) + uv(2**40) + id_(1, 0) + b"\x00" * 64,
        encode([(1, 0, [root_item(ANY, uv(2**40) + b"\x7e" * 64)])]),
        encode([(1, 0, [root_item(JSON, uv(2**40) + b"\x01\x31" * 32)])]),
        encode([(1, 0, [root_item(ANY, uv(1) + b"\x75" + uv(2**40) + b"\x7e" * 64)])]),
        b"\x00" + uv(2**40) + b"\x00" * 64,
        b"\x00\x01\x01" + uv(2**40) + b"\x00" * 64,
    ],
    ids=["groups", "structs", "any", "json", "any array", "ds clients", "ds ranges"],
)
def test_huge_counts_are_refused_before_looping(update: bytes) -> None:
    refuses(update, "does not fit")


def test_client_repeated() -> None:
    struct = root_item(STRING, string("x"))
    refuses(encode([(1, 0, [struct]), (1, 1, [struct])]), "two struct groups")
    refuses(b"\x00\x02" + uv(1) + uv(1) + id_(0, 1) + uv(1) + uv(1) + id_(5, 1), "twice in the delete set")


def test_client_and_clock_bounds() -> None:
    refuses(encode([(2**53 + 1, 0, [root_item(STRING, string("x"))])]), "client ID")
    refuses(encode([(1, 2**53 + 1, [root_item(STRING, string("x"))])]), "out of range")
    refuses(encode([(1, 2**53, [root_item(STRING, string("x"))])]), "past 2\\*\\*53")
    refuses(b"\x00\x01\x01\x01" + uv(2**53) + uv(1), "past 2\\*\\*53")
    assert read_update(encode([(1, 2**53 - 1, [root_item(STRING, string("x"))])])).structs[0].clock == 2**53 - 1


def test_overlong_varint() -> None:
    refuses(b"\x81\x00\x00", "overlong")
    refuses(b"\xff" * 9, "longer than")


def test_own_client_reference_must_point_back() -> None:
    refuses(encode([(1, 5, [after_item(STRING, string("x"), (1, 5))])]), "own client")
    refuses(encode([(1, 5, [child_item(STRING, string("x"), (1, 9))])]), "own client")
    assert read_update(encode([(1, 5, [after_item(STRING, string("x"), (1, 4))])])).structs[0].origin == (1, 4)
    assert read_update(encode([(1, 5, [after_item(STRING, string("x"), (2, 9))])])).structs[0].origin == (2, 9)


def test_any_nested_1000_deep() -> None:
    deep = b"\x75\x01" * 1000 + b"\x7e"
    refuses(encode([(1, 0, [root_item(ANY, uv(1) + deep)])]), "nested deeper")
    fine = b"\x75\x01" * 60 + b"\x76\x01" + vs("k") + b"\x7e"
    assert read_update(encode([(1, 0, [root_item(ANY, uv(1) + fine)])])).structs[0].length == 1


def test_any_values() -> None:
    values = [
        b"\x7f",
        b"\x7e",
        b"\x7d\x40",
        b"\x7d\xbf\x7f",
        b"\x7c" + bytes(4),
        b"\x7b" + bytes(8),
        b"\x7a" + bytes(8),
    ]
    values += [b"\x79", b"\x78", b"\x77" + vs("s"), b"\x76\x01" + vs("k") + b"\x78", b"\x75\x00", b"\x74" + vs(b"\xff")]
    update = encode([(1, 0, [root_item(ANY, uv(len(values)) + b"".join(values))])])
    assert read_update(update).structs[0].length == len(values)
    for bad in (b"\x73", b"\x00", b"\x80", b"\x7d\x80\x00", b"\x7d\xff\xff\xff\xff\xff\xff\xff\x7f", b"\x7c\x00"):
        refuses(encode([(1, 0, [root_item(ANY, uv(1) + bad)])]))


def test_strings_must_be_utf8_as_encoders_write_it() -> None:
    assert read_update(encode([(1, 0, [root_item(STRING, string("a\ufffdb"))])])).structs[0].length == 3
    assert read_update(encode([(1, 0, [root_item(STRING, string("😀é"))])])).structs[0].length == 3
    for raw in (b"\xed\xa0\x80", b"\xed\xb8\x80", b"\xc0\xaf", b"\xff", b"\xf4\x90\x80\x80", b"abc\xe2\x82"):
        refuses(encode([(1, 0, [root_item(STRING, vs(raw))])]), "UTF-8")
    refuses(encode([(1, 0, [bytes([STRING]) + uv(1) + vs(b"\xed\xa0\x80") + string("x")])]), "UTF-8")


def test_json_content() -> None:
    good = encode([(1, 0, [root_item(JSON, uv(3) + vs("undefined") + vs('{"a": [1, null]}') + vs("1e400"))])])
    assert read_update(good).structs[0].length == 3
    for bad in ("NaN", "Infinity", "-Infinity", "{", "[" * 100_000, "'x'", ""):
        refuses(encode([(1, 0, [root_item(JSON, uv(1) + vs(bad))])]), "JSON")
    refuses(encode([(1, 0, [root_item(EMBED, vs("{oops"))])]), "JSON")
    refuses(encode([(1, 0, [root_item(FORMAT, vs("bold") + vs("tru"))])]), "JSON")


def test_type_refs() -> None:
    for type_ref in range(7):
        name = vs("p") if type_ref in (3, 5) else b""
        structure = read_update(encode([(1, 0, [root_item(TYPE, uv(type_ref) + name)])]))
        assert structure.structs[0].type_ref == type_ref
    for type_ref in (7, 9, 15, 128):
        refuses(encode([(1, 0, [root_item(TYPE, uv(type_ref))])]), "type ref")
    refuses(encode([(1, 0, [root_item(TYPE, uv(3))])]))  # XmlElement without its name


def test_zero_length_deletion() -> None:
    refuses(b"\x00\x01\x01\x01\x00\x00", "zero length")


def valid_updates() -> list[bytes]:
    extra = [HELLO, encode([(1, 0, [root_item(JSON, uv(1) + vs("[1]"))])], b"\x01\x01\x01\x00\x01")]
    return [update for update, _ in pycrdt_cases().values() if len(update) < 5000] + extra


def test_every_prefix_is_refused() -> None:
    for update in valid_updates():
        for end in range(len(update)):
            with pytest.raises(ProtocolError):
                read_update(update[:end])


# --- budget -----------------------------------------------------------------------------------


def test_max_structs() -> None:
    update, _ = pycrdt_cases()["xml tiptap document"]
    count = len(read_update(update).structs)
    assert len(read_update(update, max_structs=count).structs) == count
    with pytest.raises(UpdateTooComplex):
        read_update(update, max_structs=count - 1)
    deletions = b"\x00\x01\x01\x03" + b"\x00\x01" * 3
    assert len(read_update(deletions, max_structs=3).deletions) == 3
    with pytest.raises(UpdateTooComplex):
        read_update(deletions, max_structs=2)


def test_max_structs_is_checked_before_reading_the_structs() -> None:
    many = encode([(1, 0, [bytes([GC]) + uv(1)] * 100_000)])
    with pytest.raises(UpdateTooComplex):
        read_update(many, max_structs=1000)
    # The count is refused before the structs are read: corrupt structs behind it are never reached.
    with pytest.raises(UpdateTooComplex):
        read_update(many[:8] + b"\xff" * (len(many) - 8), max_structs=1000)


# --- fuzzing ----------------------------------------------------------------------------------


def decode_or_refuse(update: bytes) -> None:
    """Decoding either succeeds (and so do the helpers) or raises one of the two protocol errors."""
    try:
        structure = read_update(update, max_structs=10_000)
    except (ProtocolError, UpdateTooComplex):
        return
    structure.clock_ranges()
    structure.skips()
    with contextlib.suppress(ProtocolError):
        type_depths(structure, {}, 0)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    decode_or_refuse(data)


mutations = st.lists(
    st.tuples(st.integers(0, 2**20), st.sampled_from(["replace", "insert", "delete"]), st.integers(0, 255)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**6), mutations)
def test_mutated_updates(pick: int, changes: list[tuple[int, str, int]]) -> None:
    pool = valid_updates()
    data = bytearray(pool[pick % len(pool)])
    for position, operation, byte in changes:
        at = position % (len(data) + 1)
        if operation == "insert":
            data.insert(at, byte)
        elif data and at < len(data):
            if operation == "replace":
                data[at] = byte
            else:
                del data[at]
    decode_or_refuse(bytes(data))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([b"", b"\x01\x7f\x01\x00", b"\x01\x01\x01\x00\x04\x01\x01t"]))
def test_one_mebibyte_of_random_bytes(seed: int, prefix: bytes) -> None:
    decode_or_refuse(prefix + random.Random(seed).randbytes(2**20))


# --- type depths ------------------------------------------------------------------------------


def test_chain_of_30000_nested_elements() -> None:
    doc = Doc(client_id=5)
    fragment = doc.get("default", type=XmlFragment)
    with doc.transaction():
        node: XmlFragment | XmlElement = fragment
        for _ in range(30_000):
            node.children.append(XmlElement("div"))
            child = node.children[0]
            assert isinstance(child, XmlElement)
            node = child
    depths = type_depths(read_update(doc.get_update()), {}, 0)
    assert len(depths) == 30_000
    assert max(depths.values()) == 30_000


def tiptap_doc() -> tuple[Doc, XmlFragment]:
    doc = Doc(client_id=9)
    fragment = doc.get("default", type=XmlFragment)
    fragment.children.append(XmlElement("paragraph", {}, [XmlText("one")]))
    item = XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("nested")])])
    fragment.children.append(XmlElement("bulletList", {}, [item]))
    fragment.children.append(XmlElement("paragraph"))
    return doc, fragment


def test_tiptap_document_depths() -> None:
    doc, _ = tiptap_doc()
    depths = type_depths(read_update(doc.get_update()), {}, 1000)
    assert sorted(depths.values()) == [1, 1, 1, 2, 2, 3, 4]


def test_sibling_of_a_known_type_gets_its_depth() -> None:
    doc, fragment = tiptap_doc()
    known = type_depths(read_update(doc.get_update()), {}, 1000)
    before = doc.get_state()
    fragment.children.append(XmlElement("paragraph", {}, [XmlText("appended")]))
    update = read_update(doc.get_update(before))
    assert sorted(type_depths(update, known, 1000).values()) == [1, 2]
    # The new paragraph's origin is the last one: whatever depth the caller knows for it, the sibling shares.
    [last_paragraph] = [key for key, depth in known.items() if depth == 1][-1:]
    assert sorted(type_depths(update, {last_paragraph: 6}, 1000).values()) == [6, 7]
    # An unknown neighbour leaves the parent unknown.
    assert sorted(type_depths(update, {}, 10).values()) == [11, 12]


def test_unknown_parent_depth() -> None:
    doc, fragment = tiptap_doc()
    known = type_depths(read_update(doc.get_update()), {}, 1000)
    empty_paragraph = fragment.children[2]
    assert isinstance(empty_paragraph, XmlElement)
    before = doc.get_state()
    empty_paragraph.children.append(XmlText("first child"))
    update = read_update(doc.get_update(before))
    [text] = [struct for struct in update.structs if struct.kind == TYPE]
    assert text.parent_id is not None and text.origin is None
    assert type_depths(update, {}, 7) == {(text.client, text.clock): 8}
    assert type_depths(update, known, 7) == {(text.client, text.clock): 2}


def test_neighbour_inside_a_longer_struct() -> None:
    update = encode(
        [
            (
                1,
                0,
                [
                    root_item(TYPE, xml_element("p"), "default"),
                    child_item(STRING, string("hello"), (1, 0)),  # clocks 1..5
                    after_item(TYPE, uv(6), (1, 3)),  # an XmlText after the "l" in the middle of "hello"
                    child_item(TYPE, uv(6), (2, 0)),
                ],
            ),
            (2, 0, [after_item(TYPE, xml_element("q"), (1, 4))]),
        ]
    )
    assert type_depths(read_update(update), {}, 100) == {(1, 0): 1, (1, 6): 2, (1, 7): 3, (2, 0): 2}


def test_parent_cycle_is_refused() -> None:
    update = encode([(1, 0, [after_item(TYPE, uv(0), (2, 0))]), (2, 0, [after_item(STRING, string("x"), (1, 0))])])
    structure = read_update(update)
    with pytest.raises(ProtocolError, match="cycle"):
        type_depths(structure, {}, 0)


def test_parent_that_is_not_a_type_is_refused() -> None:
    update = encode([(1, 0, [root_item(STRING, string("hello")), child_item(TYPE, uv(0), (1, 2))])])
    with pytest.raises(ProtocolError, match="not a type"):
        type_depths(read_update(update), {}, 0)


def test_parent_deleted_or_skipped_in_the_update_falls_back() -> None:
    update = encode(
        [
            (1, 0, [bytes([GC]) + uv(2), bytes([SKIP]) + uv(3), child_item(TYPE, uv(0), (1, 1))]),
            (2, 0, [child_item(TYPE, uv(0), (1, 3))]),
        ]
    )
    assert type_depths(read_update(update), {(1, 3): 4}, 20) == {(1, 5): 21, (2, 0): 5}
