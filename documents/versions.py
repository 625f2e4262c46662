"""Named versions of a document: taking one (its full Yjs state) and restoring one as a new CRDT transaction."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pycrdt import Doc

from .conf import get_config
from .content import read_document
from .editing import apply_change, replace_nodes
from .models import Version
from .prosemirror import fragment_of, read_nodes, to_html, to_text

MAX_NAME = 200


def create_version(document: Any, name: str, author: Any, automatic: bool = False) -> Version:
    """Save the document's current full state as a version."""
    state = read_document(document, lambda doc: doc.get_update())
    user = author if getattr(author, "is_authenticated", False) else None
    return Version.objects.create(
        document=document, name=name[:MAX_NAME], author=user, automatic=automatic, state=state
    )


def version_doc(version: Version) -> Doc:
    """A Doc holding the version's state."""
    doc: Doc[Any] = Doc()
    doc.apply_update(bytes(version.state))
    return doc


def version_html(version: Version) -> str:
    """The version's content as (sanitised) HTML."""
    return to_html(fragment_of(version_doc(version)))


def version_text(version: Version) -> str:
    """The version's content as plain text."""
    return to_text(fragment_of(version_doc(version)))


def restore_version(document: Any, version: Version, user: Any) -> Version:
    """Make the document equal to ``version`` as one new CRDT transaction every open editor sees at once.

    A version named "Before restoring <name>" is taken first, so restoring it undoes the restore.

    Returns:
        That safety version.
    """
    nodes = read_nodes(fragment_of(version_doc(version)))
    with transaction.atomic():
        backup = create_version(document, f"Before restoring {version.name}", user, automatic=True)
    apply_change(document, replace_nodes(nodes))
    return backup


async def version_after_session(room: Any) -> None:
    """Keep an automatic version when a room that was changed unloads: an editing session ended."""
    await _auto_version(room, f"Editing session ended {timezone.now():%Y-%m-%d %H:%M} UTC")


async def version_if_active(room: Any, now: float) -> None:
    """Keep an automatic version of a room being edited, at most every ``AUTO_VERSION_MINUTES``."""
    if now - room.versioned_at >= get_config().AUTO_VERSION_MINUTES * 60:
        room.versioned_at = now
        await _auto_version(room, f"Automatic version {timezone.now():%Y-%m-%d %H:%M} UTC")


async def _auto_version(room: Any, name: str) -> None:
    state_vector = room.doc.get_state()
    if state_vector == room.versioned_state:
        return
    room.versioned_state = state_vector
    try:
        await Version.objects.acreate(
            document_id=room.document_id, name=name, author=None, automatic=True, state=room.doc.get_update()
        )
    except IntegrityError:  # the document was deleted meanwhile
        return
