"""Reading a document's content: from the live room when it is open in this process, else from storage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc

from .exceptions import InvalidContent
from .live import with_live_doc
from .prosemirror import fragment_of, to_html, to_markdown, to_text
from .store import get_store

T = TypeVar("T")
EXPORT_FORMATS = ("markdown", "html", "text")
_RENDERERS: dict[str, Callable[[Any], str]] = {"markdown": to_markdown, "html": to_html, "text": to_text}


def read_document(document: Any, func: Callable[[Doc], T]) -> T:
    """Apply ``func`` to the document's current Doc (the live one if open here, else one built from storage)."""
    live, result = with_live_doc(document.pk, func)
    if live:
        return result  # type: ignore[return-value]
    return func(get_store().read_sync(document.pk).doc())


def document_text(document: Any) -> str:
    """The document's plain text: its blocks' text joined by newlines."""
    return read_document(document, lambda doc: to_text(fragment_of(doc)))


def export_document(document: Any, fmt: str) -> str:
    """The document rendered as ``fmt`` (one of EXPORT_FORMATS)."""
    if fmt not in _RENDERERS:
        raise InvalidContent(f"unknown format {fmt!r}")
    render = _RENDERERS[fmt]
    return read_document(document, lambda doc: render(fragment_of(doc)))
