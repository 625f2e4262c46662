"""Read and write node trees in a pycrdt XmlFragment, encoded the way y-prosemirror (``@tiptap/y-tiptap``) does.

Every node is an ``XmlElement`` named after the node type whose attributes are the node attrs (``None`` attrs
omitted, numbers stored as numbers), and each stretch of text is one ``XmlText`` whose formatting attributes are
the marks: mark name -> the mark's attrs object, e.g. ``{"bold": {}}`` or ``{"link": {"href": ..., ...}}``.
There is no Python y-prosemirror, so the encoding is spelled out here; the Node cross-checks in
tests/test_prosemirror.py compare it with what the real editor writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pycrdt

from documents.richtext import schema
from documents.richtext.model import MAX_DEPTH, Inline, Node, Text
from documents.richtext.repair import repair

_HASHED_MARK = re.compile(r"(.*)--[a-zA-Z0-9+/=]{8}$")  # y-prosemirror's name for a mark that may overlap itself
_FORWARD_RUNS = 64


def read_nodes(fragment: pycrdt.XmlFragment) -> list[Node]:
    """Read the fragment's content into Node/Text trees (top-level stray text is wrapped in a paragraph)."""
    with fragment.doc.transaction():
        content = _read_children(fragment, 0)
    blocks: list[Node] = []
    loose: list[Inline] = []
    for item in [*content, None]:
        if isinstance(item, Text):
            loose.append(item)
            continue
        if loose:
            blocks.append(Node(schema.DEFAULT_BLOCK, content=loose))
            loose = []
        if item is not None:
            blocks.append(item)
    return blocks


def _read_children(xml: Any, depth: int) -> list[Inline]:
    """Read the children of a fragment or element."""
    out: list[Inline] = []
    if depth > 2 * MAX_DEPTH:
        return out
    for child in xml.children:
        if isinstance(child, pycrdt.XmlText):
            out.extend(_read_text(child))
        elif isinstance(child, pycrdt.XmlElement):
            # pycrdt annotates XmlAttributesView.__iter__ as returning Iterable rather than Iterator
            attrs = {key: _plain(value) for key, value in child.attributes if value is not None}  # type: ignore[attr-defined]
            out.append(Node(child.tag or schema.DEFAULT_BLOCK, attrs, _read_children(child, depth + 1)))
        else:
            out.extend(_read_children(child, depth + 1))
    return out


def _read_text(xml_text: pycrdt.XmlText) -> list[Text]:
    """Read an XmlText's formatted runs; embeds are skipped."""
    runs = []
    for value, attrs in xml_text.diff():
        if isinstance(value, str) and value:
            marks = {_HASHED_MARK.sub(r"\1", key): v if isinstance(v, dict) else {} for key, v in (attrs or {}).items()}
            runs.append(Text(value, {k: v for k, v in marks.items() if v is not None}))
    return runs


def _plain(value: Any) -> Any:
    """Turn integral floats (how Yjs numbers arrive) back into ints."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def write_nodes(fragment: pycrdt.XmlFragment, nodes: Sequence[Inline]) -> None:
    """Repair nodes to the editor's schema, then replace the fragment's content with them in one transaction."""
    blocks = repair(nodes)
    with fragment.doc.transaction():
        del fragment.children[0 : len(fragment.children)]
        _write_content(fragment, blocks)


def _write_content(parent: pycrdt.XmlFragment | pycrdt.XmlElement, content: Sequence[Inline]) -> None:
    """Write content as y-prosemirror does: an XmlElement per node, one XmlText per stretch of text runs.

    Children are inserted back to front at index 0: appending makes yrs walk the whole list each time.
    Text runs are appended (a smaller encoding) unless there are very many of them.
    """
    groups: list[Node | list[Text]] = []
    for item in content:
        if isinstance(item, Node):
            groups.append(item)
        elif groups and isinstance(groups[-1], list):
            groups[-1].append(item)
        else:
            groups.append([item])
    for group in reversed(groups):
        if isinstance(group, Node):
            attrs = {key: value for key, value in group.attrs.items() if value is not None}
            _write_content(parent.children.insert(0, pycrdt.XmlElement(group.type, attrs)), group.content)
            continue
        text = parent.children.insert(0, pycrdt.XmlText())
        if len(group) <= _FORWARD_RUNS:  # appending encodes smaller, but costs a walk over the text each time
            for run in group:
                text.insert(len(text), run.text, run.marks)
        else:
            for run in reversed(group):
                text.insert(0, run.text, run.marks)
