"""Export a document as GitHub-flavoured Markdown that imports back to the same document, as far as GFM can hold it.

Block syntax is per node type, so each block row of ``schema`` has its renderer in ``BLOCK_SYNTAX`` (a paragraph-like
row without one is rendered as its inline content). Inline content, the hard part, is ``markdown_emphasis``; tables
are ``markdown_tables``. What Markdown cannot hold is left out: underline, highlight, text alignment, image sizes
(docs/protocol.md lists what each format keeps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import cast

import pycrdt

from documents.richtext import schema
from documents.richtext.markdown_emphasis import image_markdown, inline_markdown
from documents.richtext.markdown_tables import pipe_table
from documents.richtext.model import Inline, Node, Text
from documents.richtext.plain_text import inline_text
from documents.richtext.yxml import read_nodes


def to_markdown(fragment: pycrdt.XmlFragment) -> str:
    """GitHub-flavoured Markdown for the document, ending with a newline unless empty."""
    body = _blocks(read_nodes(fragment))
    return body + "\n" if body else ""


def _blocks(nodes: Sequence[Inline]) -> str:
    """Blocks separated by blank lines; a list right after a list of its kind switches marker to stay apart."""
    parts: list[str] = []
    previous, alternate = None, False
    for node in nodes:
        flip = isinstance(node, Node) and _syntax(previous) == _syntax(node.type) and not alternate
        text = _block(node, flip) if isinstance(node, Node) else ""
        if text:  # empty paragraphs have no Markdown
            parts.append(text)
            previous, alternate = cast(Node, node).type, flip  # only a Node gives text
    return "\n\n".join(parts)


def _syntax(name: str | None) -> tuple[str, ...] | str | None:
    """What Markdown a block type is written as: lists of the same tokens (bullets and tasks) merge when adjacent."""
    spec = schema.element(name) if name else None
    return spec.markdown if spec and spec.markdown else name


def _block(node: Node, alternate: bool = False) -> str:
    """Markdown for one block node; an unknown container gives its blocks."""
    render = BLOCK_SYNTAX.get(node.type)
    if render is not None:
        return render(node, alternate)
    if schema.kind_of(node.type) == "inline" or any(isinstance(c, Text) for c in node.content):
        return inline_markdown(node.content)
    return _blocks(node.content)


def _heading(node: Node, _alternate: bool) -> str:
    """An ATX heading; line breaks become spaces, and a closing run of #s is escaped."""
    level = schema.rendered(node.type, "level", node.attrs)
    content = [c if isinstance(c, Text) else Text(" ") for c in node.content]  # no line breaks in a heading
    text = re.sub(r"(^|\s)(#+)$", r"\1\\\2", inline_markdown(content))
    return "#" * level + (" " + text if text else "")


def _bullets(node: Node, alternate: bool) -> str:
    """A bullet list: "- " items, "* " when it directly follows another."""
    return _items(node, lambda _number, _item: ("* " if alternate else "- ", ""))


def _tasks(node: Node, alternate: bool) -> str:
    """A task list: "- [ ] " and "- [x] " items ("* " when it directly follows another); content under the "- "."""
    box = {True: "[x] ", False: "[ ] "}
    return _items(node, lambda _number, item: ("* " if alternate else "- ", box[bool(item.attrs.get("checked"))]))


def _numbers(node: Node, alternate: bool) -> str:
    """An ordered list: "1. " items, "1) " when it directly follows another."""
    start = max(schema.rendered(node.type, "start", node.attrs), 0)  # CommonMark list numbers have no sign
    return _items(node, lambda number, _item: (f"{start + number}{')' if alternate else '.'} ", ""))


def _items(node: Node, marker: Callable[[int, Node], tuple[str, str]]) -> str:
    """A list's items, each one's content indented under its marker (what follows the marker is not indented for)."""
    lines = []
    for number, item in enumerate(c for c in node.content if isinstance(c, Node)):
        mark, lead = marker(number, item)
        lines.append(re.sub(r"^(\S+) (?=\n|$)", r"\1", mark + lead + _indent(_item(item), len(mark))))
    return "\n".join(lines)


def _item(item: Node) -> str:
    """The blocks of a list item: a nested list follows its paragraph directly (tight list)."""
    out = ""
    for index, child in enumerate(c for c in item.content if isinstance(c, Node)):
        if index and child.type == schema.DEFAULT_BLOCK and not child.content:
            continue
        text = _block(child)
        out += ("\n" if schema.kind_of(child.type) == "items" else "\n\n") + text if index else text
    return out


def _indent(text: str, width: int) -> str:
    """Indent every line but the first by width spaces, leaving blank lines blank."""
    return "\n".join(" " * width + line if line and index else line for index, line in enumerate(text.split("\n")))


def _quote(node: Node, _alternate: bool) -> str:
    """A blockquote: its blocks, every line behind "> "."""
    return "\n".join("> " + line if line else ">" for line in _blocks(node.content).split("\n"))


def _code(node: Node, _alternate: bool) -> str:
    """A fenced code block, the fence longer than any backtick run inside."""
    code = inline_text(node.content)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"^ {0,3}(`+)", code, re.M)), default=0))
    language = schema.rendered(node.type, "language", node.attrs)
    return f"{fence}{language}\n{code}\n{fence}" if code else f"{fence}{language}\n{fence}"


def _rule(_node: Node, _alternate: bool) -> str:
    """A thematic break."""
    return "---"


def _image(node: Node, _alternate: bool) -> str:
    """An image, alone in its paragraph (which the import reads as the image block)."""
    return image_markdown(node)


# The Markdown of each block row of the table (tests/test_schema_parity.py checks that every one has an entry).
BLOCK_SYNTAX: dict[str, Callable[[Node, bool], str]] = {
    "heading": _heading,
    "bulletList": _bullets,
    "orderedList": _numbers,
    "blockquote": _quote,
    "codeBlock": _code,
    "horizontalRule": _rule,
    "table": pipe_table,
    "taskList": _tasks,
    "image": _image,
}
