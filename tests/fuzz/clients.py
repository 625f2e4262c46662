"""Connections for driving a room without sockets: honest peers with their own Doc, and a bare attacker.

A peer is the oracle's "honest connected client": it applies every message the room sends it, exactly as a
y-websocket client does, and whatever it cannot apply is itself a finding (the room relayed something a client
chokes on). Replies a client would send later (SyncStep2 answering the room's SyncStep1) and its own edits go to
``outbox``; the driver delivers them as separate steps, as a socket would, never from inside ``send``.
"""

from __future__ import annotations

import json
from typing import Any

from pycrdt import Awareness, Doc, XmlFragment

from documents.engine.protocol import (
    AwarenessMessage,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_sync_step2,
    encode_update,
    parse_awareness_update,
)
from documents.exceptions import ProtocolError

from .oracle import Finding


class Connection:
    """What ``documents.engine.rooms.Connection`` asks for, recording the close code the room (or driver) gave."""

    def __init__(self, name: str, user_id: int, can_write: bool = True) -> None:
        self.id = name
        self.user: Any = None
        self.user_id = user_id
        self.user_name = name
        self.user_color = "#123456"
        self.can_write = can_write
        self.closed: int | None = None
        self.received = 0

    async def send(self, message: bytes) -> None:
        self.received += 1

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code

    def backlog(self) -> int:
        """Bytes queued for the network: none, sends are delivered at once."""
        return 0


def _strict_json(text: str) -> None:
    """Parse as a browser's JSON.parse would: no NaN or Infinity (Python's json accepts them)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    json.loads(text, parse_constant=refuse)


class Peer(Connection):
    """An honest client: a Doc fed by everything the room sends, plus its own edits.

    Attributes:
        doc: the client's replica.
        outbox: messages this client will send next (sync replies, local edits), in order.
        problems: findings about what the room sent (undecodable frames, updates or awareness it cannot apply).
    """

    def __init__(self, name: str, client_id: int, user_id: int, can_write: bool = True) -> None:
        super().__init__(name, user_id, can_write)
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.awareness = Awareness(self.doc)
        self.outbox: list[bytes] = []
        self.problems: list[Finding] = []
        self.synced = False  # a SyncStep2 arrived
        self.awareness_clocks: dict[int, int] = {}  # the last clock seen for each awareness client
        self._remote = False
        self._subscription = self.doc.observe(self._local_update)

    def release(self) -> None:
        """Drop the Doc's observer: pycrdt never frees a Doc that still has one (the callback pins it)."""
        self.doc.unobserve(self._subscription)

    @property
    def fragment(self) -> XmlFragment:
        return self.doc.get("default", type=XmlFragment)

    def _local_update(self, event: Any) -> None:
        if not self._remote:
            self.outbox.append(encode_update(event.update))

    def apply_remote(self, update: bytes) -> None:
        """Apply an update that is not this client's own edit (nothing goes to the outbox)."""
        self._remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._remote = False

    async def send(self, message: bytes) -> None:
        self.received += 1
        try:
            decoded = decode_message(message)
        except ProtocolError as exc:
            self.problems.append(Finding("room-sent-malformed", f"{self.id} got {message[:24].hex()}: {exc}"))
            return
        if isinstance(decoded, SyncStep1):
            self.outbox.append(encode_sync_step2(self.doc.get_update(decoded.state_vector)))
        elif isinstance(decoded, SyncStep2 | SyncUpdate):
            self.synced = self.synced or isinstance(decoded, SyncStep2)
            try:
                self.apply_remote(decoded.update)
            except BaseException as exc:
                if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                    raise
                detail = f"{self.id} cannot apply {decoded.update[:32].hex()}: {type(exc).__name__}: {exc}"
                self.problems.append(Finding("client-cannot-apply", detail))
        elif isinstance(decoded, AwarenessMessage):
            self._receive_awareness(decoded.payload)

    def _receive_awareness(self, payload: bytes) -> None:
        try:
            for client_id, clock, state in parse_awareness_update(payload):
                self.awareness_clocks[client_id] = clock
                if state and state != "null":
                    _strict_json(state)
        except (ValueError, RecursionError) as exc:
            self.problems.append(Finding("awareness-not-json", f"{self.id}: {type(exc).__name__}: {exc}"))
            return
        try:
            self.awareness.apply_awareness_update(payload, origin="room")
        except Exception as exc:
            self.problems.append(Finding("client-cannot-apply-awareness", f"{self.id}: {type(exc).__name__}: {exc}"))

    def take_outbox(self) -> list[bytes]:
        messages, self.outbox = self.outbox, []
        return messages
