"""The link between replicas of the same room in different processes, over the channel layer.

Each process holds one channel-layer channel and adds it to a group per open document. Document updates and
awareness changes a process receives from its clients are published once per update (not once per client); peers
apply them and fan them out to their own clients without storing or re-publishing them. The layer is lossy by design
(channels-redis drops messages for full channels and expires old ones), so replicas also exchange state vectors when
a room loads and every ``REPLICA_CHECK_SECONDS``, and repair any gap with a sync exchange.

Control events (access changed, document deleted, close all) travel the same groups, also with the in-memory layer
of a single process, so synchronous Django code can reach live rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer

from documents.engine import telemetry
from documents.engine.protocol import read_state_vector

logger = logging.getLogger("documents.engine.replication")


def group_name(document_id: Any) -> str:
    """The channel-layer group of a document's room replicas."""
    return f"document.{uuid.UUID(str(document_id)).hex}"


class PeerLink:
    """This process's membership in the channel layer, shared by all its rooms.

    Attributes:
        instance: a random id stamped on every message this process publishes, so it ignores its own.
        replicate: whether document traffic goes to peers (False with the in-memory layer: there are none).
        channel: this process's channel name, member of one group per open document.
        _outbox: messages waiting to be published, sent in order by one task.
        _handlers: document id -> coroutine handling a control or replication event for that room.
    """

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.instance = uuid.uuid4().hex
        self.replicate = not isinstance(layer, InMemoryChannelLayer)
        self.channel: str | None = None
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_health = LinkHealth("publishing to the channel layer")
        self._receive_health = LinkHealth("receiving from the channel layer")

    async def start(self) -> None:
        """Create the process's channel and start reading and publishing."""
        self.channel = await self.layer.new_channel()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._publish())]

    async def subscribe(self, document_id: uuid.UUID, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Receive the events of a document's group."""
        group = group_name(document_id)
        self._handlers[group] = handler
        await self.layer.group_add(group, self.channel)

    async def renew(self) -> None:
        """Re-add this process to every group it handles: group memberships expire in Redis, or vanish with it."""
        for group in list(self._handlers):
            await self.layer.group_add(group, self.channel)

    async def unsubscribe(self, document_id: uuid.UUID) -> None:
        """Stop receiving a document's events (its room unloaded)."""
        group = group_name(document_id)
        self._handlers.pop(group, None)
        await self.layer.group_discard(group, self.channel)

    def publish_update(self, document_id: uuid.UUID, update: bytes) -> None:
        """Send a document update to the other replicas."""
        if self.replicate:
            self._send(document_id, {"type": "room.update", "update": update})

    def publish_awareness(self, document_id: uuid.UUID, payload: bytes, owners: dict[int, int]) -> None:
        """Send an awareness update to the other replicas, with the user each of its client ids belongs to."""
        if self.replicate:
            # String keys: the layer's serialisation (msgpack, JSON) need not keep integer map keys.
            event = {"type": "room.awareness", "payload": payload, "owners": {str(k): v for k, v in owners.items()}}
            self._send(document_id, event)

    def publish_state(self, document_id: uuid.UUID, state_vector: bytes, reply: bool = False) -> None:
        """Announce a replica's state vector so peers send what it lacks."""
        if self.replicate:
            self._send(document_id, {"type": "room.state", "state": state_vector, "reply": reply})

    def _send(self, document_id: uuid.UUID, event: dict[str, Any]) -> None:
        event["origin"] = self.instance
        event["group"] = group_name(document_id)
        self._outbox.put_nowait((event["group"], event))

    async def _publish(self) -> None:
        while True:
            group, event = await self._outbox.get()
            try:
                await self.layer.group_send(group, event)
            except Exception as exc:
                self._publish_health.failed(exc)
                telemetry.current.publish_failure()
            else:
                self._publish_health.succeeded()
                telemetry.current.publish()

    async def _read(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._receive_health.failed(exc)
                await asyncio.sleep(1)
                continue
            self._receive_health.succeeded()
            if event.get("origin") == self.instance:
                continue
            handler = self._handlers.get(event.get("group", ""))
            if handler is None:
                continue
            try:
                await handler(event)
            except Exception:
                logger.exception("handling %s failed", event.get("type"))

    async def close(self) -> None:
        """Stop the reader and publisher tasks."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LinkHealth:
    """One log line when an operation starts failing (with the error) and one when it works again (with counts),
    instead of a traceback per message: an outage of Redis otherwise logs one per update."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self.since = 0.0

    def failed(self, exc: Exception) -> None:
        if not self.failures:
            self.since = time.monotonic()
            logger.error(
                "%s failed (%s: %s); peers catch up by state-vector repair once it works",
                self.what,
                type(exc).__name__,
                exc,
            )
        self.failures += 1

    def succeeded(self) -> None:
        if self.failures:
            logger.warning(
                "%s works again after %d failures in %.1f s", self.what, self.failures, time.monotonic() - self.since
            )
            self.failures = 0


def missing_from(state_vector: bytes, ours: bytes) -> bool:
    """Whether a peer's state vector has something our state vector lacks."""
    theirs = read_state_vector(state_vector)
    mine = read_state_vector(ours)
    return any(clock > mine.get(client, 0) for client, clock in theirs.items())
