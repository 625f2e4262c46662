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

from pycrdt import Awareness, Doc

from .conf import get_config
from .exceptions import DocumentTooLarge, ProtocolError, RateLimited, StoreUnavailable, UpdateTooComplex
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
from .store import DocumentStore, StoredRows
from .update_reader import ID, TYPE, UpdateStructure, read_update, type_depths
from .updates import LiveDoc, type_depths_of

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
        live: the authoritative in-memory Yjs document (``live.doc``), which integrates every update whole or
            not at all, holds updates that wait for a missing dependency, and keeps the history of what it
            integrated (sent to a joining client in pieces when one sync message would exceed the transport's
            size limit).
        awareness: presence states of every client (local and in peer processes).
        members: local connections and what they control.
        awareness_owners: which local member controls each awareness client id (nobody else may change it).
        type_depth: the nesting depth of each shared type created while the room is open, by item ID.
        size: bytes of Yjs state held (an upper bound: updates applied since the last measure are added up),
            checked against the document size cap.
        closed: set once the room starts unloading; the registry then loads a fresh room for new joiners.
        versioned_state: the Doc's state vector when loaded or last versioned automatically.
        versioned_at: the ``time.monotonic()`` of that moment.
    """

    def __init__(self, document_id: uuid.UUID, store: DocumentStore, peers: Peers | None) -> None:
        self.document_id = document_id
        self.live = LiveDoc(HISTORY_PACK_EVERY, get_config().SEGMENT_BYTES)
        # Awareness only uses its Doc for the local client id; the server shows no presence of its own.
        self.awareness = Awareness(self.live.doc)
        # The server shows no presence of its own (as the reference server).
        self.awareness.set_local_state(None)
        self.members: dict[Connection, Member] = {}
        self.awareness_owners: dict[int, Member] = {}
        self.type_depth: dict[ID, int] = {}
        self._loaded_depth: int | None = None
        self.size = 0
        self.closed = False
        self.versioned_state = b""
        self.versioned_at = 0.0
        self._store = store
        self._peers = peers

    @property
    def doc(self) -> Doc:
        """The room's Doc (read it; change it only through ``change``)."""
        return self.live.doc

    @property
    def history(self) -> list[bytes]:
        """Everything the Doc integrated, as size-bounded pieces."""
        return self.live.history

    # -- loading ------------------------------------------------------------------------------------------------
    def load(self, rows: StoredRows) -> None:
        """Integrate the document's stored rows (snapshot segments, then the log) into the fresh Doc."""
        self.live.load(rows.segments, rows.log)
        self.size = sum(map(len, self.history))
        self.versioned_state = self.doc.get_state()
        self.versioned_at = time.monotonic()

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

        The edit must be well formed, within the structural budgets and the size cap, and the store must be able
        to keep it; it then integrates whole (or, when it waits for a missing dependency, is held and stored as it
        is). What changed is stored, published to peer processes and sent to every local connection but its
        origin; held updates it unblocks are sent to everyone.

        Returns:
            The normalised update of what changed, or None when nothing did (yet).

        Raises:
            ProtocolError: the update is corrupt (the room is exactly as it was).
            UpdateTooComplex: the update is over a structural budget (nesting depth, structs, held bytes).
            DocumentTooLarge: the edit would grow the document past its size cap (nothing was applied).
            StoreUnavailable: the store cannot keep more edits now (nothing was applied).
        """
        # Server code computes its edits from this Doc: they are ready by construction and exempt from the
        # budgets meant for clients (an import may carry more structs than any keystroke).
        structure = self.check(update) if origin is not None else None
        if self._over_size_cap(update):
            raise DocumentTooLarge(f"document {self.document_id} is at its size cap")
        if not self._store.can_accept(self.document_id, len(update)):
            raise StoreUnavailable(f"the store cannot keep more edits of {self.document_id} now")
        if structure is None:
            changed = self.live.integrate_own(update)
        elif (expected := self.live.state_after(structure)) is None:
            self._hold(update, structure)
            self._store.append(self.document_id, update)
            if self._peers is not None:
                self._peers.publish_update(self.document_id, update)
            return None
        else:
            changed = self.live.integrate(update, structure, expected)
        if changed is None:
            return None
        unblocked = self.live.retry_held() if self.live.held else []
        for applied in (changed, *unblocked):
            self.size += len(applied)
            self._store.append(self.document_id, applied)
            if self._peers is not None:
                self._peers.publish_update(self.document_id, applied)
        await self._broadcast(encode_update(changed), exclude=origin)
        for applied in unblocked:
            await self._broadcast(encode_update(applied), exclude=None)
        return changed

    def check(self, update: bytes) -> UpdateStructure:
        """Decode an update strictly and hold it to the structural budgets, before anything applies it.

        Raises:
            ProtocolError: malformed.
            UpdateTooComplex: more structs than allowed, or nesting deeper than the document may go.
        """
        config = get_config()
        structure = read_update(update, max_structs=config.MAX_UPDATE_STRUCTS)
        if any(struct.kind == TYPE for struct in structure.structs):
            depths = type_depths(structure, self.type_depth, self._depth_of_unknown_parents())
            deepest = max(depths.values(), default=0)
            if deepest > config.MAX_NESTING_DEPTH:
                raise UpdateTooComplex(f"nesting depth {deepest} is over {config.MAX_NESTING_DEPTH}")
            self.type_depth.update(depths)
        return structure

    def _depth_of_unknown_parents(self) -> int:
        """The depth assumed for a parent type the room knows nothing of (one deleted and collected before it
        loaded): the deepest type the Doc holds. The first call reads every type's depth from the Doc's state."""
        if self._loaded_depth is None:
            depths = type_depths_of(self.doc)
            for item, depth in depths.items():
                self.type_depth.setdefault(item, depth)
            self._loaded_depth = max(depths.values(), default=0)
        return self._loaded_depth

    def _hold(self, update: bytes, structure: UpdateStructure) -> None:
        limit = get_config().MAX_PENDING_BYTES
        if self.live.held_bytes + len(update) > limit:
            raise UpdateTooComplex(f"more than {limit} bytes of updates wait for missing dependencies")
        self.live.hold(update, structure)
        logger.info("holding an update for %s until its dependencies arrive", self.document_id)

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
            structure = self.check(update)
            if not self.live.is_ready(structure):
                self._hold(update, structure)
                return
            changed = self.live.integrate(update, structure)
        except (ProtocolError, UpdateTooComplex) as exc:
            logger.error("peer sent an update for %s that was refused: %s", self.document_id, exc)
            return
        if changed is None:
            return
        self.size += len(changed)
        await self._broadcast(encode_update(changed), exclude=None)
        for applied in self.live.retry_held() if self.live.held else []:
            self.size += len(applied)
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
