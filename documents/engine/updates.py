"""Yjs update algebra: pure functions of updates, state vectors and Docs, no I/O and no room.

Merging and packing updates into size-bounded pieces, encoding a Doc's state in pieces, checking whether an update
is ready to integrate (every clock it builds on is known), and reading type nesting depths. ``live_doc.LiveDoc``
builds on these to integrate updates whole or not at all.
"""

from __future__ import annotations

from pycrdt import Doc, merge_updates

from documents.engine.protocol import EMPTY_UPDATE, encode_state_vector, read_state_vector
from documents.engine.update_reader import ID, SKIP, UpdateStructure, read_update, type_depths

StateVector = dict[int, int]
# Stored updates are applied in merged batches: applying many small updates one by one is slow.
BATCH = 500
# yrs' merge_updates costs grow with the square of the number of updates it is given, and it holds the interpreter
# lock throughout (4,000 updates: 64 ms; 31,000: 12.7 s, every other thread stopped). Merging at most this many at a
# time, then merging the results the same way, keeps the cost linear: 4,000 updates take 4 ms.
MERGE_FAN_IN = 16


def has_items(update: bytes) -> bool:
    """Whether a (v1) update carries items; it starts with the number of clients whose items it holds."""
    return update[:1] != b"\x00"


def doc_state(doc: Doc) -> StateVector:
    """The Doc's state vector as {client: clock}, decoded without the untrusted-input bounds (yrs wrote it)."""
    data = doc.get_state()
    values: list[int] = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append(value)
        value = shift = 0
    return dict(zip(values[1::2], values[2::2], strict=True))


def covered_clocks(structure: UpdateStructure, state: StateVector) -> StateVector | None:
    """The state vector after the update integrates into a Doc at ``state``, or None if it is not ready.

    Ready means: each client's structs continue (or overlap) what the Doc has, with no gap; every origin, right
    origin and parent ID points at a clock the Doc or the update holds; every deleted range is known.
    """
    after = dict(state)
    for client, spans in structure.clock_ranges().items():
        have = after.get(client, 0)
        for start, end in spans:
            if start > have:
                return None
            have = max(have, end)
        after[client] = have
    for struct in structure.structs:
        for ref in (struct.origin, struct.right_origin, struct.parent_id):
            if ref is not None and ref[1] >= after.get(ref[0], 0):
                return None
    for client, clock, length in structure.deletions:
        if clock + length > after.get(client, 0):
            return None
    return after


def overlaps_known(structure: UpdateStructure, state: StateVector) -> bool:
    """Whether some struct of the update starts at a clock the Doc already has."""
    return any(s.clock < state.get(s.client, 0) for s in structure.structs if s.kind != SKIP)


def apply_batches(doc: Doc, updates: list[bytes]) -> None:
    """Apply ``updates`` to ``doc`` in merged batches of ``BATCH``."""
    for start in range(0, len(updates), BATCH):
        doc.apply_update(merge(updates[start : start + BATCH]))


def merge(updates: list[bytes]) -> bytes:
    """One update equivalent to ``updates`` (no Doc involved), merged ``MERGE_FAN_IN`` at a time."""
    if not updates:
        return EMPTY_UPDATE
    while len(updates) > 1:
        groups = (updates[start : start + MERGE_FAN_IN] for start in range(0, len(updates), MERGE_FAN_IN))
        updates = [group[0] if len(group) == 1 else merge_updates(*group) for group in groups]
    return updates[0]


def pack_updates(updates: list[bytes], limit: int) -> list[bytes]:
    """Merge consecutive updates into as few pieces as possible, each at most ``limit`` bytes when it can be.

    A piece that is already over the limit on its own stays as it is.
    """
    pieces: list[bytes] = []
    batch: list[bytes] = []
    batch_bytes = 0
    for update in updates:
        if batch and batch_bytes + len(update) > limit:
            pieces.append(merge(batch))
            batch, batch_bytes = [], 0
        batch.append(update)
        batch_bytes += len(update)
    if batch:
        pieces.append(merge(batch))
    return pieces


def encode_in_pieces(doc: Doc, limit: int, full: bytes | None = None) -> list[bytes] | None:
    """The Doc's whole state as updates of at most ``limit`` bytes: one, or one per client merged up to the limit.

    ``full`` is the Doc's whole update when the caller has just encoded it (so it is not encoded twice).
    Returns None when one client's share alone exceeds the limit.
    """
    if full is None:
        full = doc.get_update()
    if len(full) <= limit:
        return [full]
    state = read_state_vector(doc.get_state())
    pieces = []
    for client in state:
        # Diffing against a state vector that holds every other client at its full clock leaves only this
        # client's items (and the delete set).
        others = {other: clock for other, clock in state.items() if other != client}
        piece = doc.get_update(encode_state_vector(others))
        if len(piece) > limit:
            return None
        pieces.append(piece)
    return pack_updates(pieces, limit)


def type_depths_of(doc: Doc) -> dict[ID, int]:
    """The nesting depth of every shared type in the Doc, by item ID (a root's children are at depth 1).

    Read from the Doc's encoded state, which names every type item and its parent whatever the root types are.
    """
    return type_depths(read_update(doc.get_update()), {}, 0)


def max_type_depth(doc: Doc) -> int:
    """The deepest nesting of shared types in the Doc."""
    return max(type_depths_of(doc).values(), default=0)
