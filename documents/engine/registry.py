"""Every room open in this process: loading, joining, unloading after a grace period, and peer events.

Features follow rooms through the lifecycle events of ``documents.engine.hooks`` (emitted here), never by being
imported from here.

About 350 lines, past our usual 300: one class whose methods are one lifecycle (shared loads, joins that leave no
trace when they fail, the grace period, unloading, peer and control events, access re-checks), kept together
because its races are between those methods; the process-wide accessors follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from documents import logcontext
from documents.conf import get_config
from documents.engine import telemetry
from documents.engine.hooks import Hooks, hooks
from documents.engine.livecount import LiveCounts
from documents.engine.protocol import EMPTY_UPDATE
from documents.engine.replication import LinkHealth, PeerLink, missing_from
from documents.engine.rooms import Connection, Room
from documents.engine.store import DocumentStore, get_store, spill_dir
from documents.exceptions import CloseCode, CollabError
from documents.permissions import Action, aauthorize, allows

logger = logging.getLogger("documents.engine.registry")


class RoomRegistry:
    """The rooms of this process.

    Attributes:
        rooms: open rooms by document id.
        store: where rooms load from and append to.
        peers: the channel-layer link to the other processes (also carries control events).
        hooks: the lifecycle events' subscribers (``documents.engine.hooks``).
        counts: publishes connection counts across processes (with Redis), for the admin.
        _loading: in-flight loads, so concurrent joiners share one.
        _grace: timers unloading rooms that became empty.
        _unloading: rooms being unloaded; a joiner waits for them, then loads a fresh room.
        stopping: set once the process began its graceful stop (the final flush runs); readiness reports it.
    """

    def __init__(self, store: DocumentStore, peers: PeerLink | None, events: Hooks | None = None) -> None:
        self.rooms: dict[uuid.UUID, Room] = {}
        self.store = store
        self.peers = peers
        self.hooks = events if events is not None else Hooks()
        self._loading: dict[uuid.UUID, asyncio.Task[Room]] = {}
        self._grace: dict[uuid.UUID, asyncio.TimerHandle] = {}
        self._unloading: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._checker: asyncio.Task[None] | None = None
        self.counts: LiveCounts | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._renew_health = LinkHealth("renewing channel-layer groups")
        self.stopping = False

    # -- joining and leaving --------------------------------------------------------------------------------------
    async def join(self, document_id: uuid.UUID, connection: Connection) -> Room:
        """Add a connection to the document's room, loading the room first if needed.

        A joiner that fails or is cancelled (daphne cancels a connection's handler some seconds after its client
        went away) leaves no trace: a room it loaded, or joined halfway, unloads after the grace period if nobody
        else is in it.
        """
        while True:
            try:
                room = await self._get_or_load(document_id)
            except asyncio.CancelledError:
                self._abandon_load(document_id)
                raise
            if room.closed:
                continue
            timer = self._grace.pop(document_id, None)
            if timer is not None:
                timer.cancel()
            try:
                await room.join(connection)
            except BaseException:
                room.members.pop(connection, None)
                self._unload_if_empty(room)
                raise
            self._count_changed(room)
            return room

    async def leave(self, room: Room, connection: Connection) -> None:
        """Remove a connection; an empty room unloads after the grace period."""
        await room.leave(connection)
        self._count_changed(room)
        if self._unload_if_empty(room):
            await self.hooks.emit("session_ended", room)

    def _abandon_load(self, document_id: uuid.UUID) -> None:
        """A joiner was cancelled while its room loads: once the load is done, the room unloads if nobody joined."""
        task = self._loading.get(document_id)
        if task is None:
            room = self.rooms.get(document_id)
            if room is not None:
                self._unload_if_empty(room)
            return

        def loaded(task: asyncio.Task[Room]) -> None:
            if not task.cancelled() and task.exception() is None:
                self._unload_if_empty(task.result())

        task.add_done_callback(loaded)

    def _unload_if_empty(self, room: Room) -> bool:
        """Start the grace period of a room nobody is in (unless it runs already); whether it started."""
        if room.members or room.closed or room.document_id not in self.rooms or room.document_id in self._grace:
            return False
        loop = asyncio.get_running_loop()
        self._grace[room.document_id] = loop.call_later(get_config().ROOM_GRACE_SECONDS, self._start_unload, room)
        return True

    def _count_changed(self, room: Room) -> None:
        if self.counts is not None:
            self.counts.changed(room.document_id, len(room.members))

    async def _get_or_load(self, document_id: uuid.UUID) -> Room:
        while document_id in self._unloading:
            await asyncio.shield(self._unloading[document_id])
        room = self.rooms.get(document_id)
        if room is not None:
            return room
        task = self._loading.get(document_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(document_id))
            self._loading[document_id] = task
        return await asyncio.shield(task)

    async def _load(self, document_id: uuid.UUID) -> Room:
        logcontext.bind(document_id=document_id)  # this task's lines concern the document, not the first joiner
        try:
            rows = await self.store.load(document_id)
            replicate = self.peers is not None and self.peers.replicate
            room = Room(document_id, self.store, self.peers if replicate else None)
            room.load(rows)
            if self.peers is not None:
                try:
                    await self.peers.subscribe(document_id, lambda event: self._on_peer_event(room, event))
                except BaseException:
                    # Not registered: the joiners get the error, and the next one loads afresh.
                    with contextlib.suppress(Exception):
                        await self.peers.unsubscribe(document_id)
                    room.close()
                    raise
            self.rooms[document_id] = room
            if self.peers is not None:
                self.peers.publish_state(document_id, room.doc.get_state())
            self._ensure_checker()
            self._ensure_housekeeping()
            await self.hooks.emit("room_loaded", room)
            return room
        finally:
            self._loading.pop(document_id, None)

    def _start_unload(self, room: Room) -> None:
        self._grace.pop(room.document_id, None)
        if room.members or room.closed:
            return
        room.closed = True
        self.rooms.pop(room.document_id, None)
        task = asyncio.get_running_loop().create_task(self._unload(room))
        self._unloading[room.document_id] = task

    async def _unload(self, room: Room) -> None:
        logcontext.bind(document_id=room.document_id)
        try:
            try:
                await self.store.flush()
                await self.store.compact(room.document_id)
            except Exception as exc:
                # The store keeps the room's updates and retries; the next load reads them from its buffer.
                logger.warning("room %s unloaded while the store is failing (%s)", room.document_id, exc)
            if self.peers is not None:
                await self.peers.unsubscribe(room.document_id)
            await self.hooks.emit("room_unloaded", room)
        except Exception:
            logger.exception("unloading room %s failed", room.document_id)
        finally:
            room.close()
            self.store.forget(room.document_id)
            self._unloading.pop(room.document_id, None)

    # -- events from other processes and from synchronous Django code -------------------------------------------
    async def _on_peer_event(self, room: Room, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "room.update":
            await room.receive_peer_update(event["update"])
        elif kind == "room.awareness":
            owners = {int(client_id): int(user_id) for client_id, user_id in event.get("owners", {}).items()}
            await room.receive_peer_awareness(event["payload"], owners)
        elif kind == "room.state":
            self._answer_state(room, event["state"], event.get("reply", False))
        elif kind == "room.access":
            await self.recheck_access(room, int(event["user_id"]))
        elif kind == "room.close":
            await room.close_all(int(event.get("code", CloseCode.CLOSED_BY_OPERATOR)), event.get("reason", ""))

    def _answer_state(self, room: Room, state_vector: bytes, reply: bool) -> None:
        if self.peers is None:
            return
        diff = room.doc.get_update(state_vector)
        if diff != EMPTY_UPDATE:
            self.peers.publish_update(room.document_id, diff)
            telemetry.current.repair()
        ours = room.doc.get_state()
        if not reply and missing_from(state_vector, ours):
            self.peers.publish_state(room.document_id, ours, reply=True)
        if not reply:
            # A replica announcing its state (it loaded, or checks in) also learns who holds which cursor here.
            snapshot = room.awareness_snapshot()
            if snapshot is not None:
                self.peers.publish_awareness(room.document_id, *snapshot)

    async def recheck_access(self, room: Room, user_id: int) -> None:
        """Apply a user's current role to their live connections: close them if it is gone (4403, or 4404 once the
        document no longer exists), else update write access. One query for the user (two when access is gone)."""
        from documents.models import Document

        connections = room.connections_of(user_id)
        if not connections:
            return
        try:
            _, role = await aauthorize(connections[0].user, room.document_id, Action.VIEW)
        except CollabError:
            deleted = not await Document.objects.filter(pk=room.document_id).aexists()
            code, reason = (
                (CloseCode.DOCUMENT_GONE, "document deleted")
                if deleted
                else (CloseCode.ACCESS_REVOKED, "access revoked")
            )
            for connection in connections:
                if connection not in room.members:
                    continue
                logger.info(
                    "access of user %s to %s ended (%s): closing %s",
                    user_id,
                    room.document_id,
                    reason,
                    connection.id,
                    extra=logcontext.fields(room.document_id, connection.id, user_id),
                )
                await connection.close(code, reason)
                await self.leave(room, connection)
            return
        for connection in connections:
            connection.can_write = allows(role, Action.EDIT)

    def _ensure_checker(self) -> None:
        if self.peers is not None and self.peers.replicate and (self._checker is None or self._checker.done()):
            self._checker = asyncio.get_running_loop().create_task(self._check_replicas())

    async def _check_replicas(self) -> None:
        while self.rooms:
            await asyncio.sleep(get_config().REPLICA_CHECK_SECONDS)
            try:
                await self.peers.renew()  # type: ignore[union-attr]
                if self.counts is not None:
                    await self.counts.refresh()
            except Exception as exc:
                self._renew_health.failed(exc)
            else:
                self._renew_health.succeeded()
            for room in list(self.rooms.values()):
                self.peers.publish_state(room.document_id, room.doc.get_state())  # type: ignore[union-attr]

    def _ensure_housekeeping(self) -> None:
        if self.hooks.housekeeping and (self._housekeeping is None or self._housekeeping.done()):
            self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())

    async def _housekeep(self) -> None:
        """Emit ``housekeeping`` for every open room at the subscribers' shortest interval, while rooms are open."""
        while self.rooms:
            await asyncio.sleep(self.hooks.housekeeping_interval())
            for room in list(self.rooms.values()):
                with logcontext.bound(document_id=room.document_id):
                    await self.hooks.emit_housekeeping(room, time.monotonic())

    async def shutdown(self) -> None:
        """Write every buffered update (graceful stop: SIGTERM or SIGINT through daphne), waiting a bounded time
        for the database and spilling to local disk what it still cannot take."""
        self.stopping = True
        await self.store.close(get_config().SHUTDOWN_WAIT_SECONDS, spill_dir())
        logger.info("flushed the updates of %d open rooms before shutdown", len(self.rooms))


