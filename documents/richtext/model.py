"""The document model every richtext module shares: node and text trees, the fragment they live in, and limits.

A ProseMirror document is a tree of ``Node`` (type name, attrs, content) whose leaves are ``Text`` runs carrying
marks (mark name -> the mark's attrs). Readers build these trees from the Yjs fragment or from imported Markdown
or HTML; writers render them or write them back. Which node types, marks and attrs exist is ``schema``'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pycrdt

from documents.exceptions import InvalidContent

FRAGMENT_NAME = "default"  # the Y.XmlFragment the editor's Collaboration extension edits (frontend/src/editor.js)
MAX_DEPTH = 50  # deepest node nesting accepted on import; reading stops descending a little further down
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})  # link schemes kept; relative links are kept too
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


@dataclass
class Text:
    """A run of text with its marks (mark name -> mark attrs)."""

    text: str
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Node:
    """A ProseMirror node: type name, attrs and content (nodes or text runs)."""

    type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    content: list[Node | Text] = field(default_factory=list)


Inline = Text | Node
Mark = tuple[str, tuple[tuple[str, Any], ...]]  # a mark as a hashable value: (name, sorted attr items)


def fragment_of(doc: pycrdt.Doc) -> pycrdt.XmlFragment:
    """Return the document's shared XmlFragment that the Tiptap Collaboration extension edits."""
    return doc.get(FRAGMENT_NAME, type=pycrdt.XmlFragment)


def safe_href(href: Any) -> str | None:
    """Return the href if it is relative or uses http/https/mailto, else None."""
    if not isinstance(href, str):
        return None
    href = href.strip()
    probe = re.sub(r"[\x00-\x20\x7f]", "", href)
    match = _SCHEME.match(probe)
    if not href or (match and match.group(1).lower() not in SAFE_SCHEMES):
        return None
    return href


def as_int(value: Any, default: int) -> int:
    """Coerce a node attr (Yjs numbers arrive as floats, or strings from other writers) to an int."""
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def too_deep(limit: int = MAX_DEPTH, what: str = "content", unit: str = "levels") -> InvalidContent:
    """The error for input nested deeper than the limit."""
    return InvalidContent(f"The {what} is nested more than {limit} {unit} deep.")


def checked_input(value: Any, kind: str) -> str:
    """Refuse imported content that is not a string of valid Unicode; kind names the format in the message."""
    if not isinstance(value, str):
        raise InvalidContent(f"{kind} content must be text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidContent(f"{kind} content is not valid Unicode.") from exc
    return value
