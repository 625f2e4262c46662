"""Items whose neighbours cannot both be theirs are refused; every edit a real client makes still integrates.

Honest updates come from real pycrdt Docs editing concurrently; crafted ones are those updates with an origin or
right origin moved (re-encoded by the fuzzer's codec), the shapes the fuzz program found drifting.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from documents.engine import live_doc
from documents.engine.item_parents import ItemParents
from documents.engine.live_doc import LiveDoc
from documents.engine.update_reader import read_update
from documents.exceptions import ProtocolError
from tests.fuzz import ycodec


def fragment(doc: Doc) -> XmlFragment:
    return doc.get("default", type=XmlFragment)


def rebuilt(live: LiveDoc) -> str:
    """What the room's own encoding renders: what the store, a reload and every joiner hold."""
    doc: Doc[Any] = Doc()
    doc.apply_update(live.doc.get_update())
    return str(fragment(doc))


def take(doc: Doc, since: bytes) -> bytes:
    return doc.get_update(since)


def feed(live: LiveDoc, update: bytes) -> bytes | None:
    return live.integrate(update, read_update(update))


class Writer:
    """A client with its own Doc; ``edit`` returns the update of what it just did."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)

    def receive(self, update: bytes) -> None:
        self.doc.apply_update(update)

    def edit(self, action: Any) -> bytes:
        before = self.doc.get_state()
        with self.doc.transaction():
            action(fragment(self.doc))
        return self.doc.get_update(before)


def two_paragraphs_update(writer: Writer) -> bytes:
    def build(root: XmlFragment) -> None:
        for words in ("first paragraph", "second paragraph"):
            paragraph = XmlElement("paragraph")
            root.children.append(paragraph)
            text = XmlText()
            paragraph.children.append(text)
            text += words

    return writer.edit(build)


def two_paragraphs(live: LiveDoc, writer: Writer) -> None:
    assert feed(live, two_paragraphs_update(writer)) is not None


def text_of(root: XmlFragment, index: int) -> XmlText:
    text = root.children[index].children[0]
    assert isinstance(text, XmlText)
    return text


def typed(writer: Writer, paragraph: int, index: int, chars: str) -> bytes:
    return writer.edit(lambda root: text_of(root, paragraph).insert(index, chars))


def moved(update: bytes, origin: tuple[int, int] | None = None, right: tuple[int, int] | None = None) -> bytes:
    """``update`` (one struct with both neighbours) with its origin and/or right origin changed."""
    parsed = ycodec.parse(update)
    (struct,) = [s for block in parsed.blocks for s in block.structs]
    assert struct.origin is not None and struct.right_origin is not None
    struct.origin = origin or struct.origin
    struct.right_origin = right or struct.right_origin
    return ycodec.encode(parsed)


@pytest.fixture(params=["kept", "collapsed"])
def live(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A room's LiveDoc; "collapsed" re-encodes its history and collapses its item-parent index after every
    update (as a long-lived room does now and then), so every decision is also made by a collapsed index."""
    if request.param == "collapsed":
        monkeypatch.setattr(live_doc, "HISTORY_SLACK_BYTES", 0)
        live = LiveDoc(pack_every=1)
    else:
        live = LiveDoc()
    yield live
    live.close()


