"""The one door through which synchronous Django code (views, the API, the admin, signals, commands) reads or changes
a document: the live room when it is open in this process, the store otherwise.

Reading uses the room's Doc on the event loop that owns it, else a Doc built from storage. A server-side edit is
one CRDT transaction computed against that Doc and delivered like any client's update: through the open room (so
its editors see it at once, it is stored through the store's buffer and published to peer processes), or appended
to the log and announced to room replicas in other processes. Control events (an access change, a deletion, an
operator's close) go through the channel layer to the document's group, so they reach the room replica in every
process (with channels-redis) or in this one (with the in-memory layer, which lives in this process's event loop);
events about a user rather than a document go to the process-wide group every serving process joins
(documents/engine/revocation.py).

About 340 lines, past our usual 300: it is the only door, and each way through it (read, export, replace, apply
an untrusted update, control events) is a few lines over the same two paths, live room or storage.

A raw Yjs update from outside (the REST API's ``update``) is untrusted, unlike server-side edits: it goes through a
room's own receive checks, those of the open room or of one built from storage for it (``receive_update``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from pycrdt import Doc, XmlFragment, merge_updates

from documents.conf import get_config
from documents.engine.registry import loaded_room
from documents.engine.replication import group_name
from documents.engine.revocation import USER_REVOKE, USERS_GROUP
from documents.engine.rooms import Room
from documents.engine.store import DocumentStore, get_store
from documents.engine.update_reader import read_update
from documents.exceptions import CloseCode, InvalidContent, ProtocolError
from documents.richtext import (
    Inline,
    fragment_of,
    parse_html,
    parse_markdown,
    to_html,
    to_markdown,
    to_text,
    write_nodes,
)
from documents.richtext.prosemirror_json import to_prosemirror_json

logger = logging.getLogger("documents.bridge")
T = TypeVar("T")


# -- events for the rooms of every process ----------------------------------------------------------------------------
def _send_control(document_id: Any, event: dict[str, Any]) -> bool:
    return _send(group_name(document_id), event)


def _send(group: str, event: dict[str, Any]) -> bool:
    """Send ``event`` to ``group``; whether the channel layer took it (a failure is logged, not raised)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    event.update(origin="", group=group)
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        logger.exception("could not send %s to %s", event["type"], group)
        return False
    return True


def announce_access_change(document_id: Any, user_id: Any) -> None:
    """Tell every process that ``user_id``'s role on ``document_id`` changed, so live sockets follow it."""
    _send_control(document_id, {"type": "room.access", "user_id": int(user_id)})


def announce_user_revoked(user_id: Any, code: int, reason: str, credential: str | None = None) -> None:
    """Close ``user_id``'s live connections in every process, with ``code``: those that authenticated with
    ``credential`` (a ``revocation.credential_digest``), or all of them when it is None."""
    event = {"type": USER_REVOKE, "user_id": int(user_id), "code": code, "reason": reason, "credential": credential}
    _send(USERS_GROUP, event)


def announce_update(document_id: Any, update: bytes) -> None:
    """Send an already stored update to the room replicas of every process (they apply it without storing it)."""
    _send_control(document_id, {"type": "room.update", "update": update})


def announce_document_deleted(document_id: Any) -> None:
    """Close every live connection to a deleted document, in every process."""
    _send_control(document_id, {"type": "room.close", "code": CloseCode.DOCUMENT_GONE, "reason": "document deleted"})


def close_all_connections(document_id: Any, code: int = CloseCode.CLOSED_BY_OPERATOR) -> bool:
    """Close every live connection to a document, in every process (an operator's action), with ``code`` (one
    clients reconnect after); whether the channel layer took the event."""
    return _send_control(document_id, {"type": "room.close", "code": int(code), "reason": "closed by an operator"})


def with_live_doc(document_id: Any, func: Callable[[Any], T]) -> tuple[bool, T | None]:
    """Run ``func(doc)`` on the live room's Doc, on the event loop that owns it, if the room is open here.

    Returns:
        (True, result) when the room is open in this process, else (False, None).
    """
    room = loaded_room(document_id)
    if room is None:
        return False, None

    async def run() -> T:
        return func(room.doc)

    return True, async_to_sync(run)()


# -- reading -----------------------------------------------------------------------------------------------------------
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


# -- server-side edits -------------------------------------------------------------------------------------------------
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


def _on_open_room(document_id: Any, act: Callable[[Room], Awaitable[T]]) -> tuple[bool, T | None]:
    """Run ``act(room)`` on the event loop of the room open in this process: (True, its result), or (False, None)
    when no room is open here (or it closed before its loop got to it)."""
    if loaded_room(document_id) is None:
        return False, None

    async def run() -> tuple[bool, T | None]:
        room = loaded_room(document_id)
        if room is None or room.closed:
            return False, None
        return True, await act(room)

    return async_to_sync(run)()


