"""Named versions of a document: taking one (its full Yjs state) and restoring one as a new CRDT transaction."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pycrdt import Doc

from documents.bridge import apply_change, read_document, replace_nodes
from documents.conf import get_config
from documents.engine.hooks import Hooks
from documents.models import Version
from documents.richtext import fragment_of, read_nodes, to_html, to_text


def create_version(document: Any, name: str, author: Any, automatic: bool = False) -> Version:
    """Save the document's current full state as a version."""
    state = read_document(document, lambda doc: doc.get_update())
    user = author if getattr(author, "is_authenticated", False) else None
    return Version.objects.create(
        document=document, name=name[: Version.NAME_MAX_LENGTH], author=user, automatic=automatic, state=state
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


# -- automatic versions: the engine's lifecycle events (documents/engine/hooks.py) ----------------------------------
@dataclass
class _Session:
    """What automatic versioning remembers of an open room: its state vector when loaded or last versioned, and
    the ``time.monotonic()`` of that moment."""

    state_vector: bytes
    at: float


_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()


def subscribe(events: Hooks) -> None:
    """Keep automatic versions: at the end of every editing session and at most every ``AUTO_VERSION_MINUTES``."""
    events.subscribe("room_loaded", _remember_loaded)
    events.subscribe("room_unloaded", version_after_session)
    events.subscribe_housekeeping(version_if_active, lambda: min(30.0, get_config().AUTO_VERSION_MINUTES * 30))


def _remember_loaded(room: Any) -> None:
    _sessions[room] = _Session(room.doc.get_state(), time.monotonic())


async def version_after_session(room: Any) -> None:
    """Keep an automatic version when a room that was changed unloads: an editing session ended."""
    await _auto_version(room, f"Editing session ended {timezone.now():%Y-%m-%d %H:%M} UTC")
    _sessions.pop(room, None)


async def version_if_active(room: Any, now: float) -> None:
    """Keep an automatic version of a room being edited, at most every ``AUTO_VERSION_MINUTES``."""
    session = _sessions.get(room)
    if session is not None and now - session.at >= get_config().AUTO_VERSION_MINUTES * 60:
        session.at = now
        await _auto_version(room, f"Automatic version {timezone.now():%Y-%m-%d %H:%M} UTC")


async def _auto_version(room: Any, name: str) -> None:
    session = _sessions.get(room)
    state_vector = room.doc.get_state()
    if session is None or state_vector == session.state_vector:
        return
    session.state_vector = state_vector
    try:
        await Version.objects.acreate(
            document_id=room.document_id, name=name, author=None, automatic=True, state=room.doc.get_update()
        )
    except IntegrityError:  # the document was deleted meanwhile
        return
