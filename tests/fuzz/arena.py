"""One document under test: a Room over a memory store, honest peers, a viewer and an attacker.

The arena plays the consumer's part (``documents.ws.consumers``): a CollabError closes the sender with its close
code, anything else is what the consumer turns into a 1011 close, so it is a finding. It records a script of
everything done on purpose (who sent which message, who reloaded or reconnected); the protocol replies peers
send by themselves are not in it, since replaying the script makes the peers send them again. Replaying a script
through a fresh arena reproduces the room's state exactly: the corpus is made of such scripts.
"""

from __future__ import annotations

import gc
import json
import uuid
import weakref
from typing import Any

from pycrdt import get_update

from documents.conf import get_config
from documents.engine.protocol import (
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_awareness_update,
    encode_sync_step1,
)
from documents.engine.rooms import Room
from documents.engine.store import DocumentStore
from documents.exceptions import CollabError

from . import ycodec
from .clients import Connection, Peer
from .oracle import ALLOWED_CLOSE_CODES, Finding, fatal, room_doc, unobserve_all
from .session import recorded_client_ids

ATTACKER, VIEWER = "X", "V"
SEND, RELOAD, REJOIN = "send", "reload", "rejoin"
Step = tuple[str, str, bytes]  # (sender: ATTACKER, VIEWER or a peer name; SEND, RELOAD or REJOIN; message)
Script = list[Step]
_NO_ROOM: Any = None
VIEWER_USER, ATTACKER_USER = 99, 666
# Client ids of peers are first_client_id + their index; a reload adds this, so ids never collide.
RELOAD_ID_STRIDE = 7919


