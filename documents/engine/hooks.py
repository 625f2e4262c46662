"""The engine's lifecycle events: the seam through which features above it (automatic versions today) follow rooms.

The engine imports no feature. A feature subscribes in its ``AppConfig.ready()``; the registry emits:

``room_loaded(room)``
    a room was loaded from the store and registered (Hocuspocus: ``afterLoadDocument``).
``session_ended(room)``
    the room's last local connection left; it unloads after the grace period unless someone joins again
    (Hocuspocus: ``onDisconnect`` of the last client).
``room_unloaded(room)``
    after the room's final flush and compaction; its Doc is still readable (Hocuspocus: ``afterUnloadDocument``).
``housekeeping(room, now)``
    periodically for every open room, ``now`` being ``time.monotonic()``; each subscriber says how often it
    needs it, and the registry ticks at the shortest of those intervals.

Callbacks may be plain functions or coroutine functions. One that fails is logged (a database outage as a warning)
and does not keep the others, or the engine, from going on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from documents.exceptions import DATABASE_ERRORS

logger = logging.getLogger("documents.engine.hooks")

ROOM_EVENTS = ("room_loaded", "session_ended", "room_unloaded")
DEFAULT_HOUSEKEEPING_SECONDS = 30.0


@dataclass
class Hooks:
    """Subscribers of each lifecycle event."""

    rooms: dict[str, list[Callable[..., Any]]] = field(default_factory=lambda: {name: [] for name in ROOM_EVENTS})
    housekeeping: list[tuple[Callable[[Any, float], Any], Callable[[], float]]] = field(default_factory=list)

    def subscribe(self, event: str, callback: Callable[..., Any]) -> None:
        """Run ``callback(room)`` on ``event`` (one of ``ROOM_EVENTS``)."""
        if event not in self.rooms:
            raise ValueError(f"unknown room event {event!r}; expected one of {', '.join(ROOM_EVENTS)}")
        self.rooms[event].append(callback)

    def subscribe_housekeeping(self, callback: Callable[[Any, float], Any], every_seconds: Callable[[], float]) -> None:
        """Run ``callback(room, now)`` for every open room at least every ``every_seconds()`` seconds (read at each
        tick, so a changed setting applies)."""
        self.housekeeping.append((callback, every_seconds))

    def housekeeping_interval(self) -> float:
        """Seconds between housekeeping ticks: the shortest interval a subscriber asked for."""
        return min((every() for _, every in self.housekeeping), default=DEFAULT_HOUSEKEEPING_SECONDS)

    async def emit(self, event: str, room: Any) -> None:
        """Run every subscriber of ``event`` for ``room``, in subscription order."""
        for callback in self.rooms[event]:
            await _run(f"{event} hook", room, callback, room)

    async def emit_housekeeping(self, room: Any, now: float) -> None:
        """Run every housekeeping subscriber for ``room``."""
        for callback, _ in self.housekeeping:
            await _run("housekeeping", room, callback, room, now)


async def _run(what: str, room: Any, callback: Callable[..., Any], *args: Any) -> None:
    try:
        result = callback(*args)
        if asyncio.iscoroutine(result):
            await result
    except DATABASE_ERRORS as exc:
        logger.warning("%s of %s skipped: database unavailable (%s)", what, room.document_id, exc)
    except Exception:
        logger.exception("%s of %s failed", what, room.document_id)


# The process's subscribers: features add theirs in AppConfig.ready(), before any room loads.
hooks = Hooks()
