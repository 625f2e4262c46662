"""Authority ends with access: an open socket keeps only the authority its credential, account and role still give.

A WebSocket is authorised once, at its handshake. Whatever later takes that authority away ends it (docs/security.md):

- Per-document changes (a membership removed or changed, the owner changed, the document deleted) travel the
  document's group as ``room.access`` and ``room.close`` (documents/live.py, ``RoomRegistry.recheck_access``).
- Per-user changes (an API token deleted, a session logged out, an account deactivated or deleted, a password
  changed) are tied to no document: they travel the process-wide group ``collab.users``, which every serving process
  joins with a channel of its own, as ``user.revoke`` events naming the user, the close code and the credential they
  end (its digest, or None for every connection of the user). This works with the in-memory layer in one process
  and with channels-redis across processes, like the document groups.
- Every ``REVALIDATE_SECONDS`` each process re-checks its open connections against the database: the credential
  still exists (the token, the session and its password hash), the account is active with the password it had at
  the handshake, and the role on the document (one query per user per room). A change made without a signal (a
  queryset ``update()``, an expired session) or an event the lossy channel layer dropped ends within that period.

Connections remember which credential authenticated them (``Credential``, put in the scope by the WebSocket auth
middleware). Events carry a digest of it, never the token key or session key themselves.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils.crypto import constant_time_compare

from .conf import get_config
from .exceptions import DATABASE_ERRORS, CredentialsInvalid

if TYPE_CHECKING:
    from .registry import RoomRegistry
    from .rooms import Connection, Room

logger = logging.getLogger("documents.revocation")

# The channel-layer group every serving process joins for events about users (not tied to one document).
USERS_GROUP = "collab.users"
USER_REVOKE = "user.revoke"
# Scope key: the Credential that authenticated a WebSocket handshake (set by documents.middleware).
CREDENTIAL = "collab.credential"
CLOSE_CREDENTIALS = CredentialsInvalid.close_code  # 4401
TOKEN = "token"
SESSION = "session"
# How long the revocations a process heard are remembered, for handshakes that were under way when they came.
RECENT_SECONDS = 120.0


@dataclass(frozen=True)
class Credential:
    """What authenticated one connection.

    Attributes:
        kind: ``"token"`` or ``"session"``.
        digest: a digest of the token key or session key; the name events use for it.
        session_key: the session key itself, kept in this process only, to re-read the session.
        checked_at: ``time.monotonic()`` when the handshake looked the credential up.
    """

    kind: str
    digest: str
    session_key: str | None = field(default=None, repr=False)
    checked_at: float = field(default_factory=time.monotonic, compare=False)


def credential_digest(kind: str, secret: str) -> str:
    """The name events use for a token key or session key (the secret never travels the channel layer)."""
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()[:32]


def token_credential(key: str) -> Credential:
    return Credential(TOKEN, credential_digest(TOKEN, key))


def session_credential(session_key: str) -> Credential:
    return Credential(SESSION, credential_digest(SESSION, session_key), session_key)


def handshake_credential(token_key: str | None, session: Any, user: Any, checked_at: float) -> Credential | None:
    """The credential that authenticated ``user`` at a handshake: the token if one was given, else the session."""
    if not getattr(user, "is_authenticated", False):
        return None
    if token_key is not None:
        return Credential(TOKEN, credential_digest(TOKEN, token_key), None, checked_at)
    session_key = getattr(session, "session_key", None) if session is not None else None
    if not session_key:
        return None
    return Credential(SESSION, credential_digest(SESSION, session_key), session_key, checked_at)


def credential_of(connection: Any) -> Credential | None:
    return getattr(connection, "credential", None)


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
                    int(event.get("code", CLOSE_CREDENTIALS)),
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
                await self._end(room, connection, CLOSE_CREDENTIALS, "credentials revoked during the handshake")
                return False
        return True

    async def _end(self, room: Room, connection: Connection, code: int, reason: str) -> None:
        if connection not in room.members:
            return
        logger.info(
            "closing %s of user %s on %s with %d: %s", connection.id, connection.user_id, room.document_id, code, reason
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
                await self._end(room, connection, CLOSE_CREDENTIALS, "credentials no longer valid")
        for room in rooms:
            for user_id in {connection.user_id for connection in room.members}:
                await self.registry.recheck_access(room, user_id)


def invalid_credentials(connections: list[Any]) -> set[int]:
    """The indexes of ``connections`` whose credential no longer holds (synchronous: runs in a database thread).

    A connection holds while its account exists, is active and has the password hash it had at the handshake, and
    its token still exists or its session still authenticates that user with that password. Queries: one for the
    accounts, one for the tokens, one per distinct session.
    """
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user_ids = {connection.user_id for connection in connections}
    users = {user.pk: user for user in get_user_model()._default_manager.filter(pk__in=user_ids)}
    token_users = {
        connection.user_id
        for connection in connections
        if (credential := credential_of(connection)) is not None and credential.kind == TOKEN
    }
    tokens: dict[int, set[str]] = {}
    if token_users:
        for user_id, key in Token.objects.filter(user_id__in=token_users).values_list("user_id", "key"):
            tokens.setdefault(user_id, set()).add(credential_digest(TOKEN, key))
    sessions: dict[str, dict[str, Any]] = {}
    invalid = set()
    for index, connection in enumerate(connections):
        user = users.get(connection.user_id)
        credential = credential_of(connection)
        if user is None or not getattr(user, "is_active", True) or not _same_password(connection, user):
            invalid.add(index)
        elif credential is None:
            continue
        elif credential.kind == TOKEN:
            if credential.digest not in tokens.get(user.pk, ()):
                invalid.add(index)
        elif credential.kind == SESSION and credential.session_key:
            if credential.session_key not in sessions:
                sessions[credential.session_key] = _session_data(credential.session_key)
            if not _session_authenticates(sessions[credential.session_key], user):
                invalid.add(index)
    return invalid


def _same_password(connection: Any, user: Any) -> bool:
    """Whether the account's password hash is the one the connection's user had at the handshake."""
    then = getattr(getattr(connection, "user", None), "password", None)
    return then is None or constant_time_compare(then, user.password)


def _session_data(session_key: str) -> dict[str, Any]:
    """A session's data, or {} when it is gone or expired (read only: the session is not saved or flushed)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return dict(store.load())


def _session_authenticates(data: dict[str, Any], user: Any) -> bool:
    """Whether session ``data`` still signs ``user`` in, as ``django.contrib.auth.get_user`` decides it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    if data.get(SESSION_KEY) != user._meta.pk.value_to_string(user):
        return False
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    hashes: Iterable[str] = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, candidate) for candidate in hashes)


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
