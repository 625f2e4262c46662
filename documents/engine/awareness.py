"""A room's presence: the awareness states, and who may speak for each client id here and across processes.

An awareness client id belongs to the authenticated user whose connection first set a state for it. While that
connection holds it, nobody else's message changes it: not another local connection (y-websocket clients relay
every presence change they see, so most such entries are routine echoes) and not a peer process. When the holder
leaves, its states are removed for everyone at once, and the id stays its user's for ``AWARENESS_RELEASE_SECONDS``
(the awareness timeout of y-protocols), so a reconnecting owner gets it back and nobody else can take it meanwhile.
A message may not move a known id's clock by more than ``AWARENESS_CLOCK_STEP``: a clock of 2**53 would make the
real owner's later states look outdated forever.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from pycrdt import Awareness, Doc

from documents.conf import get_config
from documents.engine.limits import parse_awareness_state
from documents.engine.protocol import encode_awareness_update, parse_awareness_update
from documents.exceptions import CollabError, ProtocolError, RateLimited

logger = logging.getLogger("documents.engine.rooms")


@dataclass
class Claim:
    """The owner of one client id.

    Attributes:
        user_id: the authenticated user it belongs to.
        holder: the local member speaking for it, None when it is held in a peer process or released.
        clock: the latest clock accepted for it.
        released_at: ``time.monotonic()`` when its holder left, or None while held.
    """

    user_id: int
    holder: Any | None
    clock: int
    released_at: float | None = None


class AwarenessOwners:
    """The claims on awareness client ids of one room."""

    def __init__(self) -> None:
        self.claims: dict[int, Claim] = {}

    def may_local(self, client_id: int, member: Any, user_id: int) -> bool:
        """Whether a local member (of ``user_id``) may change ``client_id``."""
        claim = self.claims.get(client_id)
        if claim is None or claim.holder is member:
            return True
        if claim.released_at is None:
            return False  # held by another connection, here or in a peer process
        return claim.user_id == user_id or self._expired(claim)

    def may_peer(self, client_id: int, user_id: int | None) -> bool:
        """Whether a peer process may change ``client_id`` on behalf of ``user_id``."""
        claim = self.claims.get(client_id)
        if claim is None:
            return True
        if claim.holder is not None:
            return False  # a local connection holds it
        return claim.user_id == user_id or (claim.released_at is not None and self._expired(claim))

    def check_clock(self, client_id: int, clock: int) -> None:
        """Raises RateLimited (1008) when ``clock`` jumps too far ahead of the id's known clock."""
        claim = self.claims.get(client_id)
        step = get_config().AWARENESS_CLOCK_STEP
        if claim is not None and clock > claim.clock + step:
            raise RateLimited(f"awareness clock of client {client_id} jumps from {claim.clock} to {clock}")

    def hold(self, client_id: int, user_id: int, holder: Any | None, clock: int) -> None:
        """Record that ``holder`` (None: a peer process) speaks for ``client_id`` as ``user_id``."""
        self.claims[client_id] = Claim(user_id, holder, clock)

    def release(self, client_id: int, clock: int | None = None) -> None:
        """The id's state was removed: keep it its user's for the release period."""
        claim = self.claims.get(client_id)
        if claim is None:
            return
        claim.holder = None
        claim.released_at = time.monotonic()
        if clock is not None:
            claim.clock = max(claim.clock, clock)

    def user_of(self, client_id: int) -> int | None:
        """The user a client id belongs to, if anyone's."""
        claim = self.claims.get(client_id)
        return claim.user_id if claim is not None else None

    def held_by(self, holder: Any) -> list[int]:
        """The client ids a local member holds."""
        return [client_id for client_id, claim in self.claims.items() if claim.holder is holder]

    def forget_expired(self) -> None:
        """Drop released claims past their period."""
        for client_id in [cid for cid, claim in self.claims.items() if claim.released_at and self._expired(claim)]:
            del self.claims[client_id]

    @staticmethod
    def _expired(claim: Claim) -> bool:
        assert claim.released_at is not None
        return time.monotonic() - claim.released_at > get_config().AWARENESS_RELEASE_SECONDS