_registry: RoomRegistry | None = None
_registry_lock: asyncio.Lock | None = None


async def get_registry() -> RoomRegistry:
    """The process's registry, created (with its channel-layer link) on first use."""
    global _registry, _registry_lock
    if _registry is not None:
        return _registry
    if _registry_lock is None:
        _registry_lock = asyncio.Lock()
    async with _registry_lock:
        if _registry is None:
            layer = get_channel_layer()
            peers = PeerLink(layer) if layer is not None else None
            if peers is not None:
                await peers.start()
            registry = RoomRegistry(get_store(), peers, hooks)
            if settings.REDIS_URL and peers is not None:
                registry.counts = LiveCounts(settings.REDIS_URL, peers.instance)
            _flush_before_reactor_shutdown(registry)
            _registry = registry
    return _registry


def loaded_registry() -> RoomRegistry | None:
    """The registry if this process has one (it runs a server), else None."""
    return _registry


def loaded_room(document_id: Any) -> Room | None:
    """The document's room if it is open in this process, else None."""
    return _registry.rooms.get(document_id) if _registry is not None else None


def _flush_before_reactor_shutdown(registry: RoomRegistry) -> None:
    """Under daphne, make Twisted wait for the final flush before it stops the loop."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def flush() -> defer.Deferred[None]:
        future = asyncio.ensure_future(registry.shutdown())
        return defer.Deferred.fromFuture(future)

    with contextlib.suppress(Exception):
        # zope.interface methods have no ``self``: without the mypy-zope plugin the arguments shift by one
        reactor.addSystemEventTrigger("before", "shutdown", flush)  # type: ignore[arg-type]