class Arena:
    """A room, its connections, the script of what was done, and findings noticed while sending."""

    def __init__(self, store: DocumentStore, peer_names: list[str], first_client_id: int = 1_000_000) -> None:
        self.store = store
        self.room = Room(uuid.uuid4(), store, None)
        # One user per peer (a reload is the same user), one for the viewer, one for every attacker connection.
        self.peers = {
            name: Peer(f"honest {name}", first_client_id + i, user_id=i + 1) for i, name in enumerate(peer_names)
        }
        self.viewer = Peer("viewer", client_id=99, user_id=VIEWER_USER, can_write=False)
        self.attacker = Connection("attacker 0", ATTACKER_USER)
        self.attackers = 0
        self.retired: list[Peer] = []
        self.script: Script = []
        self.refused: set[int] = set()  # steps of the script the room refused: shrinking drops them first
        self.findings: list[Finding] = []
        self.closes: dict[int, int] = {}
        self.presence_clock = 0

    async def open(self) -> None:
        for peer in (*self.peers.values(), self.viewer):
            await self._connect(peer)
        await self.room.join(self.attacker)

    async def _connect(self, peer: Peer) -> None:
        """Join as y-websocket does: SyncStep1 with our state (the room's SyncStep1 is answered from the outbox),
        then our presence, for our Doc's client id and the recorded client's ids we replay (a real client's id
        is random and first seen in its presence, so no other client can use it before it does)."""
        await self.room.join(peer)
        await self.deliver(peer, encode_sync_step1(peer.doc.get_state()))
        if peer.can_write:
            self.presence_clock += 1
            name = peer.id.removeprefix("honest ")
            ids = (peer.doc.client_id, *recorded_client_ids().get(name, ()))
            state = json.dumps({"user": {"name": name}})
            await self.deliver(
                peer, encode_awareness(encode_awareness_update([(i, self.presence_clock, state) for i in ids]))
            )
        await self.flush_outbox(peer)

    async def close(self) -> None:
        """Leave the room and drop the document from the memory store (a long run plays thousands of them)."""
        for connection in tuple(self.room.members):
            await self.room.leave(connection)
        await self.store.flush()
        document_id = self.room.document_id
        for rows in (getattr(self.store, "segments", {}), getattr(self.store, "log", {})):
            rows.pop(document_id, None)
        self.store.forget(document_id)
        for peer in (*self.peers.values(), *self.retired, self.viewer):
            peer.release()

    def release_room(self, confirm: bool = True) -> bool:
        """Unload the room as the registry does (``Room.close`` where it exists) and drop it; True when its Doc
        outlives it (a leak), in which case the Doc is released here.

        pycrdt never frees a Doc that has an observer (the Rust side pins the callback), so a room that does not
        unobserve when it unloads keeps its whole document in memory for the life of the process. The fuzzer
        plays thousands of rooms, so after noting the leak it unobserves every subscription the room kept.
        ``confirm`` runs the garbage collector first, so that a Doc kept only by a reference cycle is not taken
        for a leak (it costs tens of milliseconds, so long runs confirm now and then).
        """
        room, self.room = self.room, _NO_ROOM
        doc_ref = weakref.ref(room_doc(room))
        if hasattr(room, "close"):
            room.close()  # what the registry does when a room unloads
        holders = [weakref.ref(holder) for holder in (room, getattr(room, "live", None)) if holder is not None]
        del room
        if confirm and doc_ref() is not None:
            gc.collect()
        doc = doc_ref()
        if doc is None:
            return False
        for holder_ref in holders:
            holder = holder_ref()
            if holder is not None:
                unobserve_all(holder, doc)
        return True

    # -- what the script records ---------------------------------------------------------------------------------
    async def attack(self, message: bytes) -> None:
        self.script.append((ATTACKER, SEND, message))
        if not await self.deliver(self.attacker, message):
            self.refused.add(len(self.script) - 1)

    async def view_edit(self, message: bytes) -> None:
        self.script.append((VIEWER, SEND, message))
        await self.deliver(self.viewer, message)
        self.refused.add(len(self.script) - 1)  # the room drops it (if it does not, a check will say so)

    async def send_as(self, name: str, message: bytes) -> None:
        """Send what peer ``name`` wrote (an edit it made, a recorded message): its update applies locally first.

        An honest client only sends edits its own Doc holds. When the update does not apply, or does not integrate
        whole (the attacker already used that client id's clocks, or the edits it builds on never arrived), the
        client could not have made it; it reloads instead, as a browser tab would. This also keeps shrinking honest:
        dropping a peer's earlier edit makes its later ones unsendable rather than sent out of thin air.
        """
        self.script.append((name, SEND, message))
        peer = self.peers[name]
        decoded = decode_message(message)
        if isinstance(decoded, SyncUpdate | SyncStep2):
            try:
                peer.apply_remote(decoded.update)
                whole = get_update(decoded.update, peer.doc.get_state())[:1] == b"\x00"
            except BaseException as exc:
                if fatal(exc):
                    raise
                whole = False
            if not whole:
                await self._reload(name)
                return
        await self.deliver(peer, message)
        await self.flush_outbox(peer)

    async def send_edits(self, name: str) -> list[bytes]:
        """Send the edits peer ``name`` just made on its own Doc (queued in its outbox by its observer)."""
        messages = self.peers[name].take_outbox()
        for message in messages:
            self.script.append((name, SEND, message))
            await self.deliver(self.peers[name], message)
        return messages

    async def reload(self, name: str) -> None:
        self.script.append((name, RELOAD, b""))
        await self._reload(name)

    async def rejoin(self, name: str) -> None:
        """Reconnect with the same Doc, as y-websocket does after a dropped socket."""
        self.script.append((name, REJOIN, b""))
        peer = self.peers[name]
        await self.room.leave(peer)
        peer.closed = None
        await self._connect(peer)

    async def _reload(self, name: str) -> None:
        """Replace a peer by a fresh client (new Doc, next client id) that joins and syncs from the room."""
        peer = self.peers[name]
        await self.room.leave(peer)
        self.retired.append(peer)
        # A fresh Doc draws a new random id: one no other client has, and none the attacker has seen yet.
        self.peers[name] = Peer(peer.id, client_id=peer.doc.client_id + RELOAD_ID_STRIDE, user_id=peer.user_id)
        await self._connect(self.peers[name])

    async def run(self, step: Step) -> None:
        """Do one step of a script (the inverse of the recording methods above)."""
        sender, kind, message = step
        if kind == RELOAD:
            await self.reload(sender)
        elif kind == REJOIN:
            await self.rejoin(sender)
        elif sender == ATTACKER:
            await self.attack(message)
        elif sender == VIEWER:
            await self.view_edit(message)
        else:
            await self.send_as(sender, message)

    # -- the consumer's part -------------------------------------------------------------------------------------
    async def deliver(self, connection: Connection, message: bytes) -> bool:
        """One message through the room as the consumer would pass it; False when the sender got closed."""
        if connection.closed is not None or connection not in self.room.members:
            return False
        if len(message) > get_config().MAX_MESSAGE_BYTES:
            await self._closed(connection, 1009, "MessageTooLarge")
            return False
        try:
            await self.room.receive(connection, message)
        except CollabError as exc:
            if exc.close_code not in ALLOWED_CLOSE_CODES:
                detail = f"{type(exc).__name__} closes with {exc.close_code}"
                self.findings.append(Finding("close-code", detail, str(exc.close_code)))
            await self._closed(connection, exc.close_code, f"{type(exc).__name__}: {exc}")
            return False
        except BaseException as exc:
            if fatal(exc):
                raise
            detail = f"{type(exc).__name__}: {str(exc)[:300]} (the consumer closes with 1011)"
            self.findings.append(Finding("unexpected-exception", detail, type(exc).__name__))
            await self._closed(connection, 1011, detail)
            return False
        self._check_struct_budget(message)
        return True

    async def _closed(self, connection: Connection, code: int, reason: str) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1
        await connection.close(code, reason)
        await self.room.leave(connection)
        if connection is self.attacker:
            self.attackers += 1
            self.attacker = Connection(f"attacker {self.attackers}", ATTACKER_USER)
            await self.room.join(self.attacker)
        elif connection.can_write and code != 1009:  # an honest edit past the size cap is refused by design
            self.findings.append(Finding("honest-refused", f"{connection.id} closed with {code}: {reason[:300]}"))

    def _check_struct_budget(self, message: bytes) -> None:
        limit = getattr(get_config(), "MAX_UPDATE_STRUCTS", 100_000)
        if len(message) < limit:  # every struct or deletion takes at least a byte
            return
        decoded = decode_message(message)
        if not isinstance(decoded, SyncUpdate | SyncStep2):
            return
        try:
            parsed = ycodec.parse(decoded.update)
        except ycodec.DecodeError:
            return
        count = sum(len(b.structs) for b in parsed.blocks) + sum(len(r) for _, r in parsed.deletes)
        if count > limit:
            self.findings.append(Finding("struct-budget", f"accepted an update of {count} structs and deletions"))

    async def flush_outbox(self, peer: Peer) -> None:
        """Send the protocol replies a peer queued (not recorded: replaying makes the peer send them again)."""
        while peer.outbox and peer.closed is None:
            for message in peer.take_outbox():
                if not await self.deliver(peer, message):
                    break
