"""The full invariant on an arena: every view of the document against the room's Doc, plus the budgets.

Views, in order: the room's Doc itself (readable, within the nesting budget); the stored rows loaded into an empty
Doc (as the server loads them) and what of them only waits as pending (within the pending budget); a fresh joiner;
every honest peer and the viewer. Problems peers noticed while receiving (frames they cannot decode, updates or
awareness they cannot apply) come first: they name the message that broke things.
"""

from __future__ import annotations

from typing import Any

from .arena import Arena
from .oracle import (
    SAFE_XML_DEPTH,
    Finding,
    Snapshot,
    budgets,
    compare,
    fatal,
    fresh_joiner,
    nesting_depth,
    pending_bytes,
    room_doc,
    snapshot,
    stored_doc,
)


class Checker:
    """Checks one arena; remembers the last stored rows so that unchanged rows are not loaded again."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self._stored: tuple[Any, Any, list[bytes], Any] | None = None
        self._pending_checked_rows = -1
        self._depth: tuple[bytes, int] | None = None

    def release(self) -> None:
        """Let the last stored view's Doc be freed (call when the arena is done)."""
        if self._stored is not None:
            self._stored[3]()
            self._stored = None

    async def check(self) -> list[Finding]:
        arena = self.arena
        findings, arena.findings = list(arena.findings), []
        peers = [*arena.peers.values(), arena.viewer]
        for peer in peers:
            findings += peer.problems
            peer.problems = []
        doc = room_doc(arena.room)
        max_depth, max_pending = budgets()
        try:
            # Nesting only deepens when items arrive, and then the state vector changes.
            state = doc.get_state()
            if self._depth is None or self._depth[0] != state:
                self._depth = (state, nesting_depth(doc))
            depth = self._depth[1]
            with_xml = depth <= SAFE_XML_DEPTH
            expected = snapshot(doc, with_xml)
        except BaseException as exc:  # the server's own readers (REST text, exports) would fail the same way
            if fatal(exc):
                raise
            return [*findings, Finding("room-unreadable", f"reading the room's Doc raised {type(exc).__name__}: {exc}")]
        if depth > max_depth:
            findings.append(Finding("nesting-budget", f"the room holds nesting {depth} deep (limit {max_depth})"))
        findings += await self._check_store(doc, expected, with_xml, max_pending)
        try:
            joiner = await fresh_joiner(arena.room)
        except BaseException as exc:
            if fatal(exc):
                raise
            findings.append(Finding("room-vs-joiner", f"joining raised {type(exc).__name__}: {exc}"))
        else:
            findings += joiner.problems
            findings += filter(None, [compare("joiner", doc, expected, joiner.doc, with_xml)])
        for peer in peers:
            if peer.closed is None and peer in arena.room.members:
                found = compare("honest", doc, expected, peer.doc, with_xml)
                findings += [Finding(found.oracle, f"{peer.id}: {found.detail}", found.kind)] if found else []
        return findings

    async def _check_store(self, doc: Any, expected: Snapshot, with_xml: bool, max_pending: int) -> list[Finding]:
        arena = self.arena
        await arena.store.flush()
        try:
            read = arena.store.read_sync(arena.room.document_id)
            # Loading rows is the slowest part of a check; rows that did not change load the same Doc.
            if self._stored is None or self._stored[0] != read:
                self.release()
                self._stored = (read, *stored_doc(read))
            _, stored, rows, _ = self._stored
        except BaseException as exc:
            if fatal(exc):
                raise
            return [Finding("store-unreadable", f"loading the stored rows raised {type(exc).__name__}: {exc}")]
        findings = list(filter(None, [compare("store", doc, expected, stored, with_xml)]))
        if sum(map(len, rows)) > max_pending and len(rows) != self._pending_checked_rows:
            self._pending_checked_rows = len(rows)
            try:
                held = pending_bytes(stored, rows)
            except BaseException as exc:  # a Rust panic is a BaseException
                if fatal(exc):
                    raise
                return [*findings, Finding("store-unreadable", f"merging the rows raised {type(exc).__name__}: {exc}")]
            if held > max_pending:
                findings.append(Finding("pending-budget", f"{held} bytes stored as pending (limit {max_pending})"))
        return findings
