"""Repair node trees to the editor's schema before they are written, so every editor can open what the server wrote.

y-prosemirror removes from the shared document whatever the editor's schema cannot hold, so content that does not
fit would be lost as soon as an editor opened it. ProseMirror's own checks are JavaScript; these rules follow from
each row's content kind in ``schema``: a list item starts with a paragraph, a blockquote holds blocks, a code
block holds one unmarked text, inline content holds only text and inline nodes with the table's marks, unknown
containers are replaced by their content, and the empty document is one empty paragraph. Nesting deeper than
MAX_DEPTH is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from documents.richtext import schema
from documents.richtext.model import MAX_DEPTH, Inline, Node, Text, too_deep


def repair(nodes: Sequence[Inline]) -> list[Node]:
    """The blocks to write for nodes: valid in the editor's schema, never empty."""
    return _blocks(nodes, 0) or [Node(schema.DEFAULT_BLOCK)]


def _blocks(items: Sequence[Inline], depth: int) -> list[Node]:
    """Repair a block sequence: stray inline content becomes paragraphs; refuse absurd nesting."""
    if depth > MAX_DEPTH:
        raise too_deep()
    out: list[Node] = []
    loose: list[Inline] = []
    for item in [*items, None]:
        if isinstance(item, Text) or (isinstance(item, Node) and schema.is_inline(item.type)):
            loose.append(item)
            continue
        if loose:
            out.append(Node(schema.DEFAULT_BLOCK, content=_inline(loose)))
            loose = []
        if item is not None:
            out.extend(_block(item, depth))
    return out


def _block(node: Node, depth: int) -> list[Node]:
    """Repair one block node (unknown containers are replaced by their content)."""
    spec = schema.block(node.type)
    if spec is None:
        return _blocks(node.content, depth + 1)
    attrs = spec.repaired_attrs(node.attrs)
    if spec.kind == "inline":
        return [Node(spec.name, attrs, _inline(node.content))]
    if spec.kind == "plain":
        code = "".join(c.text if isinstance(c, Text) else "\n" for c in node.content)
        return [Node(spec.name, attrs, [Text(code)] if code else [])]
    if spec.kind == "items":
        items: list[Inline] = [_item(child, spec.child, depth + 1) for child in node.content if isinstance(child, Node)]
        return [Node(spec.name, attrs, items or [_item(Node(spec.child), spec.child, depth + 1)])]
    if spec.kind == "item":
        return _block(Node(schema.list_of(spec.name), content=[node]), depth)
    if spec.kind == "blocks":
        blocks = _blocks(node.content, depth + 1) or [Node(schema.DEFAULT_BLOCK)]
        return [Node(spec.name, attrs, cast("list[Inline]", blocks))]
    return [Node(spec.name, attrs)]  # a leaf


def _item(node: Node, item: str, depth: int) -> Node:
    """An item (of type ``item``) whose first child is the block its content expression starts with."""
    spec = cast(schema.NodeSpec, schema.element(item))
    content = _blocks(node.content if node.type == item else [node], depth + 1)
    if not content or content[0].type != spec.child:
        content.insert(0, Node(spec.child))
    return Node(item, spec.repaired_attrs(node.attrs if node.type == item else {}), cast("list[Inline]", content))


def _inline(items: list[Inline]) -> list[Inline]:
    """Keep text (with schema marks, equal neighbours merged) and inline nodes; flatten anything else."""
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Node):
            spec = schema.element(item.type)
            if spec and spec.inline:
                out.append(Node(item.type, spec.repaired_attrs(item.attrs)))
            else:
                out.extend(_inline(item.content))
            continue
        marks = _marks(item.marks)
        if out and isinstance(out[-1], Text) and out[-1].marks == marks:
            out[-1] = Text(out[-1].text + item.text, marks)
        elif item.text:
            out.append(Text(item.text, marks))
    return out


def _marks(marks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Encode the table's marks as y-prosemirror does: name -> full attrs; a mark excluding all others wins alone.

    Attrs a stored mark already has (a restored version's link) are kept; the editor's defaults fill the rest.
    """
    for spec in schema.MARKS:
        if spec.excludes == "_" and spec.name in marks:
            return {spec.name: spec.repaired_attrs(marks[spec.name] or {}) or {}}
    out: dict[str, dict[str, Any]] = {}
    for spec in schema.MARKS:
        attrs = spec.repaired_attrs(marks[spec.name] or {}) if spec.name in marks else None
        if attrs is not None:
            out[spec.name] = attrs
    return out
