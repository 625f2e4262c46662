"""Bridges from synchronous Django code (views, admin, signals) to the live rooms of every process.

Control events go through the channel layer to the document's group, so they reach the room replica in every
process (with channels-redis) or in this one (with the in-memory layer, which lives in this process's event loop).
Events about a user rather than a document (a token deleted, a logout, an account deactivated) go to the
process-wide group every serving process joins (documents/revocation.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .registry import CLOSE_BY_OPERATOR, CLOSE_DELETED, loaded_room
from .replication import group_name
from .revocation import USER_REVOKE, USERS_GROUP

logger = logging.getLogger("documents.live")
T = TypeVar("T")


def _send_control(document_id: Any, event: dict[str, Any]) -> None:
    _send(group_name(document_id), event)


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    event.update(origin="", group=group)
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        logger.exception("could not send %s to %s", event["type"], group)


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
    _send_control(document_id, {"type": "room.close", "code": CLOSE_DELETED, "reason": "document deleted"})


def close_all_connections(document_id: Any) -> None:
    """Close every live connection to a document, in every process (an operator's action)."""
    _send_control(document_id, {"type": "room.close", "code": CLOSE_BY_OPERATOR, "reason": "closed by an operator"})


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
