"""Awareness mutations: presence payloads whose JSON is deep, non-finite, huge, of the wrong type or not UTF-8.

Why separate: the awareness path never touches the Doc, so its failures are of another kind (an exception out of
``json.loads``/``json.dumps``, or a relayed state a browser's ``JSON.parse`` rejects), and its inputs are JSON
texts rather than update structure.
"""

from __future__ import annotations

import json
import random

from pycrdt import write_var_uint

from documents.engine.protocol import encode_awareness

MAX_SAFE = 2**53


def _deep(rng: random.Random) -> str:
    # Python's json gives up (RecursionError) near 1,000 levels; 3,000 is past it in a few kilobytes.
    depth = rng.choice((10, 17, 100, 1_000, 3_000, 3_000, 30_000))
    opener, closer = rng.choice((('{"a":', "}"), ("[", "]"), ('{"user":{"a":[', "]}}")))
    if opener.startswith('{"user"'):
        depth = max(1, depth // 3)
    return opener * depth + "1" + closer * depth


_SHAPES = (
    '{"user":{"name":NaN}}',
    '{"x":Infinity,"y":-Infinity}',
    '{"cursor":{"anchor":NaN,"head":Infinity}}',
    '{"x":1e400}',
    '{"x":-1e400}',
    '{"n":' + "9" * 5_000 + "}",
    '{"n":' + "9" * 4_000 + "}",
    '{"n":18446744073709551616}',
    "[]",
    '"a string"',
    "1",
    "true",
    "",
    "null",
    "{",
    '{"user":"not an object"}',
    '{"user":[1,2,3]}',
    '{"user":{"name":5,"color":null}}',
    '{"user":{"name":"a"},"user":{"name":"b"}}',
    '{"x":"\\ud800"}',
    '{"x":"\\u0000"}',
    '{"cursor":{"anchor":{"type":{"client":-1,"clock":1e300},"tname":null,"item":"x","assoc":"left"}}}',
)


def _state(rng: random.Random) -> bytes:
    """One awareness state as bytes (not necessarily UTF-8, not necessarily JSON)."""
    kind = rng.random()
    if kind < 0.25:
        return _deep(rng).encode()
    if kind < 0.7:
        return rng.choice(_SHAPES).encode()
    if kind < 0.8:
        return rng.choice((b'{"x":"\xff\xfe"}', b'{"x":"\xed\xa0\x80"}', b'{"x":"\xc0\xaf"}', b"\x80"))
    if kind < 0.9:
        return json.dumps({"user": {"name": "x" * rng.choice((10, 10_000, 400_000))}}).encode()
    return json.dumps({"user": {"name": "ok", "color": "#fff"}, "cursor": None}).encode()


def awareness_payload(entries: list[tuple[int, int, bytes]]) -> bytes:
    parts = [write_var_uint(len(entries))]
    for client, clock, state in entries:
        parts += [write_var_uint(client), write_var_uint(clock), write_var_uint(len(state)), state]
    return b"".join(parts)


def awareness_case(rng: random.Random, known_ids: list[int], messages: list[bytes]) -> list[bytes]:
    """One or two awareness messages with crafted states (or a mutated recorded one)."""
    if rng.random() < 0.15:
        recorded = [m for m in messages if m[:1] == b"\x01"]
        data = bytearray(rng.choice(recorded))
        data[rng.randrange(2, len(data))] = rng.randrange(256)
        return [bytes(data)]
    own = 777_000 + rng.randrange(3)
    entries = []
    for _ in range(rng.choice((1, 1, 1, 2, 5))):
        client = rng.choice((*known_ids, own, own, rng.getrandbits(32), MAX_SAFE, 0))
        clock = rng.choice((0, 1, rng.randrange(1000), MAX_SAFE, 2**56 - 1))
        entries.append((client, clock, _state(rng)))
    message = encode_awareness(awareness_payload(entries))
    return [message, message] if rng.random() < 0.1 else [message]
