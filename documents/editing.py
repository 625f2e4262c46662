"""Server-side edits: replace a document's content as one CRDT transaction, delivered like any client's update.

When the document's room is open in this process, the update is computed from the live Doc and applied through the
room on the event loop that owns it (so open editors see it at once, it is stored through the store's buffer and
published to peer processes). Otherwise it is computed from storage, appended to the log synchronously, and
announced to room replicas in other processes through the channel layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pycrdt import Doc, XmlFragment, merge_updates

from .conf import get_config
from .exceptions import DocumentTooLarge
from .live import announce_update
from .prosemirror import Inline, fragment_of
from .prosemirror_write import parse_html, parse_markdown, write_nodes
from .registry import loaded_room
from .store import get_store

IMPORT_FORMATS = ("markdown", "html")
_PARSERS: dict[str, Callable[[str], list[Inline]]] = {"markdown": parse_markdown, "html": parse_html}

# Given a Doc holding the current state, return the update that makes the wanted change (None: nothing to do).
Change = Callable[[Doc], "bytes | None"]


def check_content(fmt: Any, content: Any) -> list[Inline]:
    """Validate an import's format and size and parse it.

    Raises:
        ValidationError: keyed by the bad field (``format`` or ``content``).
        InvalidContent: the content cannot be parsed.
    """
    if fmt not in _PARSERS:
        raise ValidationError({"format": [f"Choose one of: {', '.join(IMPORT_FORMATS)}."]})
    if not isinstance(content, str):
        raise ValidationError({"content": ["The content must be text."]})
    limit = get_config().MAX_IMPORT_BYTES
    if len(content.encode("utf-8", "surrogatepass")) > limit:
        raise ValidationError({"content": [f"The content is larger than the {limit}-byte import limit."]})
    return _PARSERS[fmt](content)


def rewrite(doc: Doc, write: Callable[[XmlFragment], None]) -> bytes | None:
    """The update that ``write`` makes to a copy of ``doc``'s state, as one transaction (``doc`` is untouched)."""
    copy: Doc[Any] = Doc()
    copy.apply_update(doc.get_update())
    captured: list[bytes] = []
    copy.observe(lambda event: captured.append(event.update))
    with copy.transaction():
        write(fragment_of(copy))
    if not captured:
        return None
    return captured[0] if len(captured) == 1 else merge_updates(*captured)


def replace_nodes(nodes: Sequence[Inline]) -> Change:
    """A change replacing the whole fragment with ``nodes`` (repaired to the editor's schema)."""
    return lambda doc: rewrite(doc, lambda fragment: write_nodes(fragment, nodes))


def replace_content(document: Any, fmt: str, content: str) -> None:
    """Replace the document's content with Markdown or HTML (sanitised) as one CRDT transaction.

    Raises:
        ValidationError: unknown format or oversized content, keyed by field (the document is unchanged).
        InvalidContent: unusable content (the document is unchanged).
        DocumentTooLarge: the edit would grow the document past its size cap.
    """
    apply_change(document, replace_nodes(check_content(fmt, content)))


def apply_change(document: Any, change: Change) -> bytes | None:
    """Compute ``change`` against the current document and deliver it; returns the update delivered (or None)."""
    delivered, update = _apply_live(document.pk, change)
    if delivered:
        return update
    return _apply_stored(document, change)


def _apply_live(document_id: Any, change: Change) -> tuple[bool, bytes | None]:
    """Apply the change through the room open in this process, on its event loop; (False, None) if none is open."""
    if loaded_room(document_id) is None:
        return False, None

    async def run() -> tuple[bool, bytes | None]:
        room = loaded_room(document_id)
        if room is None or room.closed:
            return False, None
        update = change(room.doc)
        return True, (None if update is None else await room.change(update))

    return async_to_sync(run)()


def _apply_stored(document: Any, change: Change) -> bytes | None:
    """Apply the change to the stored state: append it to the log, and tell room replicas in other processes."""
    from .models import Document, DocumentUpdate

    update = change(get_store().read_sync(document.pk).doc())
    if update is None:
        return None
    if document.size_bytes + len(update) > get_config().MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"document {document.pk} is at its size cap")
    with transaction.atomic():
        DocumentUpdate.objects.create(document_id=document.pk, data=update)
        Document.objects.filter(pk=document.pk).update(
            updated_at=timezone.now(), size_bytes=F("size_bytes") + len(update)
        )
    transaction.on_commit(lambda: announce_update(document.pk, update))
    return update
