"""A Doc that integrates each update whole or not at all: the rooms' rule, also used to read stored rows.

yrs integrates what it can of an update whose dependencies are missing and keeps the rest "pending"; with
crafted input that path leaves a Doc whose state vector, content and emitted update disagree. So the server never
hands yrs an update that is not ready: ``is_ready`` checks, from the update's decoded structure, that every clock
it builds on is already in the Doc (or in the update itself). An update that is not ready is held aside, raw, and
retried when the Doc grows. The same rule builds a Doc from stored rows (``load_doc``, ``build_doc``), so a room, a
reload and every reader of storage agree on what a document holds.

About 330 lines, past our usual 300: ``LiveDoc`` is one state machine (load, hold, integrate with its checks before
and after, roll back, remember), kept whole; the pure algebra it builds on is in ``updates``, the structural checks
in ``update_reader`` and ``item_parents``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc
from pycrdt import get_update as diff_update

from documents.engine.item_parents import ItemParents, misplaced
from documents.engine.protocol import EMPTY_UPDATE
from documents.engine.update_reader import UpdateStructure, read_update
from documents.engine.updates import (
    StateVector,
    apply_batches,
    covered_clocks,
    doc_state,
    encode_in_pieces,
    has_items,
    overlaps_known,
    pack_updates,
)
from documents.exceptions import CollabError, ProtocolError

logger = logging.getLogger("documents.engine.live_doc")

# A history larger than this, and more than twice the Doc's encoded state, is re-encoded from the Doc (merged
# updates keep every deleted character; the Doc's encoding collapses them). Low, because every open room holds
# its history in memory: at 1 MiB, a hundred small documents being typed in held a hundred MiB of it; at 64 KiB they
# still filled up to 6 MiB over nine minutes of typing, freed and filled again, a sawtooth in the process's memory.
# Re-encoding a small document costs well under a millisecond, once per 16 KiB typed into it.
HISTORY_SLACK_BYTES = 16 * 1024


@dataclass
class HeldUpdate:
    """An update waiting for a dependency, with its decoded structure (so retries do not decode it again)."""

    update: bytes
    structure: UpdateStructure


class LiveDoc:
    """A Doc that integrates each update completely or not at all, and says exactly what changed.

    Attributes:
        doc: the Doc (replaced by a rebuilt one when yrs fails halfway through an update).
        state: the Doc's state vector, as {client: clock}.
        history: every update the Doc integrated, in order (its stored rows, then each change), merged into
            size-bounded pieces now and then; the Doc is rebuilt from it after a failed apply, and a joining
            client is sent it in pieces when the state is too large for one message.
        held: updates waiting for a missing dependency, in arrival order.
        held_bytes: their total size.
        unreadable: stored rows from before the strict reader that it refuses (applied as they are).
    """

    def __init__(self, pack_every: int = 256, piece_bytes: int = 512 * 1024) -> None:
        self.doc: Doc[Any] = Doc()
        self.state: StateVector = {}
        self.history: list[bytes] = []
        self.held: list[HeldUpdate] = []
        self.held_bytes = 0
        self.unreadable = 0
        self._pack_every = pack_every
        self._piece_bytes = piece_bytes
        self._unpacked = 0
        self._captured: bytes | None = None
        self._parents: ItemParents | None = None  # built when first needed, then kept up by ``integrate``
        self._subscription: Any = self.doc.observe(self._capture)

    def _capture(self, event: Any) -> None:
        self._captured = event.update

    def close(self) -> None:
        """Stop observing the Doc. pycrdt keeps an observed Doc alive (its observer refers to it from native code,
        out of the garbage collector's sight), so every LiveDoc must be closed for its Doc to be freed."""
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None

    # -- loading --------------------------------------------------------------------------------------------------
    def load(self, segments: Iterable[bytes], log: Iterable[bytes]) -> None:
        """Integrate a document's stored rows: trusted snapshot segments, then the log, by the room's own rule.

        Segments are the server's own encoding of an integrated state. Log rows are normalised changes and held
        updates in the order the room took them; from the first held row on they are replayed one at a time,
        retrying held ones after each, exactly as the room did, so a held update that failed (or succeeded) in the
        room does the same here. Rows from before the strict reader existed that it refuses are applied as they are.
        """
        segments = list(segments)
        apply_batches(self.doc, segments)
        self.history = pack_updates(segments, self._piece_bytes)
        self.state = doc_state(self.doc)
        batch: list[bytes] = []  # ready rows before any held one: merged and applied together (fast)
        expected = dict(self.state)
        for row in log:
            try:
                structure = read_update(row)
            except CollabError:
                self.unreadable += 1
                self._flush_batch(batch)
                self.integrate_own(row)
                expected = dict(self.state)
                continue
            after = covered_clocks(structure, expected) if not self.held else None
            if after is not None:
                batch.append(row)
                expected = after
                continue
            self._flush_batch(batch)
            self.receive_stored(row, structure)
            expected = dict(self.state)
        self._flush_batch(batch)

    def _flush_batch(self, batch: list[bytes]) -> None:
        if not batch:
            return
        apply_batches(self.doc, batch)
        self.history.extend(pack_updates(batch, self._piece_bytes))
        self.state = doc_state(self.doc)
        self._captured = None
        self._parents = None
        batch.clear()

    def receive_stored(self, row: bytes, structure: UpdateStructure) -> None:
        """One stored row, as the room received it: held if not ready, else integrated, then held ones retried."""
        if not self.is_ready(structure):
            self.hold(row, structure)
            return
        try:
            self.integrate(row, structure)
        except ProtocolError as exc:
            logger.warning("a stored row does not integrate: %s", exc)
            return
        if self.held:
            self.retry_held()

    # -- integrating ----------------------------------------------------------------------------------------------
    def is_ready(self, structure: UpdateStructure) -> bool:
        """Whether the update can integrate whole now."""
        return covered_clocks(structure, self.state) is not None

    def state_after(self, structure: UpdateStructure) -> StateVector | None:
        """The state vector once the update integrates, or None when it is not ready."""
        return covered_clocks(structure, self.state)

    def hold(self, update: bytes, structure: UpdateStructure) -> None:
        """Keep an update that is not ready until its dependencies arrive."""
        self.held.append(HeldUpdate(update, structure))
        self.held_bytes += len(update)

    def integrate(self, update: bytes, structure: UpdateStructure, expected: StateVector | None = None) -> bytes | None:
        """Apply a ready update whole; return the normalised update of what changed, or None when nothing did.

        Raises:
            ProtocolError: yrs refused the update, or its effect disagrees with its structure; the Doc is rebuilt
                to exactly what it was before.
        """
        if overlaps_known(structure, self.state):
            update, structure = self._without_known(update)
            expected = None
        if expected is None:
            expected = covered_clocks(structure, self.state)
        if expected is None:
            raise ProtocolError("update is not ready to integrate")
        parents = self._item_parents()
        resolved = parents.resolve(structure)
        self._captured = None
        try:
            self.doc.apply_update(update)
        except Exception as exc:  # pyo3 PanicException derives from BaseException only when it is a real panic
            self._rollback()
            raise ProtocolError(f"corrupt update: {type(exc).__name__}: {exc}") from exc
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
            self._rollback()
            raise ProtocolError("corrupt update: yrs panicked") from exc
        changed, self._captured = self._captured, None
        actual = doc_state(self.doc)
        if actual != expected or (actual != self.state and (changed is None or not has_items(changed))):
            self._rollback()
            raise ProtocolError("update changed the document inconsistently with its structure")
        if (outside := misplaced(self.doc, structure, resolved.between)) is not None:
            self._rollback()
            raise ProtocolError(f"item {(outside.client, outside.clock)} is not between its origin and right origin")
        self.state = actual
        parents.add(structure, resolved)
        if changed is None or changed == EMPTY_UPDATE:
            return None
        self._remember(changed)
        return changed

    def _item_parents(self) -> ItemParents:
        """The index of the Doc's items' parents, read from its encoded state when it is not being kept up."""
        if self._parents is None:
            self._parents = ItemParents.of(read_update(self.doc.get_update()))
        return self._parents

    def _without_known(self, update: bytes) -> tuple[bytes, UpdateStructure]:
        """The update minus the clocks the Doc already holds.

        Yjs ignores the content of clocks it has, but yrs can let a re-sent struct with other content change how
        the Doc encodes (not how it reads), so such clocks are cut off before yrs integrates the update.
        """
        try:
            trimmed = diff_update(update, self.doc.get_state())
            return trimmed, read_update(trimmed)
        except CollabError:
            raise
        except Exception as exc:
            raise ProtocolError(f"corrupt update: {type(exc).__name__}: {exc}") from exc

    def integrate_own(self, update: bytes) -> bytes | None:
        """Apply an update the server computed from this very Doc (ready by construction, so not decoded).

        Raises:
            ProtocolError: yrs refused it; the Doc is rebuilt to exactly what it was before.
        """
        self._captured = None
        try:
            self.doc.apply_update(update)
        except Exception as exc:
            self._rollback()
            raise ProtocolError(f"server edit refused: {exc}") from exc
        changed, self._captured = self._captured, None
        self.state = doc_state(self.doc)
        self._parents = None
        if changed is None or changed == EMPTY_UPDATE:
            return None
        self._remember(changed)
        return changed

    def retry_held(self) -> list[bytes]:
        """Integrate every held update that has become ready, repeatedly; return what they changed, in order.

        One that yrs refuses is dropped (the same happens wherever the stored rows are loaded).
        """
        changes: list[bytes] = []
        progress = True
        while progress and self.held:
            progress = False
            for item in list(self.held):
                if not self.is_ready(item.structure):
                    continue
                self.held.remove(item)
                self.held_bytes -= len(item.update)
                progress = True
                try:
                    changed = self.integrate(item.update, item.structure)
                except ProtocolError as exc:
                    logger.warning("dropped a held update that does not integrate: %s", exc)
                    continue
                if changed is not None:
                    changes.append(changed)
        return changes

    # -- internals ------------------------------------------------------------------------------------------------
    def _rollback(self) -> None:
        """Replace the Doc by one rebuilt from the history: exactly the state before the failed update."""
        self.close()
        self.doc = Doc()
        apply_batches(self.doc, self.history)
        self._subscription = self.doc.observe(self._capture)
        self._captured = None
        self._parents = None
        self.state = doc_state(self.doc)

    def _remember(self, update: bytes) -> None:
        self.history.append(update)
        self._unpacked += 1
        if self._unpacked < self._pack_every:
            return
        # Merge only the recent updates; the whole history is merged again only when its pieces pile up.
        self.history[-self._unpacked :] = pack_updates(self.history[-self._unpacked :], self._piece_bytes)
        self._unpacked = 0
        if len(self.history) > self._pack_every:
            self.history = pack_updates(self.history, self._piece_bytes)
        # Merging keeps deleted content; when that dominates, the Doc's own (collected) encoding replaces it.
        history_bytes = sum(map(len, self.history))
        if history_bytes > HISTORY_SLACK_BYTES:
            state = self.doc.get_update()
            if history_bytes > 2 * len(state):
                self.history = encode_in_pieces(self.doc, self._piece_bytes, state) or [state]
                # The same moment suits the item-parent index: what the encoding collected, it forgets too
                # (from about 680 to about 100 bytes per removed paragraph, measured).
                if self._parents is not None:
                    self._parents.collapse()


def load_doc(segments: Iterable[bytes], log: Iterable[bytes]) -> LiveDoc:
    """A LiveDoc holding a document's stored rows: what "the stored rows applied to an empty Doc" means here.

    It is closed (no longer observed): for reading, not for integrating more updates.
    """
    live = LiveDoc()
    live.load(segments, log)
    live.close()
    return live


def build_doc(updates: list[bytes]) -> Doc:
    """A Doc holding ``updates`` (rows in order, none trusted as a snapshot), integrated by the rooms' rule."""
    return load_doc([], updates).doc


def state_pieces(live: LiveDoc, limit: int) -> list[bytes]:
    """The integrated state as size-bounded pieces: re-encoded when possible, else the history packed."""
    pieces = encode_in_pieces(live.doc, limit)
    return pieces if pieces is not None else pack_updates(live.history, limit)


@dataclass
class Compacted:
    """The result of compacting stored rows: snapshot segments, and the held rows that must stay in the log."""

    segments: list[bytes]
    held: list[bytes]


def compact_rows(segments: list[bytes], log: list[bytes], limit: int) -> Compacted:
    """Fold a document's rows into snapshot segments (its integrated state) plus the rows still waiting."""
    live = load_doc(segments, log)
    return Compacted(state_pieces(live, limit), [item.update for item in live.held])
