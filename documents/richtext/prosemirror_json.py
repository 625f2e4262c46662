"""A document as ProseMirror JSON: the shape of Tiptap's ``editor.getJSON()``, for programs that read documents.

The tree is the one the editor shows for the shared fragment, spelled the way ProseMirror's ``Node.toJSON`` spells
it: ``{"type": "doc", "content": [...]}``; a node is ``{"type", "attrs"?, "content"?}`` with ``attrs`` when its row
in ``schema`` declares any (all of them, defaults filled in); text is ``{"type": "text", "text", "marks"?}`` and a
mark ``{"type", "attrs"?}``. Attribute values are trusted as far as the table says (heading levels clamped, unsafe
links dropped, as in the HTML export). Content the table does not know is handled like the HTML export handles it
(an unknown block gives its blocks, or a paragraph of its text; unknown marks are dropped); unlike ``repair``, this
never refuses a document, however deep, since reading must work for every stored document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pycrdt

from documents.richtext import schema
from documents.richtext.model import Inline, Node, Text
from documents.richtext.yxml import read_nodes

JSON = dict[str, Any]


def to_prosemirror_json(fragment: pycrdt.XmlFragment) -> JSON:
    """The fragment's document as ProseMirror JSON; an empty document holds one empty paragraph, as in the editor."""
    blocks = _blocks(read_nodes(fragment))
    return {"type": schema.ROOT, "content": blocks or [_default_block([])]}


def _default_block(content: list[Inline]) -> JSON:
    """The paragraph stray inline content goes in, with its attributes' defaults as the editor gives them."""
    return _node(schema.ELEMENTS[schema.DEFAULT_BLOCK], Node(schema.DEFAULT_BLOCK, content=content))


def _blocks(items: Sequence[Inline]) -> list[JSON]:
    """Block content: known nodes as they are, stray inline content wrapped in paragraphs, unknown nodes unwrapped."""
    out: list[JSON] = []
    loose: list[Inline] = []
    for item in [*items, None]:
        if isinstance(item, Text) or (isinstance(item, Node) and schema.is_inline(item.type)):
            loose.append(item)
            continue
        if loose:
            out.append(_default_block(loose))
            loose = []
        if item is None:
            continue
        spec = schema.element(item.type)
        if spec is None:
            out.extend(_blocks(item.content))
        else:
            out.append(_node(spec, item))
    return out


def _node(spec: schema.NodeSpec, node: Node) -> JSON:
    """One known node, its content read by its row's content kind."""
    out: JSON = {"type": spec.name}
    if spec.attrs:
        out["attrs"] = {attr.name: attr.repaired(node.attrs) for attr in spec.attrs}
    if spec.kind == "inline":
        return _with_content(out, _inline(node.content))
    if spec.kind == "plain":
        # A code block holds one unmarked text; a line break in it is a newline, as ``repair`` writes it.
        code = "".join(c.text if isinstance(c, Text) else "\n" for c in node.content)
        return _with_content(out, [{"type": schema.TEXT, "text": code}] if code else [])
    if spec.kind == "leaf":
        return out
    return _with_content(out, _blocks(node.content))


def _with_content(node: JSON, content: list[JSON]) -> JSON:
    """``node`` with its content; ProseMirror leaves ``content`` out when it is empty."""
    if content:
        node["content"] = content
    return node


def _inline(items: Sequence[Inline]) -> list[JSON]:
    """Inline content: text runs (equal neighbours merged, as ProseMirror normalises them) and inline nodes."""
    out: list[JSON] = []
    for item in items:
        if isinstance(item, Node):
            spec = schema.element(item.type)
            if spec is not None and spec.inline:
                out.append(_node(spec, item))
            else:
                out.extend(_inline(item.content))
            continue
        if not item.text:
            continue
        marks = _marks(item.marks)
        last = out[-1] if out else None
        if last is not None and last["type"] == schema.TEXT and last.get("marks") == marks:
            last["text"] += item.text
            continue
        text: JSON = {"type": schema.TEXT, "text": item.text}
        if marks:
            text["marks"] = marks
        out.append(text)
    return out


def _marks(marks: Mapping[str, Mapping[str, Any]]) -> list[JSON] | None:
    """The table's marks of a text run, in the table's order; a mark excluding all others stands alone."""
    out: list[JSON] = []
    for spec in schema.MARKS:
        if spec.name not in marks:
            continue
        attrs = marks[spec.name] or {}
        if spec.repaired_attrs(attrs) is None:
            continue  # an attribute the table validates is unusable (an unsafe link)
        mark: JSON = {"type": spec.name}
        if spec.attrs:
            mark["attrs"] = {attr.name: attr.repaired(attrs) for attr in spec.attrs}
        if spec.excludes == "_":
            return [mark]
        out.append(mark)
    return out or None
