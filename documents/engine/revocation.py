"""Authority ends with access: an open socket keeps only the authority its credential, account and role still give.

A WebSocket is authorised once, at its handshake. Whatever later takes that authority away ends it (docs/security.md):

- Per-document changes (a membership removed or changed, the owner changed, the document deleted) travel the
  document's group as ``room.access`` and ``room.close`` (documents/bridge.py, ``RoomRegistry.recheck_access``).
- Per-user changes (an API token deleted, a session logged out, an account deactivated or deleted, a password
  changed) are tied to no document: they travel the process-wide group ``collab.users``, which every serving process
  joins with a channel of its own, as ``user.revoke`` events naming the user, the close code and the credential they
  end (its digest, or None for every connection of the user). This works with the in-memory layer in one process
  and with channels-redis across processes, like the document groups.
- Every ``REVALIDATE_SECONDS`` each process re-checks its open connections against the database: the credential
  still exists (the token, the session and its password hash), the account is active with the password it had at
  the handshake, and the role on the document (one query per user per room). A change made without a signal (a
  queryset ``update()``, an expired session) or an event the lossy channel layer dropped ends within that period.

Connections remember which credential authenticated them (documents/engine/credentials.py); events carry a digest
of it, never the token key or session key themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from documents import logcontext
from documents.conf import get_config
from documents.engine.credentials import credential_of, invalid_credentials
from documents.exceptions import DATABASE_ERRORS, CloseCode

if TYPE_CHECKING:
    from documents.engine.registry import RoomRegistry
    from documents.engine.rooms import Connection, Room

logger = logging.getLogger("documents.engine.revocation")

# The channel-layer group every serving process joins for events about users (not tied to one document).
USERS_GROUP = "collab.users"
USER_REVOKE = "user.revoke"
# How long the revocations a process heard are remembered, for handshakes that were under way when they came.
RECENT_SECONDS = 120.0


class Revocations:
    """This process's listener for per-user events and its periodic re-validation of open connections.

    Attributes:
        registry: the rooms whose connections it ends.
        channel: this process's channel in ``USERS_GROUP`` (None without a channel layer).
        recent: revocations heard lately, (monotonic time, user id, credential digest or None), checked against
            connections that finish their handshake after the event came.
    """

    def __init__(self, registry: RoomRegistry) -> None:
        self.registry = registry
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.recent: list[tuple[float, int, str | None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Join the users group and start the listener and the periodic re-validation."""
        loop = asyncio.get_running_loop()
        if self.layer is not None:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(USERS_GROUP, self.channel)
            self._tasks.append(loop.create_task(self._read()))
        self._tasks.append(loop.create_task(self._revalidate_forever()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- per-user events ------------------------------------------------------------------------------------------
    async def _read(self) -> None:
        assert self.layer is not None and self.channel is not None
        failing = False
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:  # once per outage, not once a second
                    logger.warning("receiving %s events failed (%s); retrying every second", USERS_GROUP, exc)
                failing = True
                await asyncio.sleep(1)
                continue
            if failing:
                logger.warning("receiving %s events works again", USERS_GROUP)
                failing = False
            if event.get("type") != USER_REVOKE:
                continue
            try:
                await self.revoke_user(
                    int(event["user_id"]),
                    int(event.get("code", CloseCode.CREDENTIALS_INVALID)),
                    str(event.get("reason", "")),
                    event.get("credential"),
                )
            except Exception:
                logger.exception("handling %s failed", event.get("type"))

    async def revoke_user(self, user_id: int, code: int, reason: str, credential: str | None) -> int:
        """Close ``user_id``'s connections in every room of this process, those made with ``credential`` (a
        digest) or all of them (None). Returns how many were closed."""
        now = time.monotonic()
        self.recent = [entry for entry in self.recent if now - entry[0] < RECENT_SECONDS]
        self.recent.append((now, user_id, credential))
        closed = 0
        for room in list(self.registry.rooms.values()):
            for connection in room.connections_of(user_id):
                held = credential_of(connection)
                if credential is not None and (held is None or held.digest != credential):
                    continue
                await self._end(room, connection, code, reason)
                closed += 1
        return closed

    async def admitted(self, room: Room | None, connection: Connection) -> bool:
        """Whether a connection that just joined may stay: no revocation of its credential came during its
        handshake (after the credential was looked up, before the connection was in a room). Closes it if one did.
        """
        held = credential_of(connection)
        if room is None or held is None:
            return True
        for at, user_id, digest in self.recent:
            if at >= held.checked_at and user_id == connection.user_id and digest in (None, held.digest):
                await self._end(
                    room, connection, CloseCode.CREDENTIALS_INVALID, "credentials revoked during the handshake"
                )
                return False
        return True

    async def _end(self, room: Room, connection: Connection, code: int, reason: str) -> None:
        if connection not in room.members:
            return
        logger.info(
            "closing %s of user %s on %s with %d: %s",
            connection.id,
            connection.user_id,
            room.document_id,
            code,
            reason,
            extra=logcontext.fields(room.document_id, connection.id, connection.user_id),
        )
        await connection.close(code, reason)
        await self.registry.leave(room, connection)

    # -- periodic re-validation ---------------------------------------------------------------------------------
    async def _revalidate_forever(self) -> None:
        while True:
            await asyncio.sleep(get_config().REVALIDATE_SECONDS)
            try:
                await self.revalidate()
            except DATABASE_ERRORS as exc:
                # Nothing is closed on a guess: the next period checks again.
                logger.warning("re-validation of open connections skipped: database unavailable (%s)", exc)
            except Exception:
                logger.exception("re-validation of open connections failed")

    async def revalidate(self) -> None:
        """Check every open connection of this process against the database now; end what no longer holds."""
        if self.layer is not None and self.channel is not None:
            # Group memberships expire in Redis (and vanish if it is emptied): keep this process in the group. The
            # database checks below go on without the channel layer: they are what covers its outages.
            try:
                await self.layer.group_add(USERS_GROUP, self.channel)
            except Exception as exc:
                logger.warning("could not renew the %s group membership (%s)", USERS_GROUP, exc)
        rooms = [room for room in list(self.registry.rooms.values()) if room.members]
        connections = [(room, connection) for room in rooms for connection in tuple(room.members)]
        if not connections:
            return
        invalid = await database_sync_to_async(invalid_credentials)([connection for _, connection in connections])
        for index, (room, connection) in enumerate(connections):
            if index in invalid:
                await self._end(room, connection, CloseCode.CREDENTIALS_INVALID, "credentials no longer valid")
        for room in rooms:
            for user_id in {connection.user_id for connection in room.members}:
                await self.registry.recheck_access(room, user_id)


_service: Revocations | None = None
_starting: asyncio.Task[Revocations] | None = None


async def watch(registry: RoomRegistry) -> Revocations:
    """This process's ``Revocations``, started on first use (by the first WebSocket connection)."""
    global _starting
    if _service is not None:
        return _service
    if _starting is None:
        _starting = asyncio.get_running_loop().create_task(_start(registry))
    return await asyncio.shield(_starting)


async def _start(registry: RoomRegistry) -> Revocations:
    global _service, _starting
    try:
        service = Revocations(registry)
        await service.start()
        _service = service
        return service
    finally:
        _starting = None


def loaded_service() -> Revocations | None:
    """The process's ``Revocations`` if it runs a server, else None."""
    return _service