class Presence:
    """The awareness states of one room, changed only by whoever holds each client id.

    Attributes:
        awareness: every client's state (local connections and peer processes); the server has none of its own.
        owners: the claims on client ids.
    """

    def __init__(self, doc: Doc) -> None:
        # Awareness uses its Doc only for the local client id, which the server never sets a state for.
        self.awareness = Awareness(doc)
        self.awareness.set_local_state(None)
        self._server_client_id = doc.client_id
        self.owners = AwarenessOwners()

    def receive_local(
        self, member: Any, connection: Any, entries: list[tuple[int, int, str]]
    ) -> tuple[bytes, list[int]] | None:
        """Apply the entries a local connection may speak for, each stamped with its user's name and color.

        Returns:
            The applied awareness update and its client ids, or None when nothing was the connection's to change.

        Raises:
            RateLimited: a state over its size or nesting budget, or a clock jump (1008).
            ProtocolError: a state that is not a JSON object (1007).
        """
        stamped = []
        for client_id, clock, state_json in entries:
            if client_id == self._server_client_id or not self.owners.may_local(client_id, member, connection.user_id):
                # y-websocket clients relay every presence change they see, so this is routine, not an attack.
                continue
            self.owners.check_clock(client_id, clock)
            state = parse_awareness_state(state_json) if state_json else None
            if state is not None and not isinstance(state, dict):
                raise ProtocolError("awareness state is not an object")
            if state is None:
                self.owners.release(client_id, clock)
            else:
                user = cast("dict[str, Any]", state.get("user")) if isinstance(state.get("user"), dict) else {}
                state["user"] = {**user, "name": connection.user_name, "color": connection.user_color}
                self.owners.hold(client_id, connection.user_id, member, clock)
            stamped.append((client_id, clock, json.dumps(state, separators=(",", ":"))))
        if not stamped:
            return None
        encoded = encode_awareness_update(stamped)
        self.awareness.apply_awareness_update(encoded, origin=connection)
        return encoded, [client_id for client_id, _, _ in stamped]

    def leave(self, member: Any, origin: Any) -> tuple[bytes, list[int]] | None:
        """Remove the states a leaving member held; returns the removal to send, or None."""
        held = self.owners.held_by(member)
        for client_id in held:
            self.owners.release(client_id)
        self.forget_expired()
        client_ids = [cid for cid in held if cid in self.awareness.states]
        if not client_ids:
            return None
        self.awareness.remove_awareness_states(client_ids, origin=origin)
        return self.awareness.encode_awareness_update(client_ids), client_ids

    def receive_peer(self, payload: bytes, owners: dict[int, int]) -> bytes | None:
        """Apply a peer process's presence changes for the ids it may speak for; returns what was applied."""
        try:
            entries = parse_awareness_update(payload)
        except CollabError as exc:
            logger.error("peer sent a malformed awareness update: %s", exc)
            return None
        accepted = []
        for client_id, clock, state_json in entries:
            user_id = owners.get(client_id)
            if not self.owners.may_peer(client_id, user_id):
                logger.warning("dropped a peer's awareness of client %d, which another user holds", client_id)
                continue
            if state_json in ("", "null"):
                self.owners.release(client_id, clock)
            elif user_id is not None:
                self.owners.hold(client_id, user_id, None, clock)
            accepted.append((client_id, clock, state_json))
        if not accepted:
            return None
        applied = payload if len(accepted) == len(entries) else encode_awareness_update(accepted)
        self.awareness.apply_awareness_update(applied, origin="peer")
        return applied

    def forget_expired(self) -> None:
        """Forget the client ids nobody speaks for any more: released claims past their period, and the clock the
        awareness keeps of every id that ever had a state (y-protocols keeps it for good, so that a late copy of a
        removed state stays removed; the claim does that job for the release period). Called as members leave, so
        neither table grows with every tab that ever joined a room that stays loaded."""
        self.owners.forget_expired()
        meta, states = self.awareness.meta, self.awareness.states
        for client_id in [cid for cid in meta if cid not in states and self.owners.user_of(cid) is None]:
            if client_id != self._server_client_id:
                del meta[client_id]

    def owners_of(self, client_ids: list[int]) -> dict[int, int]:
        """The user each of these client ids belongs to (for peers)."""
        return {cid: user for cid in client_ids if (user := self.owners.user_of(cid)) is not None}

    def snapshot(self) -> tuple[bytes, dict[int, int]] | None:
        """Every state with its owner, or None when there are none."""
        client_ids = list(self.awareness.states)
        if not client_ids:
            return None
        self.forget_expired()
        return self.awareness.encode_awareness_update(client_ids), self.owners_of(client_ids)
