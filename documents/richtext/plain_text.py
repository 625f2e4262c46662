"""Plain text of a document: what the REST API's ``text``, search and version previews show.

One line per paragraph-like block (a code block gives its lines), hard breaks as newlines, rules as empty lines, an
image as its alt text; a table row is one line of its cells' text separated by tabs, and a task starts with its box,
"[ ] " or "[x] ".
"""

from __future__ import annotations

from collections.abc import Sequence

import pycrdt

from documents.richtext import schema
from documents.richtext.model import Inline, Node, Text
from documents.richtext.yxml import read_nodes


def to_text(fragment: pycrdt.XmlFragment) -> str:
    """Plain text: one line per paragraph-like block, hard breaks as newlines, rules as empty lines."""
    return "\n".join(_text_block(node) for node in read_nodes(fragment))


def _text_block(node: Node) -> str:
    """Plain text of one block: its inline text, or its blocks' lines (a leaf gives an empty line)."""
    spec = schema.element(node.type)
    names = {attr.name for attr in spec.attrs} if spec is not None else set()
    if spec is not None and spec.kind == "leaf":
        return str(node.attrs.get("alt") or "") if "alt" in names and spec.usable(node.attrs) else ""
    if spec is not None and spec.kind == "row":
        return "\t".join(" ".join(_text_block(c).split("\n")) for c in node.content if isinstance(c, Node))
    if spec is not None and "checked" in names:  # a task: its box before its first line
        return ("[x] " if node.attrs.get("checked") else "[ ] ") + "\n".join(
            _text_block(c) for c in node.content if isinstance(c, Node)
        )
    if (spec is not None and spec.kind in ("inline", "plain")) or any(isinstance(c, Text) for c in node.content):
        return inline_text(node.content)
    return "\n".join(_text_block(c) for c in node.content if isinstance(c, Node))


def inline_text(content: Sequence[Inline]) -> str:
    """Plain text of inline content: text, and the text an inline node reads as (a hard break: a newline)."""
    return "".join(c.text if isinstance(c, Text) else _node_text(c) for c in content)


def _node_text(node: Node) -> str:
    """The text an inline node reads as (nothing for unknown nodes)."""
    spec = schema.element(node.type)
    return spec.text if spec and spec.inline else ""
