"""Repair node trees to the editor's schema before they are written, so every editor can open what the server wrote.

y-prosemirror removes from the shared document whatever the editor's schema cannot hold, so content that does not
fit would be lost as soon as an editor opened it. ProseMirror's own checks are JavaScript; these rules follow from
each row's content kind in ``schema``: a list item starts with a paragraph, a blockquote holds blocks, a code
block holds one unmarked text, inline content holds only text and inline nodes with the table's marks (a block leaf
met there, such as an image inside a paragraph, splits the paragraph), a table row holds cells and a table is
rectangular (``tables``), a node without a required attribute (an image without a safe source) is dropped, unknown
containers are replaced by their content, and the empty document is one empty paragraph. Nesting deeper than
MAX_DEPTH is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from documents.richtext import schema
from documents.richtext.model import MAX_DEPTH, Inline, Node, Text, too_deep
from documents.richtext.tables import rectangular


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
    if not spec.usable(node.attrs):
        return []
    if spec.kind == "inline":
        return _split(spec.name, attrs, node.content, depth)
    if spec.kind == "plain":
        code = "".join(c.text if isinstance(c, Text) else "\n" for c in node.content)
        return [Node(spec.name, attrs, [Text(code)] if code else [])]
    if spec.kind == "items":
        items: list[Inline] = [_item(child, spec.child, depth + 1) for child in node.content if isinstance(child, Node)]
        out = Node(spec.name, attrs, items or [_item(Node(spec.child), spec.child, depth + 1)])
        return [rectangular(out) if schema.kind_of(spec.child) == "row" else out]
    if spec.kind == "item":
        return _block(Node(schema.list_of(spec.name), content=[node]), depth)
    if spec.kind == "blocks":
        blocks = _blocks(node.content, depth + 1) or [Node(schema.DEFAULT_BLOCK)]
        return [Node(spec.name, attrs, cast("list[Inline]", blocks))]
    return [Node(spec.name, attrs)]  # a leaf


def _split(name: str, attrs: dict[str, Any], content: Sequence[Inline], depth: int) -> list[Node]:
    """A paragraph-like node, cut where its content holds a block leaf (an image), which stands between the parts."""
    kept = [c for c in content if not _unusable(c)]
    if content and not kept:
        return []  # it held only an image without a safe source
    content = kept
    out: list[Node] = []
    part: list[Inline] = []
    for item in [*content, None]:
        spec = schema.block(item.type) if isinstance(item, Node) else None
        if item is not None and (spec is None or spec.kind != "leaf"):
            part.append(item)
            continue
        if part or (not out and item is None):
            out.append(Node(name, attrs, _trimmed(_inline(part), first=not out, last=item is None)))
        part = []
        if isinstance(item, Node):
            out.extend(_block(item, depth + 1))
    return out


def _unusable(item: Inline) -> bool:
    """Whether an item is a block that repair drops for want of a required attribute (an image without a source)."""
    if not isinstance(item, Node):
        return False
    spec = schema.block(item.type)
    return spec is not None and not spec.usable(item.attrs)


def _trimmed(content: list[Inline], first: bool, last: bool) -> list[Inline]:
    """Inline content without the spaces that stood between it and a block leaf cut out beside it."""
    if content and isinstance(content[0], Text) and not first:
        content[0] = Text(content[0].text.lstrip(" "), content[0].marks)
    if content and isinstance(content[-1], Text) and not last:
        content[-1] = Text(content[-1].text.rstrip(" "), content[-1].marks)
    return [c for c in content if not isinstance(c, Text) or c.text]


def _item(node: Node, item: str, depth: int) -> Node:
    """An item (of type ``item``) whose first child is the block its content expression starts with; a row of cells."""
    spec = cast(schema.NodeSpec, schema.element(item))
    if spec.kind == "row":
        return _row(node if node.type == item else Node(item, content=[node]), spec, depth)
    own = node.type == item or schema.kind_of(node.type) == "item"  # an item of another kind of list gives its content
    content = _blocks(node.content if own else [node], depth + 1)
    if not content or content[0].type != spec.child:
        content.insert(0, Node(spec.child))
    return Node(item, spec.repaired_attrs(node.attrs if node.type == item else {}), cast("list[Inline]", content))


def _row(row: Node, spec: schema.NodeSpec, depth: int) -> Node:
    """A table row: its cells repaired (content that is no cell goes in a plain cell); never empty."""
    cells: list[Inline] = []
    for child in row.content or [Node(spec.child)]:
        cell = (
            child
            if isinstance(child, Node) and child.type in schema.cell_types()
            else Node(spec.child, content=[child])
        )
        cell_spec = cast(schema.NodeSpec, schema.element(cell.type))
        blocks = _blocks(cell.content, depth + 1) or [Node(schema.DEFAULT_BLOCK)]
        cells.append(Node(cell.type, cell_spec.repaired_attrs(cell.attrs), cast("list[Inline]", blocks)))
    return Node(spec.name, {}, cells)


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
