"""The live session of one document in one process: its pycrdt Doc, awareness, and local connections.

A room applies what connections send, fans it out to the other local connections in one pass, hands document
updates to the store and to peer processes (through ``PeerLink``), and answers sync requests from memory.
It never sees a socket: connections are anything with the small ``Connection`` interface.

About 460 lines: this is where every message kind meets the document (updates, sync requests, presence, peers),
each dispatched in a few lines to ``LiveDoc`` (integration), ``Presence`` (awareness), ``ClientIdOwners`` and the
budgets of ``limits.py``; splitting the dispatch itself would spread one receive path over several files.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Protocol

from pycrdt import Awareness, Doc, YMessageType

from documents import logcontext
from documents.conf import get_config
from documents.engine import telemetry
from documents.engine.awareness import Presence
from documents.engine.client_ids import ClientIdOwners
from documents.engine.limits import Budget, StructureBudget, awareness_entry_limit
from documents.engine.live_doc import LiveDoc
from documents.engine.protocol import (
    EMPTY_UPDATE,
    AwarenessMessage,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    parse_awareness_update,
)
from documents.engine.store import DocumentStore, StoredRows
from documents.engine.update_reader import UpdateStructure, read_update
from documents.exceptions import (
    CollabError,
    DocumentTooLarge,
    ProtocolError,
    SlowReader,
    StoreUnavailable,
    UpdateTooComplex,
)

logger = logging.getLogger("documents.engine.rooms")
# Keep the in-memory history short: every so many updates it is merged into size-bounded pieces.
HISTORY_PACK_EVERY = 256
# Each decoded message's kind, as telemetry names it (one dict lookup per message).
_KIND_OF = {
    SyncStep1: telemetry.SYNC_STEP1,
    SyncStep2: telemetry.SYNC_STEP2,
    SyncUpdate: telemetry.UPDATE,
    AwarenessMessage: telemetry.AWARENESS,
    QueryAwareness: telemetry.QUERY_AWARENESS,
}
_AWARENESS_TYPE = int(YMessageType.AWARENESS)


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

    def backlog(self) -> int:
        """Bytes sent to the connection that have not left for the network yet."""


class Peers(Protocol):
    """What a room needs from the link to the same room in other processes."""

    def publish_update(self, document_id: uuid.UUID, update: bytes) -> None: ...

    def publish_awareness(self, document_id: uuid.UUID, payload: bytes, owners: dict[int, int]) -> None: ...


@dataclass(eq=False)
class Member:
    """A connection inside a room, with its cost budget (the client ids it speaks for are in ``Room.owners``)."""

    connection: Connection
    budget: Budget = field(default_factory=Budget)
    # Whether the connection was sent a whole state already: a further request waits until that left.
    answered: bool = False


def _backlog(connection: Connection) -> int:
    """A connection's unsent bytes (0 for connections that cannot tell)."""
    backlog = getattr(connection, "backlog", None)
    return backlog() if backlog is not None else 0


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
        presence: presence states of every client (local and in peer processes), and who may change each.
        client_ids: which user writes each Yjs client id's new clocks.
        members: local connections and what they control.
        structure: the structural budget of updates (structs, nesting depth of the types they create).
        size: bytes of Yjs state held (an upper bound: updates applied since the last measure are added up),
            checked against the document size cap.
        closed: set once the room starts unloading; the registry then loads a fresh room for new joiners.
    """

    def __init__(self, document_id: uuid.UUID, store: DocumentStore, peers: Peers | None) -> None:
        self.document_id = document_id
        self.live = LiveDoc(HISTORY_PACK_EVERY, get_config().SEGMENT_BYTES)
        self.presence = Presence(self.live.doc)
        self.client_ids = ClientIdOwners()
        self.members: dict[Connection, Member] = {}
        self.structure = StructureBudget()
        self.size = 0
        self.closed = False
        self._store = store
        self._peers = peers

    @property
    def doc(self) -> Doc:
        """The room's Doc (read it; change it only through ``change``)."""
        return self.live.doc

    @property
    def awareness(self) -> Awareness:
        """The presence states of every client."""
        return self.presence.awareness

    @property
    def history(self) -> list[bytes]:
        """Everything the Doc integrated, as size-bounded pieces."""
        return self.live.history

    # -- loading ------------------------------------------------------------------------------------------------
    def load(self, rows: StoredRows) -> None:
        """Integrate the document's stored rows (snapshot segments, then the log) into the fresh Doc."""
        self.live.load(rows.segments, rows.log)
        self.size = sum(map(len, self.history))

    # -- connections ----------------------------------------------------------------------------------------------
    async def join(self, connection: Connection) -> None:
        """Add a connection and greet it as the reference server does: SyncStep1, then current awareness."""
        self.members[connection] = Member(connection)
        await self._send(connection, telemetry.SYNC_STEP1, encode_sync_step1(self.doc.get_state()))
        if self.awareness.states:
            await self._send(connection, telemetry.AWARENESS, self._awareness_message())

    async def leave(self, connection: Connection) -> None:
        """Remove a connection and, at once, the presence states it controlled."""
        member = self.members.pop(connection, None)
        if member is None:
            return
        removed = self.presence.leave(member, origin=connection)
        if removed is not None:
            payload, client_ids = removed
            await self._broadcast(encode_awareness(payload), exclude=None)
            self._publish_awareness(payload, client_ids)

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
        telemetry.current.message_in(_KIND_OF[type(decoded)], len(message))
        if isinstance(decoded, SyncUpdate | SyncStep2):
            await self._receive_update(member, decoded.update)
        elif isinstance(decoded, AwarenessMessage):
            await self._receive_awareness(member, decoded.payload)
        elif isinstance(decoded, SyncStep1):
            member.budget.take_sync_request()
            await self._answer_sync_step1(member, decoded.state_vector)
        elif isinstance(decoded, QueryAwareness):
            member.budget.take_sync_request()
            if not self._still_sending(member):
                member.answered = True
                await self._send(connection, telemetry.AWARENESS, self._awareness_message())

    async def _answer_sync_step1(self, member: Member, state_vector: bytes) -> None:
        if self._still_sending(member):
            logger.debug("connection %s asked to sync again before its last answer went out", member.connection.id)
            return
        member.answered = True
        await self._send_state(member.connection, state_vector)

    def _still_sending(self, member: Member) -> bool:
        """Whether an earlier whole-state answer may still be queued: answers go one at a time."""
        return member.answered and _backlog(member.connection) > 0

    async def _send_state(self, connection: Connection, state_vector: bytes) -> None:
        try:
            update = self.doc.get_update(state_vector)
        except BaseException as exc:
            if not is_decode_failure(exc):
                raise
            raise ProtocolError("corrupt state vector") from exc
        limit = get_config().SEGMENT_BYTES
        if len(update) <= limit:
            await self._send(connection, telemetry.SYNC_STEP2, encode_sync_step2(update))
            return
        # Too large for one message: send the state as several updates, then an empty SyncStep2 so the client
        # marks itself synced once everything before it has arrived.
        for piece in self.history:
            await self._send(connection, telemetry.UPDATE, encode_update(piece))
        await self._send(connection, telemetry.SYNC_STEP2, encode_sync_step2(EMPTY_UPDATE))

    async def _receive_update(self, member: Member, update: bytes) -> None:
        connection = member.connection
        if update == EMPTY_UPDATE:
            return
        if not connection.can_write:
            logger.info("dropped update from read-only connection %s on %s", connection.id, self.document_id)
            telemetry.current.update_refused(telemetry.READ_ONLY)
            return
        try:
            member.budget.take_update()
            await self.change(update, origin=connection)
        except CollabError as exc:
            telemetry.current.update_refused(exc.close_code.name.lower())
            raise

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
        started = perf_counter()
        # Server code computes its edits from this Doc: they are ready by construction and exempt from the
        # budgets meant for clients (an import may carry more structs than any keystroke).
        structure = self.check(update) if origin is not None else None
        writer = origin.user_id if origin is not None else None
        writing: set[int] = set()
        if structure is not None and writer is not None:
            writing = self.client_ids.check(structure, self.live.state, writer, self.presence.owners.user_of)
        if self._over_size_cap(update):
            raise DocumentTooLarge(f"document {self.document_id} is at its size cap")
        if not self._store.can_accept(self.document_id, len(update)):
            raise StoreUnavailable(f"the store cannot keep more edits of {self.document_id} now")
        if structure is None:
            changed = self.live.integrate_own(update)
        elif (expected := self.live.state_after(structure)) is None:
            self._hold(update, structure)
            self.client_ids.claim(writing, writer)
            telemetry.current.update_applied(perf_counter() - started)
            self._store.append(self.document_id, update)
            if self._peers is not None:
                self._peers.publish_update(self.document_id, update)
            return None
        else:
            changed = self.live.integrate(update, structure, expected)
            self.client_ids.claim(writing, writer)
        telemetry.current.update_applied(perf_counter() - started)
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
        return self.structure.check(update, self.doc)

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
        entries = parse_awareness_update(payload, max_entries=awareness_entry_limit(len(self.awareness.states)))
        member.budget.take_awareness(len(entries))
        changed = self.presence.receive_local(member, member.connection, entries)
        if changed is None:
            return
        encoded, client_ids = changed
        # Echoed to the sender too: it is the keepalive a lone y-websocket client relies on.
        await self._broadcast(encode_awareness(encoded), exclude=None)
        self._publish_awareness(encoded, client_ids)

    def _publish_awareness(self, payload: bytes, client_ids: list[int]) -> None:
        """Send presence changes to peer processes, with the user each client id belongs to."""
        if self._peers is not None:
            self._peers.publish_awareness(self.document_id, payload, self.presence.owners_of(client_ids))

    # -- messages from peer processes -----------------------------------------------------------------------------
    async def receive_peer_update(self, update: bytes) -> None:
        """Apply an update another process received; fan it out locally and store it, but do not re-publish it.

        Stored here too, although its own process stores it: that process may be killed before its next flush, and
        then the only copy is in the replicas' memory (the clients that sent it reconnect here and re-send nothing,
        since this room holds it). The rows are duplicates otherwise, which loading and compaction fold away; with
        nginx's document affinity a document's editors share one process and there are no peer updates at all.
        """
        try:
            # Peers checked the budgets when their client sent it (or computed it: an import, a repair diff, which
            # may be larger than any client's update); decode it, but do not refuse it for its size.
            structure = read_update(update)
            self.structure.record(structure, self.doc)
            if not self.live.is_ready(structure):
                self._hold(update, structure)
                self._store.append(self.document_id, update)
                return
            changed = self.live.integrate(update, structure)
        except (ProtocolError, UpdateTooComplex) as exc:
            logger.error(
                "peer sent an update for %s that was refused: %s",
                self.document_id,
                exc,
                extra=logcontext.fields(self.document_id),
            )
            return
        if changed is None:
            return
        for applied in (changed, *(self.live.retry_held() if self.live.held else [])):
            self.size += len(applied)
            self._store.append(self.document_id, applied)
            await self._broadcast(encode_update(applied), exclude=None)

    async def receive_peer_awareness(self, payload: bytes, owners: dict[int, int]) -> None:
        """Apply presence changes from another process, except for client ids it may not speak for."""
        accepted = self.presence.receive_peer(payload, owners)
        if accepted is not None:
            await self._broadcast(encode_awareness(accepted), exclude=None)

    def awareness_snapshot(self) -> tuple[bytes, dict[int, int]] | None:
        """Every presence state with its owner, for a peer process whose replica of this room just loaded."""
        return self.presence.snapshot()

    # -- helpers --------------------------------------------------------------------------------------------------
    def _encode_awareness(self, client_ids: list[int]) -> bytes:
        return self.presence.awareness.encode_awareness_update(client_ids)

    def _awareness_message(self) -> bytes:
        """Every current presence state, framed."""
        return encode_awareness(self._encode_awareness(list(self.awareness.states)))

    async def _send(self, connection: Connection, kind: str, message: bytes) -> None:
        """Send one message of ``kind`` to one connection (broadcasts go through ``_broadcast``)."""
        await connection.send(message)
        telemetry.current.message_out(kind, len(message))

    async def _broadcast(self, message: bytes, exclude: Connection | None) -> None:
        started = perf_counter()
        recipients = 0
        # A snapshot of the members: a send that closes a connection must not change the set mid-iteration.
        for connection in tuple(self.members):
            if connection is exclude:
                continue
            try:
                await connection.send(message)
                recipients += 1
                member = self.members.get(connection)
                if member is not None:
                    member.budget.check_backlog(_backlog(connection))
            except SlowReader as exc:
                logger.warning(
                    "ws %s closed with %d: %s", connection.id, exc.close_code, exc, extra=self._about(connection)
                )
                await connection.close(exc.close_code, "too far behind")
                await self.leave(connection)
            except Exception as exc:
                # A socket closing under us: its own disconnect removes it; everyone else still gets the message.
                logger.info(
                    "send to %s failed (%s); skipped", connection.id, type(exc).__name__, extra=self._about(connection)
                )
        if recipients:
            # A room broadcasts document updates and awareness changes only: the first byte tells which.
            kind = telemetry.AWARENESS if message[0] == _AWARENESS_TYPE else telemetry.UPDATE
            telemetry.current.fanout(kind, len(message), recipients, perf_counter() - started)

    def _about(self, connection: Connection) -> dict[str, Any]:
        """Log fields for a line about another connection than the one being handled."""
        return logcontext.fields(self.document_id, connection.id, connection.user_id)

    def close(self) -> None:
        """Release the room's Doc once it has unloaded (see ``LiveDoc.close``)."""
        self.live.close()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every local connection (document deleted, operator action)."""
        for connection in tuple(self.members):
            await connection.close(code, reason)
            await self.leave(connection)
