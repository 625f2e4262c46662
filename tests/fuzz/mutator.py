"""A structure-aware mutator of y-websocket traffic: each case is one to three messages an attacker sends.

Why structure-aware: random bytes die in the framing decoder; the interesting failures need frames that decode,
updates whose structs parse and reference real items, and budgets pushed exactly past their limits. So mutations
work at every layer: raw bytes (flips, inserts, truncation), framing (types, length prefixes, inflated varints),
update structure (client ids, clocks, origins, parents, delete sets, splices and merges of valid updates, deep
nesting built as a valid update), awareness JSON, and ordering (replays, reordering, missing dependencies).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from pycrdt import merge_updates, write_var_uint

from documents.conf import get_config
from documents.engine.protocol import encode_state_vector, encode_sync_step1, encode_sync_step2, encode_update

from . import ycodec
from .awareness import awareness_case
from .session import Recorded

MAX_CLIENT = 2**53
_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x3F, 0x40, 0xC0)
_KEEP_LEARNED = 200


def _budget(name: str, default: int) -> int:
    """A budget of the configuration in force (the episode may have made it small)."""
    return int(getattr(get_config(), name, default))


class Mutator:
    """Draws cases from the recorded session and the updates honest clients sent since (``learn``)."""

    def __init__(self, rng: random.Random, recording: list[Recorded]) -> None:
        self.rng = rng
        self.messages = [r.message for r in recording]
        self.recorded = [r.update for r in recording if r.update and r.update != b"\x00\x00"]
        self.learned: list[bytes] = []
        # IDs of the recorded XmlElements: a deep chain can hang below a real block.
        self.elements = self._ids(lambda struct: struct.type_ref == ycodec.XML_ELEMENT)
        self.texts = self._ids(lambda struct: struct.info & 0x1F == ycodec.STRING)
        self.awareness_ids = [1001, 2002, 3003]
        cases: dict[str, tuple[float, Callable[[], list[bytes]]]] = {
            "bit flip": (10, self.bit_flip),
            "byte edit": (8, self.byte_edit),
            "truncate": (4, self.truncate),
            "inflate varint": (8, self.inflate_varint),
            "splice": (5, self.splice),
            "merge": (4, self.merge),
            "swap types": (5, self.swap_types),
            "length prefix": (5, self.length_prefix),
            "change ids": (16, self.change_ids),
            "wrong parent": (5, self.wrong_parent),
            "deep nesting": (1.2, self.deep_nesting),
            "awareness": (10, lambda: awareness_case(self.rng, self.awareness_ids, self.messages)),
            "replay twice": (4, self.replay_twice),
            "reorder": (6, self.reorder),
            "delete only": (4, self.delete_only),
            "state vector": (4, self.state_vector),
            "query awareness": (1, lambda: [b"\x03"]),
            "stacked": (6, self.stacked),
            "big pending": (0.3, self.big_pending),
            "many deletions": (0.2, self.many_deletions),
        }
        self._names = list(cases)
        self._makers = [make for _, make in cases.values()]
        self._weights = [weight for weight, _ in cases.values()]

    def _ids(self, wanted: Callable[[ycodec.Struct], bool]) -> list[ycodec.ID]:
        """IDs of the recorded structs ``wanted`` picks."""
        ids = []
        for update in self.recorded:
            for block in ycodec.parse(update).blocks:
                clock = block.clock
                for struct in block.structs:
                    if wanted(struct):
                        ids.append((block.client, clock))
                    clock += struct.length
        return ids

    def learn(self, update: bytes) -> None:
        """Remember an update an honest client sent: later mutants then refer to the document as it is now."""
        self.learned.append(update)
        if len(self.learned) > _KEEP_LEARNED:
            del self.learned[: _KEEP_LEARNED // 2]

    def case(self) -> tuple[str, list[bytes]]:
        """(mutation name, messages) of one attack."""
        index = self.rng.choices(range(len(self._names)), self._weights)[0]
        return self._names[index], self._makers[index]()

    # -- sources -----------------------------------------------------------------------------------------------
    def update(self) -> bytes:
        pool = self.learned if self.learned and self.rng.random() < 0.4 else self.recorded
        return self.rng.choice(pool)

    def framed(self, update: bytes) -> bytes:
        return encode_update(update) if self.rng.random() < 0.75 else encode_sync_step2(update)

    def message(self) -> bytes:
        return self.rng.choice(self.messages) if self.rng.random() < 0.5 else self.framed(self.update())

    # -- byte level --------------------------------------------------------------------------------------------
    def bit_flip(self) -> list[bytes]:
        data = bytearray(self.message())
        for _ in range(self.rng.randint(1, 4)):
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return [bytes(data)]

    def byte_edit(self) -> list[bytes]:
        data = bytearray(self.message())
        at = self.rng.randrange(len(data) + 1)
        kind = self.rng.randrange(3)
        if kind == 0:
            data[at:at] = bytes(self.rng.choice(_INTERESTING) for _ in range(self.rng.randint(1, 4)))
        elif kind == 1:
            del data[at : at + self.rng.randint(1, 8)]
        elif at < len(data):
            data[at] = self.rng.choice(_INTERESTING)
        return [bytes(data)]

    def truncate(self) -> list[bytes]:
        data = self.message()
        return [data[: self.rng.randrange(len(data))]]

    # -- framing -----------------------------------------------------------------------------------------------
    def inflate_varint(self) -> list[bytes]:
        update = self.update()
        if self.rng.random() < 0.3:  # a header varint: type, sync type or length prefix
            extra = b"\x80" * self.rng.randint(1, 9)
            head = [bytes([b | 0x80]) + extra[:-1] + b"\x00" for b in (0, 2)]
            parts = [b"\x00", b"\x02", write_var_uint(len(update))]
            index = self.rng.randrange(3)
            parts[index] = (
                head[index] if index < 2 else parts[2][:-1] + bytes([parts[2][-1] | 0x80]) + extra[1:] + b"\x00"
            )
            return [b"".join(parts) + update]
        parsed = ycodec.parse(update)
        count = ycodec.count_varints(parsed)
        inflate = {self.rng.randrange(count): self.rng.randint(1, 9) for _ in range(self.rng.randint(1, 3))}
        return [self.framed(ycodec.encode(parsed, inflate))]

    def swap_types(self) -> list[bytes]:
        data = bytearray(self.message())
        if self.rng.random() < 0.5 or len(data) < 2:
            data[0] = self.rng.choice((0, 1, 2, 3, 4, 0x7F))
        else:
            data[1] = self.rng.choice((0, 1, 2, 3, 7))
        return [bytes(data)]

    def length_prefix(self) -> list[bytes]:
        update = self.update()
        length = self.rng.choice((len(update) + 1, len(update) - 1, 0, 2 * len(update), 2**32, 2**53, 2**56 - 1))
        return [bytes([0, self.rng.choice((1, 2))]) + write_var_uint(max(length, 0)) + update]

    # -- update structure --------------------------------------------------------------------------------------
    def splice(self) -> list[bytes]:
        first, second = self.update(), self.update()
        cut = first[: self.rng.randrange(len(first) + 1)] + second[self.rng.randrange(len(second) + 1) :]
        return [self.framed(cut or b"\x00")]

    def merge(self) -> list[bytes]:
        updates = [self.update() for _ in range(self.rng.randint(2, 4))]
        if self.rng.random() < 0.3:
            return [self.framed(b"".join(updates))]
        return [self.framed(merge_updates(*updates))]

    def _client(self, known: list[int]) -> int:
        return self.rng.choice(
            [*known, self.rng.getrandbits(32), self.rng.getrandbits(53), MAX_CLIENT, MAX_CLIENT + 1, 0, 1]
        )

    def _clock(self, clock: int) -> int:
        return max(0, self.rng.choice((clock + 1, clock - 1, clock + self.rng.randint(2, 50), 0, 2**32, 2**53)))

    def change_ids(self) -> list[bytes]:
        parsed = ycodec.parse(self.update())
        known = [block.client for block in parsed.blocks] + [c for c, _ in parsed.deletes] + self.awareness_ids
        items = [s for b in parsed.blocks for s in b.structs if s.info & 0x1F not in (ycodec.GC, ycodec.SKIP)]
        for _ in range(self.rng.randint(1, 3)):
            kind = self.rng.randrange(7)
            if kind == 0 and parsed.blocks:
                self.rng.choice(parsed.blocks).client = self._client(known)
            elif kind == 1 and parsed.blocks:
                block = self.rng.choice(parsed.blocks)
                block.clock = self._clock(block.clock)
            elif kind == 2 and items:
                item = self.rng.choice(items)
                for attr in ("origin", "right_origin", "parent"):
                    ref = getattr(item, attr)
                    if isinstance(ref, tuple):
                        setattr(item, attr, (self._client([ref[0], *known]), self._clock(ref[1])))
            elif kind == 3:
                client = self._client(known)
                ranges = [(self.rng.randrange(64), self.rng.randint(0, 40)) for _ in range(self.rng.randint(1, 4))]
                parsed.deletes.append((client, ranges))
            elif kind == 4 and parsed.blocks and parsed.blocks[0].structs:
                block = self.rng.choice(parsed.blocks)
                if block.structs:
                    del block.structs[self.rng.randrange(len(block.structs))]
            elif kind == 5 and items:
                item = self.rng.choice(items)
                if item.parent is not None:
                    item.info ^= 0x20  # a map key appears (or vanishes) on a list item
                    item.parent_sub = item.parent_sub or self.rng.choice(("default", "level", ""))
                if isinstance(item.parent, str):
                    item.parent = self.rng.choice(("default", "", "t", "default\x00"))
            elif kind == 6 and len(parsed.blocks) > 1:
                self.rng.shuffle(parsed.blocks)
        return [self.framed(ycodec.encode(parsed))]

    def wrong_parent(self) -> list[bytes]:
        """A run of real edits whose last item names a text item as its parent: yrs integrates the run's first
        items, then fails on that one."""
        start = self.rng.randrange(len(self.recorded))
        parsed = ycodec.parse(merge_updates(*self.recorded[start : start + self.rng.randint(1, 6)]))
        items = [s for b in parsed.blocks for s in b.structs if s.info & 0x1F not in (ycodec.GC, ycodec.SKIP)]
        if not items:
            return self.change_ids()
        item = items[-1] if self.rng.random() < 0.7 else self.rng.choice(items)
        item.info &= 0x3F if self.rng.random() < 0.8 else 0x1F  # no origins (maybe no map key): parent is written
        item.origin = item.right_origin = None
        item.parent = self.rng.choice(self.texts if self.rng.random() < 0.8 else self.elements)
        return [self.framed(ycodec.encode(parsed))]

    def deep_nesting(self) -> list[bytes]:
        depth = 30_000 if self.rng.random() < 0.1 else int(math.exp(self.rng.uniform(math.log(2), math.log(30_000))))
        parent: str | ycodec.ID = "default"
        if self.rng.random() < 0.5:
            parent = self.rng.choice(self.elements)
        return [self.framed(ycodec.nested_elements(depth, self.rng.getrandbits(32), 0, parent))]

    def delete_only(self) -> list[bytes]:
        clients = [*self.awareness_ids, self.rng.getrandbits(32)]
        deletes = [
            (client, [(self.rng.randrange(80), self.rng.randint(1, 30)) for _ in range(self.rng.randint(1, 5))])
            for client in self.rng.sample(clients, self.rng.randint(1, len(clients)))
        ]
        return [self.framed(ycodec.encode(ycodec.Update([], deletes)))]

    def big_pending(self) -> list[bytes]:
        """An insert after a clock gap, 40% of the pending budget: it can only wait, and three pass the budget."""
        writer = ycodec.Writer()
        writer.var_string("x" * (_budget("MAX_PENDING_BYTES", 1024 * 1024) * 2 // 5))
        item = ycodec.Struct(ycodec.STRING, parent="default", content=writer.getvalue())
        block = ycodec.Block(self.rng.getrandbits(32), self.rng.randint(1, 9), [item])
        return [self.framed(ycodec.encode(ycodec.Update([block], [])))]

    def many_deletions(self) -> list[bytes]:
        """10% more deletion ranges than MAX_UPDATE_STRUCTS allows one update to carry."""
        count = _budget("MAX_UPDATE_STRUCTS", 100_000) * 11 // 10
        ranges = [(2 * i, 1) for i in range(count)]
        return [self.framed(ycodec.delete_ranges(self.rng.choice(self.awareness_ids), ranges))]

    # -- ordering ----------------------------------------------------------------------------------------------
    def replay_twice(self) -> list[bytes]:
        message = self.message() if self.rng.random() < 0.7 else self.bit_flip()[0]
        return [message, message]

    def reorder(self) -> list[bytes]:
        start = self.rng.randrange(len(self.recorded))
        picked = self.recorded[start : start + self.rng.randint(2, 4)]
        self.rng.shuffle(picked)
        return [self.framed(update) for update in picked[:3]]

    def state_vector(self) -> list[bytes]:
        clocks = {self._client(self.awareness_ids): self._clock(self.rng.randrange(100)) for _ in range(3)}
        return [encode_sync_step1(encode_state_vector(clocks))]

    def stacked(self) -> list[bytes]:
        base = self.rng.choice((self.change_ids, self.merge, self.inflate_varint, self.reorder))()
        data = bytearray(base[-1])
        for _ in range(self.rng.randint(1, 2)):
            data[self.rng.randrange(len(data))] = self.rng.choice(_INTERESTING)
        return [*base[:-1], bytes(data)]
