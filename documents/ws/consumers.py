"""The WebSocket consumer: authenticate and authorise at connect, then pass bytes between socket and room."""

from __future__ import annotations

import itertools
import logging
from typing import Any, cast

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer

from documents import logcontext
from documents.conf import get_config
from documents.engine.credentials import CREDENTIAL
from documents.engine.limits import penalties
from documents.engine.registry import RoomRegistry, get_registry
from documents.engine.revocation import watch
from documents.engine.rooms import Room
from documents.exceptions import (
    BAD_INPUT_CODES,
    DATABASE_ERRORS,
    CloseCode,
    CollabError,
    MessageTooLarge,
    StoreUnavailable,
    UnsupportedFrame,
)
from documents.permissions import Action, aauthorize, allows
from documents.ws.connection import SocketConnection
from documents.ws.middleware import ACCEPT_SUBPROTOCOL, DATABASE_UNAVAILABLE, record_refusal
from documents.ws.transport import RAW_SEND, backlog_reader, frame_writer

logger = logging.getLogger("documents.ws")
_connection_ids = itertools.count(1)


class DocumentConsumer(AsyncConsumer):
    """One WebSocket connection to ``/ws/documents/<id>``, speaking the y-websocket protocol.

    The room sees it as a ``SocketConnection`` (documents/ws/connection.py), created once the handshake is
    authorised.

    The hot path is kept short on purpose. ``AsyncConsumer.__call__`` would add a channel-layer channel and
    receive loop per connection, and ``dispatch`` a thread hop (``aclose_old_connections``) before every message;
    the room holds the process's single channel-layer subscription instead, and messages go straight to it.
    """

    channel_layer_alias = "__no_layer__"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        raw_send = scope.get(RAW_SEND, send)
        self._raw_send = raw_send
        self.connection: SocketConnection | None = None
        self.room: Room | None = None
        self.registry: RoomRegistry | None = None
        self.id = f"ws{next(_connection_ids)}"
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.websocket_receive(message)
                elif kind == "websocket.connect":
                    await self.websocket_connect(message)
                elif kind == "websocket.disconnect":
                    await self.websocket_disconnect(message)
        except StopConsumer:
            pass
        finally:
            await self._leave()

    # -- ASGI events ----------------------------------------------------------------------------------------------
    async def websocket_connect(self, message: dict) -> None:
        """Authorise, accept and join the room, or refuse the handshake (HTTP 403) sending nothing."""
        # AuthMiddlewareStack sets a lazy user object; aauthorize refuses a missing or anonymous one
        self.user = cast(Any, self.scope.get("user"))
        document_id = self.scope["url_route"]["kwargs"]["document_id"]
        # Every later line of this socket (its handlers all run in this task) names it: documents/logcontext.py
        logcontext.bind(document_id, self.id, getattr(self.user, "pk", None))
        if DATABASE_UNAVAILABLE in self.scope:
            await self._try_again_later("authenticating", self.scope[DATABASE_UNAVAILABLE])
        try:
            document, role = await aauthorize(self.user, document_id, Action.VIEW)
        except CollabError as exc:
            logger.warning("ws refused %s for %s: %s", self.scope.get("path"), _describe(self.user), type(exc).__name__)
            record_refusal(self.scope)
            await self.base_send({"type": "websocket.close"})
            raise StopConsumer() from None
        except DATABASE_ERRORS as exc:
            await self._try_again_later("authorising", exc)
        if penalties.refused(self.user.pk):
            logger.warning("ws refused %s for %s: too many closes for bad input", self.scope.get("path"), self.user.pk)
            await self.base_send({"type": "websocket.close"})
            raise StopConsumer()
        connection = self.connection = SocketConnection(
            self.id,
            self.user,
            can_write=allows(role, Action.EDIT),
            # The credential that authenticated the handshake: revoking it ends this connection (engine/revocation.py)
            credential=self.scope.get(CREDENTIAL),
            raw_send=self._raw_send,
            write=frame_writer(self._raw_send),
            backlog=backlog_reader(self._raw_send),
            close=self.close,
        )
        # A real subprotocol the client offered, never its token (the middleware leaves that out)
        await self.base_send({"type": "websocket.accept", "subprotocol": self.scope.get(ACCEPT_SUBPROTOCOL)})
        self.registry = await get_registry()
        revocations = await watch(self.registry)
        try:
            self.room = await self.registry.join(document.pk, connection)
        except DATABASE_ERRORS as exc:
            await self._try_again_later("loading the document", exc)
        if not await revocations.admitted(self.room, connection):
            return
        logger.info("ws %s joined %s as %s (%s)", self.id, document.pk, connection.user_name, role)

    async def _try_again_later(self, doing: str, exc: Exception) -> None:
        """The database does not answer: close with 1013 so the client retries (accepting first, as 1013 needs)."""
        logger.warning("ws %s closed with 1013: database unavailable while %s (%s)", self.id, doing, exc)
        if self.room is None and self.registry is None:
            await self.base_send({"type": "websocket.accept", "subprotocol": self.scope.get(ACCEPT_SUBPROTOCOL)})
        await self.base_send({"type": "websocket.close", "code": int(StoreUnavailable.close_code)})
        raise StopConsumer() from None

    async def websocket_receive(self, message: dict) -> None:
        """Hand a binary frame to the room; refuse text, oversized and bad messages with their close code."""
        data = message.get("bytes")
        try:
            if data is None:
                raise UnsupportedFrame("text frames are not part of the y-websocket protocol")
            if len(data) > get_config().MAX_MESSAGE_BYTES:
                raise MessageTooLarge(f"{len(data)} bytes")
            if self.room is not None and self.connection is not None:
                await self.room.receive(self.connection, data)
        except CollabError as exc:
            logger.warning("ws %s closed with %d: %s: %s", self.id, exc.close_code, type(exc).__name__, exc)
            if exc.close_code in BAD_INPUT_CODES:
                penalties.record(self.user.pk)
            await self.close(exc.close_code)
        except Exception:
            logger.exception("ws %s: unexpected error; closing with %d", self.id, CloseCode.INTERNAL_ERROR)
            await self.close(CloseCode.INTERNAL_ERROR)

    async def websocket_disconnect(self, message: dict) -> None:
        """Leave the room (its presence states disappear for everyone at once)."""
        raise StopConsumer()

    async def close(self, code: int) -> None:
        """Close the socket and leave the room at once, so nothing more is fanned out to it."""
        await self.base_send({"type": "websocket.close", "code": int(code)})  # autobahn wants a plain int
        await self._leave()

    async def _leave(self) -> None:
        room, self.room = self.room, None
        # The connection holds this consumer's bound methods: dropped here, consumer and connection are freed by
        # reference counting when the socket ends, not left as a cycle for the collector.
        connection, self.connection = self.connection, None
        if room is not None and self.registry is not None and connection is not None:
            await self.registry.leave(room, connection)
            logger.info("ws %s left %s", self.id, room.document_id)


class RejectConsumer(AsyncConsumer):
    """Refuses WebSocket handshakes on paths that are not a document (HTTP 403), with a log line."""

    channel_layer_alias = "__no_layer__"

    async def websocket_connect(self, message: dict) -> None:
        logger.warning("ws refused: no such route %s", self.scope.get("path"))
        await self.send({"type": "websocket.close"})
        raise StopConsumer()


def _describe(user: Any) -> str:
    return f"user {user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