def _apply_live(document_id: Any, change: Change) -> tuple[bool, bytes | None]:
    """Apply the change through the room open in this process, on its event loop; (False, None) if none is open."""

    async def act(room: Room) -> bytes | None:
        update = change(room.doc)
        return None if update is None else await room.change(update)

    return _on_open_room(document_id, act)


def _apply_stored(document: Any, change: Change) -> bytes | None:
    """Apply the change to the stored state: append it to the log, and tell room replicas in other processes."""
    store = get_store()
    update = change(store.read_sync(document.pk).doc())
    if update is None:
        return None
    store.backend.append_edit(document.pk, update)
    transaction.on_commit(lambda: announce_update(document.pk, update))
    return update


# -- whole-state exports -----------------------------------------------------------------------------------------------
def export_update(document: Any) -> bytes:
    """The document's whole state as one Yjs update: applied to an empty Doc, it gives the document."""
    return read_document(document, lambda doc: doc.get_update())


def export_prosemirror(document: Any) -> dict[str, Any]:
    """The document as ProseMirror JSON (``{"type": "doc", "content": [...]}``, see richtext.prosemirror_json)."""
    return read_document(document, lambda doc: to_prosemirror_json(fragment_of(doc)))


# -- raw updates from outside (the REST API) ---------------------------------------------------------------------------
@dataclass(eq=False)
class RequestWriter:
    """The author of an update sent over HTTP, standing where a room expects a connection: the room checks and
    stores its update as any writer's, and sends it nothing (it is no member, so every connection gets the change)."""

    user: Any
    user_id: int
    user_name: str
    id: str = "http"
    user_color: str = ""
    can_write: bool = True

    async def send(self, message: bytes) -> None:
        """Nothing is sent back over HTTP."""

    async def close(self, code: int, reason: str = "") -> None:
        """There is no socket to close."""

    def backlog(self) -> int:
        """Nothing is ever queued."""
        return 0


@dataclass
class _KeptRows:
    """Stands in for the store under a room built to check one update: keeps what the room would have appended."""

    rows: list[bytes] = field(default_factory=list)

    def can_accept(self, document_id: Any, size: int) -> bool:
        return True  # the rows are written at once, on this thread, not buffered

    def append(self, document_id: Any, update: bytes) -> None:
        self.rows.append(update)


def receive_update(document: Any, update: bytes, user: Any) -> bytes | None:
    """Apply an untrusted Yjs update written by ``user`` exactly as a connection's update is applied.

    Through the room open in this process (its editors see it at once; it is stored and sent to peer processes),
    else through a room built from storage for the purpose, whose result is appended to the log and announced to the
    room replicas of other processes. Either way the room's own checks hold (strict decoding, structural budgets,
    client-id ownership, the size cap, whole-or-nothing integration). An update that builds on changes the document
    does not have is refused rather than held: over HTTP nobody would send the missing part.

    Returns:
        The normalised update of what changed, or None when the document already held all of it.

    Raises:
        ProtocolError: malformed, corrupt, not ready, or adding to another user's client id (nothing changed).
        UpdateTooComplex, DocumentTooLarge, StoreUnavailable: as for a connection (nothing changed).
    """
    writer = RequestWriter(user=user, user_id=int(user.pk), user_name=user.get_username(), id=f"http:{user.pk}")
    delivered, changed = _receive_live(document.pk, update, writer)
    if delivered:
        return changed
    return _receive_stored(document, update, writer)


async def _change_if_ready(room: Room, update: bytes, writer: RequestWriter) -> bytes | None:
    if not room.live.is_ready(read_update(update)):
        raise ProtocolError(
            "the update builds on changes the document does not have: compute it against the current state "
            "(export?format=yjs)"
        )
    return await room.change(update, origin=writer)


def _receive_live(document_id: Any, update: bytes, writer: RequestWriter) -> tuple[bool, bytes | None]:
    """Apply through the room open in this process, on its event loop; (False, None) if none is open."""
    return _on_open_room(document_id, lambda room: _change_if_ready(room, update, writer))


def _receive_stored(document: Any, update: bytes, writer: RequestWriter) -> bytes | None:
    """Check and integrate in a room of the stored state, then append what changed and tell other processes."""
    store = get_store()
    kept = _KeptRows()
    # The room only needs ``can_accept`` and ``append`` from its store; it is never registered nor joined.
    room = Room(document.pk, cast(DocumentStore, kept), None)
    try:
        room.load(store.read_sync(document.pk))
        changed = async_to_sync(_change_if_ready)(room, update, writer)
    finally:
        room.close()
    for row in kept.rows:
        store.backend.append_edit(document.pk, row)

    def announce() -> None:
        for row in kept.rows:
            announce_update(document.pk, row)

    transaction.on_commit(announce)
    return changed
