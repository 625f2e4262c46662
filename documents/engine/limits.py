"""The cost budget of one connection, in one place: what each kind of message may cost, and the close code past it.

A room consults a connection's ``Budget`` before it does any work for a message: document updates and sync or
awareness requests are rate-limited (awareness by entries, not messages: one message can carry many), an awareness
state must be small and shallow before it is parsed, and the outbound backlog of a connection that does not read
is bounded. Every refusal raises a ``CollabError`` whose close code the consumer sends.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from pycrdt import Doc

from documents.conf import get_config
from documents.engine.ratelimit import TokenBucket
from documents.engine.update_reader import ID, TYPE, UpdateStructure, read_update, type_depths
from documents.engine.updates import type_depths_of
from documents.exceptions import ProtocolError, RateLimited, SlowReader, UpdateTooComplex


class Budget:
    """One connection's allowances.

    Attributes:
        updates: document updates per second.
        awareness: awareness entries per second.
        sync_requests: SyncStep1 and query-awareness requests per second.
        backlog_since: ``time.monotonic()`` since when the outbound backlog has been over its soft limit, or None.
    """

    __slots__ = ("awareness", "backlog_since", "sync_requests", "updates")

    def __init__(self) -> None:
        config = get_config()
        self.updates = TokenBucket(config.RATE_UPDATES_PER_SECOND, config.RATE_UPDATES_BURST)
        self.awareness = TokenBucket(config.RATE_AWARENESS_PER_SECOND, config.RATE_AWARENESS_BURST)
        self.sync_requests = TokenBucket(config.RATE_SYNC_PER_SECOND, config.RATE_SYNC_BURST)
        self.backlog_since: float | None = None

    def take_update(self) -> None:
        """Raises RateLimited (1008) past the update allowance."""
        if not self.updates.take():
            raise RateLimited("too many updates")

    def take_awareness(self, entries: int) -> None:
        """Raises RateLimited (1008) past the awareness allowance (counted in entries)."""
        if not self.awareness.take(max(1, entries)):
            raise RateLimited("too many awareness updates")

    def take_sync_request(self) -> None:
        """Raises RateLimited (1008) past the allowance of requests that make the server send a whole state."""
        if not self.sync_requests.take():
            raise RateLimited("too many sync requests")

    def check_backlog(self, queued: int) -> None:
        """Raises SlowReader (1013) when the connection's unsent bytes stay over the limit.

        A joining client may briefly hold a whole document in its backlog, so the soft limit only closes a
        connection that stays over it for ``OUTBOUND_GRACE_SECONDS``; the hard limit (soft limit plus the document
        size cap) closes at once.
        """
        config = get_config()
        if queued <= config.MAX_OUTBOUND_BYTES:
            self.backlog_since = None
            return
        now = time.monotonic()
        if self.backlog_since is None:
            self.backlog_since = now
        hard = config.MAX_OUTBOUND_BYTES + config.MAX_DOCUMENT_BYTES
        if queued > hard or now - self.backlog_since > config.OUTBOUND_GRACE_SECONDS:
            raise SlowReader(f"{queued} bytes queued for a connection that does not read")


class StructureBudget:
    """The structural budget of one room's updates: structs per update, and how deep shared types may nest.

    Depth is counted across updates: the depth of every type created while the room is open is remembered, and a
    parent the room has not seen created is read from the Doc's state the first time one is needed.

    Attributes:
        type_depth: the nesting depth of each shared type known, by item ID.
    """

    def __init__(self) -> None:
        self.type_depth: dict[ID, int] = {}
        self._loaded_depth: int | None = None

    def check(self, update: bytes, doc: Doc) -> UpdateStructure:
        """Decode ``update`` strictly within the budgets; raises ProtocolError (1007) or UpdateTooComplex (1008)."""
        config = get_config()
        structure = read_update(update, max_structs=config.MAX_UPDATE_STRUCTS)
        if any(struct.kind == TYPE for struct in structure.structs):
            depths = type_depths(structure, self.type_depth, self._depth_of_unknown_parents(doc))
            deepest = max(depths.values(), default=0)
            if deepest > config.MAX_NESTING_DEPTH:
                raise UpdateTooComplex(f"nesting depth {deepest} is over {config.MAX_NESTING_DEPTH}")
            self.type_depth.update(depths)
        return structure

    def record(self, structure: UpdateStructure, doc: Doc) -> None:
        """Remember the depths of the types an update from a peer process creates (it checked the budget)."""
        if any(struct.kind == TYPE for struct in structure.structs):
            self.type_depth.update(type_depths(structure, self.type_depth, self._depth_of_unknown_parents(doc)))

    def _depth_of_unknown_parents(self, doc: Doc) -> int:
        """The depth assumed for a parent type not known (deleted and collected before the room loaded): the
        deepest type the Doc holds. The first call reads every type's depth from the Doc's state."""
        if self._loaded_depth is None:
            depths = type_depths_of(doc)
            for item, depth in depths.items():
                self.type_depth.setdefault(item, depth)
            self._loaded_depth = max(depths.values(), default=0)
        return self._loaded_depth


def awareness_entry_limit(known_states: int) -> int:
    """Most entries one awareness message may carry: y-websocket clients relay every state they know, plus a few."""
    return known_states + get_config().MAX_AWARENESS_NEW_ENTRIES


def parse_awareness_state(state_json: str) -> Any:
    """Parse one awareness state within its budget: size, nesting and finite numbers are checked before the parser.

    Raises:
        RateLimited: over the size or nesting budget (1008).
        ProtocolError: not JSON, or NaN/Infinity, which JavaScript clients cannot parse (1007).
    """
    config = get_config()
    if len(state_json) > config.MAX_AWARENESS_STATE_BYTES:
        raise RateLimited(f"awareness state of {len(state_json)} bytes is over {config.MAX_AWARENESS_STATE_BYTES}")
    if json_depth(state_json) > config.MAX_AWARENESS_JSON_DEPTH:
        raise RateLimited(f"awareness state nests deeper than {config.MAX_AWARENESS_JSON_DEPTH}")
    try:
        return json.loads(state_json, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError as exc:
        raise ProtocolError(f"awareness state is not JSON: {exc}") from exc


def json_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings ignored), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity, which JSON.stringify writes as null
        raise ValueError(f"{text} is not a finite number")
    return value


class Penalties:
    """Users whose connections keep sending bad input are refused new connections for a while (per process).

    Each close for bad input (1007, 1008, 1009) is counted per user; a user with ``BAD_INPUT_CLOSES`` of them within
    ``BAD_INPUT_WINDOW_SECONDS`` is refused at the handshake until the oldest leaves the window, so a client that
    reconnects and re-sends the same bomb pays for it once per window, not once per reconnect.
    """

    def __init__(self) -> None:
        self._closes: dict[int, list[float]] = {}

    def record(self, user_id: int) -> None:
        """Count a close for bad input."""
        self._recent(user_id).append(time.monotonic())

    def refused(self, user_id: int) -> bool:
        """Whether the user is refused new connections right now."""
        return len(self._recent(user_id)) >= get_config().BAD_INPUT_CLOSES

    def _recent(self, user_id: int) -> list[float]:
        horizon = time.monotonic() - get_config().BAD_INPUT_WINDOW_SECONDS
        closes = [moment for moment in self._closes.get(user_id, ()) if moment > horizon]
        if closes:
            self._closes[user_id] = closes
        else:
            self._closes.pop(user_id, None)
            closes = self._closes.setdefault(user_id, [])
        return closes


# Close codes that mean "the client sent something it should not have".
penalties = Penalties()
