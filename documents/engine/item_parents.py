"""Which list every item of a document sits in, so that an item claiming neighbours in two lists is refused.

A Yjs item names its left and right neighbours at creation (origin and right origin); both are in the list the
item is inserted into, so a client never writes an item whose two neighbours have different parents. yrs accepts
one anyway, takes the parent from the origin and then scans for the right origin in a list that does not hold it:
where the item lands depends on what else that list held at the time, so the room, a reload of its own encoding
and every client can place it differently. Neither yrs nor pycrdt exposes an item's parent, hence this index,
kept per room next to its Doc: for every clock range of every client, the parent type and map key its items sit
in (None for collected ranges), and the ranges deleted. An item whose parent type is deleted has been collected
(yrs collects the children of a deleted type at the end of the transaction, and an item created in one later): yrs
collects whatever points at it, so such neighbours are not held against the item.

About 330 lines, past our usual 300: the index, the placement check and the two range helpers they share read the
same structures and make sense only together.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

from pycrdt import Doc, StickyIndex, Transaction, write_var_uint

from documents.engine.update_reader import (
    ANY,
    BINARY,
    DOC,
    EMBED,
    GC,
    ID,
    JSON,
    SKIP,
    STRING,
    TYPE,
    Struct,
    UpdateStructure,
)
from documents.exceptions import ProtocolError

# How far up a chain of parents the walk goes before giving up (nesting is bounded far below this).
_MAX_PARENT_WALK = 10_000

# Content kinds that count in a list's length (what a sticky index offset counts).
_COUNTABLE = frozenset({JSON, BINARY, STRING, EMBED, TYPE, ANY, DOC})

# Where an item sits: (the root type's name or the ID of the item holding the parent type, the map key or None).
ParentKey = tuple[str | ID, str | None]


class ItemParents:
    """The parent of every clock range the Doc holds, per client, as sorted, merged ranges."""

    def __init__(self) -> None:
        # Clocks in machine-word arrays, not lists of int objects: an open room keeps its index for as long as it
        # is open, and a list entry with its int costs 36 bytes where an array's costs 8.
        self._starts: dict[int, array[int]] = {}
        self._ends: dict[int, array[int]] = {}
        self._keys: dict[int, list[ParentKey | None]] = {}
        self._root_keys: dict[ParentKey, ParentKey] = {}  # one tuple per root type (and key), shared by its ranges
        self._deleted = _Ranges()

    @classmethod
    def of(cls, structure: UpdateStructure) -> ItemParents:
        """The index of a whole document, from the decoded encoding of its state."""
        index = cls()
        index.add(structure, index.resolve(structure, check=False))  # what is stored is not refused again
        return index

    def __len__(self) -> int:
        """How many clock ranges the index holds."""
        return sum(map(len, self._starts.values()))

    def _recorded(self, id_: ID) -> ParentKey | None:
        starts = self._starts.get(id_[0])
        if not starts:
            return None
        at = bisect.bisect_right(starts, id_[1]) - 1
        if at < 0 or id_[1] >= self._ends[id_[0]][at]:
            return None
        return self._keys[id_[0]][at]

    def _live(self, key: ParentKey | None, recorded: Callable[[ID], ParentKey | None]) -> ParentKey | None:
        """``key``, or None when its parent type is gone (deleted, or inside a deleted type): then yrs has
        collected every item in it."""
        if key is None:
            return None
        parent: str | ID = key[0]
        for _ in range(_MAX_PARENT_WALK):
            if isinstance(parent, str):
                return key
            if parent in self._deleted:
                return None
            above = recorded(parent)
            if above is None:
                return None
            parent = above[0]
        return None

    def resolve(self, structure: UpdateStructure, check: bool = True) -> Resolved:
        """Where each struct of an update sits (by position), from the update itself and the index.

        Raises:
            ProtocolError: an item whose origin and right origin sit in different lists (or one of them is
                collected and the other not), or structs whose neighbours form a cycle.
        """
        structs = structure.structs
        own = _Positions(structs)
        keys: dict[int, ParentKey | None] = {}

        def recorded(id_: ID) -> ParentKey | None:
            position = own.find(id_)
            return self._recorded(id_) if position is None else keys.get(position)

        for start in range(len(structs)):
            pending = [start]
            while pending:
                position = pending[-1]
                if position in keys:
                    pending.pop()
                    continue
                first = self._key_or_dependency(structs, position, own, keys)
                if first is None:
                    pending.pop()
                    continue
                if first in pending:
                    raise ProtocolError(f"items of the update form a neighbour cycle at {_id(structs[position])}")
                pending.append(first)
        between: list[Struct] = []
        for struct in structs:
            if struct.origin is not None and struct.right_origin is not None:
                left = self._live(recorded(struct.origin), recorded)
                right = self._live(recorded(struct.right_origin), recorded)
                # One neighbour collected and the other not is a case of two lists too: yrs then places the item
                # from the live one, in an order-dependent place (Yjs would collect it).
                if left != right and check:
                    raise ProtocolError(f"item {_id(struct)} has neighbours in two different lists")
                if left is not None and left == right:
                    between.append(struct)
        return Resolved(keys, between)

    def _key_or_dependency(
        self, structs: list[Struct], position: int, own: _Positions, keys: dict[int, ParentKey | None]
    ) -> int | None:
        """Set ``struct``'s key in ``keys`` and return None, or return the position of the update's struct
        whose key it needs first. An item without an explicit parent sits where its origin does, else where
        its right origin does (as in Yjs); a GC or Skip sits nowhere."""
        struct = structs[position]
        if struct.kind in (GC, SKIP):
            keys[position] = None
            return None
        if struct.parent_root is not None:
            keys[position] = (struct.parent_root, struct.parent_sub)
            return None
        if struct.parent_id is not None:
            keys[position] = (struct.parent_id, struct.parent_sub)
            return None
        for neighbour in (struct.origin, struct.right_origin):
            if neighbour is None:
                continue
            at = own.find(neighbour)
            if at is None:
                key = self._recorded(neighbour)
            elif at in keys:
                key = keys[at]
            else:
                return at
            if key is not None:
                keys[position] = key
                return None
        keys[position] = None
        return None

    def add(self, structure: UpdateStructure, resolved: Resolved) -> None:
        """Record the clock ranges of an integrated update (each client's new clocks follow what it had) and
        its deletions."""
        for position, struct in enumerate(structure.structs):
            if struct.kind != SKIP:
                self._add_range(struct.client, struct.clock, struct.clock + struct.length, resolved.keys.get(position))
        for client, clock, length in structure.deletions:
            self._deleted.add(client, clock, clock + length)

    def collapse(self) -> None:
        """Forget where collected items sat: a range whose parent type is gone becomes a collected range, merged
        with its collected neighbours (a removed paragraph keeps the range of its own tombstone and one more).

        Safe because a deletion is final: an item inside a deleted type answers None from ``_live`` for good.
        """
        rewritten = {client: self._collapsed(client) for client in self._starts}
        for client, (starts, ends, keys) in rewritten.items():
            self._starts[client], self._ends[client], self._keys[client] = starts, ends, keys

    def _collapsed(self, client: int) -> tuple[array[int], array[int], list[ParentKey | None]]:
        starts, ends = array("q"), array("q")
        keys: list[ParentKey | None] = []
        for start, end, key in zip(self._starts[client], self._ends[client], self._keys[client], strict=True):
            live = self._live(key, self._recorded)
            if keys and ends[-1] == start and keys[-1] == live:
                ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
                keys.append(live)
        return starts, ends, keys

    def _add_range(self, client: int, start: int, end: int, key: ParentKey | None) -> None:
        starts = self._starts.setdefault(client, array("q"))
        ends = self._ends.setdefault(client, array("q"))
        keys = self._keys.setdefault(client, [])
        if key is not None and isinstance(key[0], str):
            key = self._root_keys.setdefault(key, key)
        if starts and ends[-1] == start and keys[-1] == key:
            ends[-1] = end
        elif not starts or start >= ends[-1]:
            starts.append(start)
            ends.append(end)
            keys.append(key)
        else:  # out of order (an update filling a range below the newest): keep the lists sorted
            at = bisect.bisect_left(starts, start)
            starts.insert(at, start)
            ends.insert(at, end)
            keys.insert(at, key)


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where an update's structs sit: keys by position, and the items placed between two live neighbours."""

    keys: dict[int, ParentKey | None]
    between: list[Struct]


def misplaced(doc: Doc, structure: UpdateStructure, between: list[Struct]) -> Struct | None:
    """The first item yrs did not place between its origin and right origin, once the update is integrated.

    A right origin that lies before the origin in the same list is the same order-dependent case as two lists:
    yrs scans from the origin for a right origin that never comes. Offsets are read through sticky indexes (the
    only position of an ID pycrdt exposes); they count visible content, so for an item placed right,
    the item and the right origin have non-decreasing offsets, and a visible item has one less than its right
    origin. An invisible item (a format mark, a deleted one) crossed over invisible content only is not seen.
    """
    if not between:
        return None
    deleted = _Ranges()
    for client, clock, length in structure.deletions:
        deleted.add(client, clock, clock + length)
    with doc.transaction() as txn:
        for struct in between:
            assert struct.origin is not None and struct.right_origin is not None
            origin = _offset(struct.origin, txn)
            item = _offset((struct.client, struct.clock), txn)
            right = _offset(struct.right_origin, txn)
            visible = struct.kind in _COUNTABLE and (struct.client, struct.clock) not in deleted
            if not origin <= item <= right or (visible and item == right):
                return struct
    return None


def _offset(id_: ID, txn: Transaction) -> int:
    """The visible offset of an ID the Doc holds, within its parent."""
    encoded = b"\x00" + write_var_uint(id_[0]) + write_var_uint(id_[1]) + b"\x00"  # item-relative, assoc "after"
    return StickyIndex.decode(encoded).get_index(txn)


class _Ranges:
    """A set of IDs as sorted, disjoint [start, end) clock ranges per client."""

    def __init__(self) -> None:
        self._starts: dict[int, array[int]] = {}
        self._ends: dict[int, array[int]] = {}

    def __contains__(self, id_: object) -> bool:
        if not isinstance(id_, tuple):
            return False
        client, clock = id_
        starts = self._starts.get(client)
        if not starts:
            return False
        at = bisect.bisect_right(starts, clock) - 1
        return at >= 0 and clock < self._ends[client][at]

    def add(self, client: int, start: int, end: int) -> None:
        starts = self._starts.setdefault(client, array("q"))
        ends = self._ends.setdefault(client, array("q"))
        low = bisect.bisect_left(ends, start)  # first range that ends at or after ``start``
        high = bisect.bisect_right(starts, end)  # ranges from ``low`` to ``high`` touch [start, end)
        if low < high:
            start, end = min(start, starts[low]), max(end, ends[high - 1])
        starts[low:high] = array("q", [start])
        ends[low:high] = array("q", [end])


class _Positions:
    """Find the struct of an update holding an ID (Skips excluded)."""

    def __init__(self, structs: Iterable[Struct]) -> None:
        self._structs = list(structs)
        self._index: dict[int, tuple[list[int], list[int]]] = {}
        for position, struct in enumerate(self._structs):
            if struct.kind == SKIP:
                continue
            starts, positions = self._index.setdefault(struct.client, ([], []))
            starts.append(struct.clock)
            positions.append(position)
        for client, (starts, positions) in self._index.items():
            if any(later < earlier for earlier, later in pairwise(starts)):  # a client in two groups
                pairs = sorted(zip(starts, positions, strict=True))
                self._index[client] = ([start for start, _ in pairs], [position for _, position in pairs])

    def find(self, id_: ID) -> int | None:
        entry = self._index.get(id_[0])
        if entry is None:
            return None
        at = bisect.bisect_right(entry[0], id_[1]) - 1
        if at < 0:
            return None
        position = entry[1][at]
        struct = self._structs[position]
        return position if id_[1] < struct.clock + struct.length else None


def _id(struct: Struct) -> ID:
    return (struct.client, struct.clock)
