"""One WebSocket as a room sees it: the ``Connection`` of documents/engine/rooms.py, apart from the consumer.

The consumer speaks ASGI (dict messages in and out); the room speaks y-websocket bytes. Keeping the room's side in
its own object means neither overrides the other's ``send``. Sending is the hot path of fan-out: under daphne it
writes the pre-framed message straight to the socket (documents/ws/transport.py), else through ASGI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from documents.identity import display_name, user_color


class SocketConnection:
    """An authorised WebSocket in a room.

    Attributes:
        id: the connection's id in logs (``ws<N>``).
        user: the authenticated user (as at the handshake: its password hash is compared on re-validation).
        can_write: whether its document updates are applied (editor or owner); changed when the role changes.
        credential: what authenticated the handshake (documents/engine/credentials.py), or None.
    """

    def __init__(
        self,
        connection_id: str,
        user: Any,
        can_write: bool,
        credential: Any,
        raw_send: Callable[[dict[str, Any]], Awaitable[None]],
        write: Callable[[bytes], None] | None,
        backlog: Callable[[], int] | None,
        close: Callable[[int], Awaitable[None]],
    ) -> None:
        self.id = connection_id
        self.user = user
        self.user_id: int = user.pk
        self.user_name = display_name(user)
        self.user_color = user_color(user)
        self.can_write = can_write
        self.credential = credential
        self._raw_send = raw_send
        self._write = write
        self._backlog = backlog
        self._close = close

    async def send(self, message: bytes) -> None:
        """Send one y-websocket message (straight to the socket under daphne)."""
        if self._write is not None:
            self._write(message)
        else:
            await self._raw_send({"type": "websocket.send", "bytes": message})

    def backlog(self) -> int:
        """Bytes sent to this connection that have not left for the network yet."""
        return self._backlog() if self._backlog is not None else 0

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket and leave the room at once, so nothing more is fanned out to it."""
        await self._close(code)
