"""The live session of one document in one process: its pycrdt Doc, awareness, and local connections.

A room applies what connections send, fans it out to the other local connections in one pass, hands document
updates to the store and to peer processes (through ``PeerLink``), and answers sync requests from memory.
It never sees a socket: connections are anything with the small ``Connection`` interface.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from pycrdt import Awareness, Doc, get_update, merge_updates

from .conf import get_config
from .exceptions import DocumentTooLarge, ProtocolError, RateLimited
from .protocol import (
    EMPTY_UPDATE,
    AwarenessMessage,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_awareness_update,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    parse_awareness_update,
)
from .ratelimit import TokenBucket
from .store import DocumentStore, has_items, pack_updates

logger = logging.getLogger("documents.rooms")
# Keep the in-memory history short: every so many updates it is merged into size-bounded pieces.
HISTORY_PACK_EVERY = 256


class Connection(Protocol):
    """What a room needs from one client connection."""

    id: str
    user: Any
    user_id: int
    user_name: str
    user_color: str
    can_write: bool

    async def send(self, message: bytes) -> None:
        """Send one framed message; must not block on a slow client."""

    async def close(self, code: int, reason: str = "") -> None:
        """Close the connection with a WebSocket close code."""


class Peers(Protocol):
    """What a room needs from the link to the same room in other processes."""

    def publish_update(self, document_id: uuid.UUID, update: bytes) -> None: ...

    def publish_awareness(self, document_id: uuid.UUID, payload: bytes) -> None: ...


@dataclass(eq=False)
class Member:
    """A connection inside a room, with the awareness client ids it controls and its rate allowances."""

    connection: Connection
    awareness_ids: set[int] = field(default_factory=set)
    update_bucket: TokenBucket = field(default_factory=lambda: _bucket("UPDATES"))
    awareness_bucket: TokenBucket = field(default_factory=lambda: _bucket("AWARENESS"))


def _bucket(kind: str) -> TokenBucket:
    config = get_config()
    return TokenBucket(getattr(config, f"RATE_{kind}_PER_SECOND"), getattr(config, f"RATE_{kind}_BURST"))


def is_decode_failure(exc: BaseException) -> bool:
    """Whether pycrdt rejected bytes: a ValueError, or a Rust panic (``pyo3_runtime.PanicException``)."""
    return isinstance(exc, ValueError) or type(exc).__name__ == "PanicException"


class Room:
    """One open document in this process.

    Attributes:
        document_id: the document's primary key.
        doc: the authoritative in-memory Yjs document.
        awareness: presence states of every client (local and in peer processes).
        members: local connections and what they control.
        awareness_owners: which local member controls each awareness client id (nobody else may change it).
        history: the stored updates plus every update applied since, merged into size-bounded pieces; sent to a
            joining client in pieces when one sync message would exceed the transport's size limit.
        size: bytes of Yjs state held (an upper bound: updates applied since the last measure are added up),
            checked against the document size cap.
        closed: set once the room starts unloading; the registry then loads a fresh room for new joiners.
        versioned_state: the Doc's state vector when loaded or last versioned automatically.
        versioned_at: the ``time.monotonic()`` of that moment.
    """

    def __init__(self, document_id: uuid.UUID, store: DocumentStore, peers: Peers | None) -> None:
        self.document_id = document_id
        self.doc: Doc[Any] = Doc()
        self.awareness = Awareness(self.doc)
        # The server shows no presence of its own (as the reference server).
        self.awareness.set_local_state(None)
        self.members: dict[Connection, Member] = {}
        self.awareness_owners: dict[int, Member] = {}
        self.history: list[bytes] = []
        self._unpacked = 0
        self.size = 0
        self.closed = False
        self.versioned_state = b""
        self.versioned_at = 0.0
        self._store = store
        self._peers = peers
        self._captured: bytes | None = None
        self.doc.observe(self._capture)

    def _capture(self, event: Any) -> None:
        self._captured = event.update

    # -- loading ------------------------------------------------------------------------------------------------
    def load(self, updates: list[bytes]) -> None:
        """Apply stored updates (snapshot segments then log) to the fresh doc."""
        for start in range(0, len(updates), 500):
            self.doc.apply_update(merge_updates(*updates[start : start + 500]))
        self.history = pack_updates(updates, get_config().SEGMENT_BYTES) if updates else []
        self.size = sum(map(len, self.history))
        self.versioned_state = self.doc.get_state()
        self.versioned_at = time.monotonic()
        self._captured = None

    # -- connections ----------------------------------------------------------------------------------------------
    async def join(self, connection: Connection) -> None:
        """Add a connection and greet it as the reference server does: SyncStep1, then current awareness."""
        self.members[connection] = Member(connection)
        await connection.send(encode_sync_step1(self.doc.get_state()))
        if self.awareness.states:
            await connection.send(encode_awareness(self._encode_awareness(list(self.awareness.states))))

    async def leave(self, connection: Connection) -> None:
        """Remove a connection and, at once, the presence states it controlled."""
        member = self.members.pop(connection, None)
        if member is None or not member.awareness_ids:
            return
        for client_id in member.awareness_ids:
            if self.awareness_owners.get(client_id) is member:
                del self.awareness_owners[client_id]
        client_ids = [cid for cid in member.awareness_ids if cid in self.awareness.states]
        if not client_ids:
            return
        self.awareness.remove_awareness_states(client_ids, origin=connection)
        payload = self._encode_awareness(client_ids)
        await self._broadcast(encode_awareness(payload), exclude=None)
        if self._peers is not None:
            self._peers.publish_awareness(self.document_id, payload)

    def connections_of(self, user_id: int) -> list[Connection]:
        """The local connections of one user."""
        return [conn for conn in self.members if conn.user_id == user_id]

    # -- messages from local connections -------------------------------------------------------------------------
    async def receive(self, connection: Connection, message: bytes) -> None:
        """Handle one framed message from a connection.

        Raises:
            ProtocolError: malformed message or corrupt update (nothing was applied).
            RateLimited: the connection exceeded its allowance.
            DocumentTooLarge: the update would grow the document past its size cap.
        """
        member = self.members.get(connection)
        if member is None:
            return
        decoded = decode_message(message)
        if isinstance(decoded, SyncUpdate | SyncStep2):
            await self._receive_update(member, decoded.update)
        elif isinstance(decoded, AwarenessMessage):
            await self._receive_awareness(member, decoded.payload)
        elif isinstance(decoded, SyncStep1):
            await self._answer_sync_step1(connection, decoded.state_vector)
        elif isinstance(decoded, QueryAwareness):
            await connection.send(encode_awareness(self._encode_awareness(list(self.awareness.states))))

    async def _answer_sync_step1(self, connection: Connection, state_vector: bytes) -> None:
        try:
            update = self.doc.get_update(state_vector)
        except BaseException as exc:
            if not is_decode_failure(exc):
                raise
            raise ProtocolError("corrupt state vector") from exc
        limit = get_config().SEGMENT_BYTES
        if len(update) <= limit:
            await connection.send(encode_sync_step2(update))
            return
        # Too large for one message: send the state as several updates, then an empty SyncStep2 so the client
        # marks itself synced once everything before it has arrived.
        for piece in self.history:
            await connection.send(encode_update(piece))
        await connection.send(encode_sync_step2(EMPTY_UPDATE))

    async def _receive_update(self, member: Member, update: bytes) -> None:
        connection = member.connection
        if update == EMPTY_UPDATE:
            return
        if not connection.can_write:
            logger.info("dropped update from read-only connection %s on %s", connection.id, self.document_id)
            return
        if not member.update_bucket.take():
            raise RateLimited("too many updates")
        await self.change(update, origin=connection)

    async def change(self, update: bytes, origin: Connection | None = None) -> bytes | None:
        """Apply an edit made in this process, by a connection or by server code (``origin`` None).

        The edit must fit the size cap; what it changed is stored, published to peer processes and sent to every
        local connection but its origin.

        Returns:
            The update applied, or None when it changed nothing.

        Raises:
            DocumentTooLarge: the edit would grow the document past its size cap (nothing was applied).
            ProtocolError: the update is corrupt (nothing was applied).
        """
        if self._over_size_cap(update):
            raise DocumentTooLarge(f"document {self.document_id} is at its size cap")
        applied = self.apply(update)
        if applied is None:
            return None
        self._store.append(self.document_id, applied)
        if self._peers is not None:
            self._peers.publish_update(self.document_id, applied)
        await self._broadcast(encode_update(applied), exclude=origin)
        return applied

    def apply(self, update: bytes) -> bytes | None:
        """Apply an update; return what to broadcast and store, or None when it changed nothing.

        That is the normalized update the Doc emitted, or the raw update when (part of) it waits for a missing
        dependency: the Doc then emits nothing, yet the update must be kept so it integrates later, after a restart
        too.
        """
        self._captured = None
        try:
            self.doc.apply_update(update)
        except BaseException as exc:
            if not is_decode_failure(exc):
                raise
            raise ProtocolError(f"corrupt update: {exc}") from exc
        applied, self._captured = self._captured, None
        if applied is None and self._is_ahead_of_doc(update):
            applied = update
        if applied is not None:
            self._remember(applied)
        return applied

    def _is_ahead_of_doc(self, update: bytes) -> bool:
        return has_items(get_update(update, self.doc.get_state()))

    def _remember(self, update: bytes) -> None:
        self.history.append(update)
        self.size += len(update)
        self._unpacked += 1
        if self._unpacked < HISTORY_PACK_EVERY:
            return
        # Merge only the recent updates; the whole history is merged again only when its pieces pile up.
        limit = get_config().SEGMENT_BYTES
        self.history[-self._unpacked :] = pack_updates(self.history[-self._unpacked :], limit)
        self._unpacked = 0
        if len(self.history) > HISTORY_PACK_EVERY:
            self.history = pack_updates(self.history, limit)

    def _over_size_cap(self, update: bytes) -> bool:
        """Whether applying ``update`` would pass the size cap; measured on the Doc when the running sum says so.

        The running sum counts every update ever applied, deleted content included, so before refusing an edit
        the room measures the Doc's actual encoded state.
        """
        cap = get_config().MAX_DOCUMENT_BYTES
        if self.size + len(update) <= cap:
            return False
        self.size = len(self.doc.get_update())
        return self.size + len(update) > cap

    async def _receive_awareness(self, member: Member, payload: bytes) -> None:
        if not member.awareness_bucket.take():
            raise RateLimited("too many awareness updates")
        entries = self._stamp_awareness(member, parse_awareness_update(payload))
        if not entries:
            return
        stamped = encode_awareness_update(entries)
        self.awareness.apply_awareness_update(stamped, origin=member.connection)
        for client_id, _, state in entries:
            if state == "null":
                member.awareness_ids.discard(client_id)
                self.awareness_owners.pop(client_id, None)
        # Echoed to the sender too: it is the keepalive a lone y-websocket client relies on.
        await self._broadcast(encode_awareness(stamped), exclude=None)
        if self._peers is not None:
            self._peers.publish_awareness(self.document_id, stamped)

    def _stamp_awareness(self, member: Member, entries: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Keep the entries this connection may speak for, with ``user`` set to its authenticated identity."""
        connection = member.connection
        stamped = []
        for client_id, clock, state_json in entries:
            owner = self.awareness_owners.get(client_id)
            if (owner is not None and owner is not member) or client_id == self.doc.client_id:
                # y-websocket clients relay every presence change they see, so this is routine, not an attack.
                logger.debug("connection %s sent awareness of client %d it does not own", connection.id, client_id)
                continue
            try:
                state = json.loads(state_json) if state_json else None
            except ValueError as exc:
                raise ProtocolError("awareness state is not JSON") from exc
            if state is not None and not isinstance(state, dict):
                raise ProtocolError("awareness state is not an object")
            if state is not None:
                user = cast("dict[str, Any]", state.get("user")) if isinstance(state.get("user"), dict) else {}
                state["user"] = {**user, "name": connection.user_name, "color": connection.user_color}
                member.awareness_ids.add(client_id)
                self.awareness_owners[client_id] = member
            stamped.append((client_id, clock, json.dumps(state, separators=(",", ":"))))
        return stamped

    # -- messages from peer processes -----------------------------------------------------------------------------
    async def receive_peer_update(self, update: bytes) -> None:
        """Apply an update another process received; fan it out locally, but neither store nor re-publish it."""
        try:
            applied = self.apply(update)
        except ProtocolError:
            logger.error("peer sent a corrupt update for %s", self.document_id)
            return
        if applied is not None:
            await self._broadcast(encode_update(applied), exclude=None)

    async def receive_peer_awareness(self, payload: bytes) -> None:
        """Apply presence changes from another process and fan them out locally."""
        self.awareness.apply_awareness_update(payload, origin="peer")
        await self._broadcast(encode_awareness(payload), exclude=None)

    # -- helpers --------------------------------------------------------------------------------------------------
    def _encode_awareness(self, client_ids: list[int]) -> bytes:
        return self.awareness.encode_awareness_update(client_ids)

    async def _broadcast(self, message: bytes, exclude: Connection | None) -> None:
        # A snapshot of the members: a send that closes a connection must not change the set mid-iteration.
        for connection in tuple(self.members):
            if connection is exclude:
                continue
            try:
                await connection.send(message)
            except Exception as exc:
                # A socket closing under us: its own disconnect removes it; everyone else still gets the message.
                logger.info("send to %s failed (%s); skipped", connection.id, type(exc).__name__)

    async def close_all(self, code: int, reason: str) -> None:
        """Close every local connection (document deleted, operator action)."""
        for connection in tuple(self.members):
            await connection.close(code, reason)
            await self.leave(connection)