def test_concurrent_honest_editing_always_integrates(live: LiveDoc) -> None:
    """Three clients edit concurrently (insertions in the middle, formats, new blocks, deleting a paragraph someone
    types in), each update reaching the room late and in another order: nothing is refused and the room's Doc renders
    as its own encoding does."""
    rng = random.Random(7)
    writers = [Writer(100 + n) for n in range(3)]
    two_paragraphs(live, writers[0])
    for writer in writers[1:]:
        writer.receive(live.doc.get_update())
    for _round in range(60):
        sent: list[tuple[int, bytes]] = []
        for number, writer in enumerate(writers):
            root = fragment(writer.doc)
            paragraphs = len(root.children)
            choice = rng.random()
            if choice < 0.1 and paragraphs > 2:
                update = writer.edit(lambda root: root.children.__delitem__(rng.randrange(len(root.children))))
            elif choice < 0.2:

                def new_block(root: XmlFragment) -> None:
                    block = XmlElement("heading", {"level": str(rng.randint(1, 3))})
                    root.children.insert(rng.randint(0, len(root.children)), block)
                    text = XmlText()
                    block.children.append(text)
                    text += "new"

                update = writer.edit(new_block)
            elif choice < 0.3:
                target = rng.randrange(paragraphs)
                size = len(str(text_of(root, target)))
                update = writer.edit(
                    lambda root, t=target, n=size: text_of(root, t).format(0, max(1, n // 2), {"bold": {}})
                )
            else:
                target = rng.randrange(paragraphs)
                size = len(str(text_of(root, target)))
                update = typed(writer, target, rng.randint(0, size), rng.choice("abc xyz"))
            sent.append((number, update))
        rng.shuffle(sent)
        for number, update in sent:
            structure = read_update(update)
            if live.is_ready(structure):
                live.integrate(update, structure)
                live.retry_held()
            else:
                live.hold(update, structure)
            for other, writer in enumerate(writers):
                if other != number:
                    writer.receive(update)
    assert not live.held
    assert str(fragment(live.doc)) == rebuilt(live)
    for writer in writers:
        assert str(fragment(writer.doc)) == str(fragment(live.doc))


def test_neighbours_in_two_paragraphs_are_refused(live: LiveDoc) -> None:
    writer = Writer(100)
    two_paragraphs(live, writer)
    before = live.doc.get_update()
    # Typed in the middle of the first paragraph, then its right origin moved to the second paragraph's text.
    honest = typed(writer, 0, 3, "X")
    second_paragraph_char = (100, 2 + len("first paragraph") + 2 + 3)
    with pytest.raises(ProtocolError, match="two different lists"):
        feed(live, moved(honest, right=second_paragraph_char))
    assert live.doc.get_update() == before
    assert feed(live, honest) is not None  # the honest original still integrates


def test_one_neighbour_collected_and_the_other_live_is_refused(live: LiveDoc) -> None:
    writer, remover = Writer(100), Writer(200)
    two_paragraphs(live, writer)
    remover.receive(live.doc.get_update())
    in_first = typed(writer, 0, 3, "X")  # made before the first paragraph is deleted (concurrently)
    feed(live, remover.edit(lambda root: root.children.__delitem__(0)))
    second_paragraph_char = (100, 2 + len("first paragraph") + 2 + 3)
    with pytest.raises(ProtocolError, match="two different lists"):
        feed(live, moved(in_first, right=second_paragraph_char))
    # Typing in a paragraph someone deleted meanwhile is honest: both neighbours are collected, so is the item.
    feed(live, in_first)
    assert "X" not in str(fragment(live.doc))
    assert str(fragment(live.doc)) == rebuilt(live)


def test_a_removed_paragraph_collapses_to_two_ranges_and_is_judged_as_before() -> None:
    """A long-lived room forgets where collected items sat: the removed paragraph's text and characters become one
    collected range, and an item between a collected and a live neighbour is still refused."""
    writer, remover = Writer(100), Writer(200)
    live = LiveDoc()
    index = ItemParents()  # kept up update by update, as a room's is

    def integrate(update: bytes) -> None:
        feed(live, update)
        structure = read_update(update)
        index.add(structure, index.resolve(structure))

    integrate(two_paragraphs_update(writer))
    remover.receive(live.doc.get_update())
    in_first = typed(writer, 0, 3, "X")
    integrate(remover.edit(lambda root: root.children.__delitem__(0)))
    kept = len(index)
    index.collapse()
    # Per paragraph: the element, its text, its characters; the removed one keeps its element and one collected range.
    assert (kept, len(index)) == (6, 5)
    second_paragraph_char = (100, 2 + len("first paragraph") + 2 + 3)
    with pytest.raises(ProtocolError, match="two different lists"):
        index.resolve(read_update(moved(in_first, right=second_paragraph_char)))
    index.resolve(read_update(in_first))  # both neighbours collected: honest
    index.collapse()
    assert len(index) == 5
    live.close()


def test_a_right_origin_before_the_origin_is_refused(live: LiveDoc) -> None:
    writer = Writer(100)
    two_paragraphs(live, writer)
    before = live.doc.get_update()
    honest = typed(writer, 0, 3, "X")  # between "fir" and "st"
    # The same character claiming to sit after "first" and before "fi": a right origin left of the origin.
    with pytest.raises(ProtocolError, match="not between its origin and right origin"):
        feed(live, moved(honest, origin=(100, 2 + 5), right=(100, 2 + 1)))
    assert live.doc.get_update() == before
    assert str(fragment(live.doc)) == rebuilt(live)


# Client 1001 makes a heading (clock 0), its text (1) and its "level" attribute (2); a forged update then re-sends
# clocks 0-2 of client 1001 as another paragraph's parts, plus a 17-character string at clock 2 of which 3-18 are new.
PARAGRAPH_OF_ANOTHER_CLIENT = bytes.fromhex(
    "01039b93c39b030007010764656661756c74030970617261677261706807009b93c39b03000604009b93c39b03011161206c6f6e676572"
    "2073656e74656e636500"
)
HEADING = bytes.fromhex("0103e9070007010764656661756c74030768656164696e670700e90700062800e90700056c6576656c017d0100")
RE_SENT = bytes.fromhex(
    "0103e9070007010764656661756c74030970617261677261706807009b93c39b03000604009b93c39b03011161206c6f6e676572"
    "2073656e74656e636500"
)


def test_re_sent_clocks_with_other_content_do_not_split_the_room_from_its_encoding(live: LiveDoc) -> None:
    """yrs lets the re-sent clocks change how the Doc encodes but not how it reads; the room cuts them off first,
    so what it shows is what it stores (the new clocks follow clock 2, the heading's attribute, as in Yjs)."""
    for update in (PARAGRAPH_OF_ANOTHER_CLIENT, HEADING, RE_SENT):
        feed(live, update)
    assert str(fragment(live.doc)) == rebuilt(live)
    assert str(fragment(live.doc)).count("a longer sentence") == 1
