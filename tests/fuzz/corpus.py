"""Findings on disk: replaying a script through a fresh room, shrinking it, saving and loading it.

A corpus file is ``tests/fuzz/corpus/<hash>.hex``: comment lines first (the oracle that failed, then the COLLAB
settings the room ran with), then one message per line in hex. A bare hex line is the attacker's (an editor that
reconnects whenever it gets closed); ``A <hex>`` is honest peer A's (it applies its own update first, as an editor
does), ``V <hex>`` the viewer's; ``A reload`` and ``A rejoin`` are peer A reloading the page (a fresh Doc) or
reconnecting with its Doc. The same shape as ``session.hex``. Replaying checks the invariant after every line.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import override_settings
from pycrdt import merge_updates

from documents.engine.protocol import SyncStep2, SyncUpdate, decode_message, encode_update
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from documents.exceptions import CollabError

from .arena import ATTACKER, REJOIN, RELOAD, SEND, VIEWER, Arena, Script, Step
from .checks import Checker
from .oracle import Finding, leaves_document_intact

CORPUS_DIR = Path(__file__).with_name("corpus")
# Rate limits out of the way (the fuzzer sends far faster than a person); no background flushes (every check flushes,
# so compaction happens at the same steps when a script is replayed).
FUZZ_COLLAB: dict[str, Any] = {
    "FLUSH_INTERVAL": 3600.0,
    **{f"RATE_{kind}_{unit}": 1e9 for kind in ("UPDATES", "AWARENESS", "SYNC") for unit in ("PER_SECOND", "BURST")},
}
# A socket finding the room does not reproduce is saved with at most this many of the last steps that led to it.
_SOCKET_STEPS_KEPT = 2000
_TRANSPORT_ORACLES = {"socket-close-code", "socket-unresponsive", "server-died"}


@dataclass
class CorpusCase:
    comment: str
    collab: dict[str, Any] = field(default_factory=dict)
    script: Script = field(default_factory=list)


def collab_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    return {**(getattr(settings, "COLLAB", {}) or {}), **overrides}


def _line(step: Step) -> str:
    sender, kind, message = step
    body = message.hex() if kind == SEND else kind
    return body if sender == ATTACKER else f"{sender} {body}"


def _step(line: str) -> Step:
    sender, _, body = line.strip().rpartition(" ")
    sender = sender or ATTACKER
    return (sender, body, b"") if body in (RELOAD, REJOIN) else (sender, SEND, bytes.fromhex(body))


def dumps(case: CorpusCase) -> str:
    lines = [f"# {case.comment}", f"# collab: {json.dumps(case.collab, sort_keys=True)}"]
    return "\n".join([*lines, *map(_line, case.script)]) + "\n"


def load(path: Path) -> CorpusCase:
    lines = path.read_text().splitlines()
    comments = [line[1:].strip() for line in lines if line.startswith("#")]
    meta = {key.strip(): value.strip() for key, _, value in (c.partition(":") for c in comments[1:])}
    script = [_step(line) for line in lines if line.strip() and not line.startswith("#")]
    return CorpusCase(comments[0] if comments else "", json.loads(meta.get("collab") or "{}"), script)


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    return sorted(directory.glob("*.hex"))


async def failing_signatures(directory: Path = CORPUS_DIR) -> set[str]:
    """The signatures the corpus files fail with now: a run does not save another reproducer of an open bug (a
    fixed one, whose file passes now, does not stop a new failure of the same kind from being saved)."""
    failing = set()
    for path in corpus_files(directory):
        case = load(path)
        findings, _ = await replay(case.script, case.collab)
        failing.update(finding.signature for finding in findings)
    return failing


def save(case: CorpusCase, directory: Path = CORPUS_DIR) -> Path:
    body = "\n".join(map(_line, case.script))
    path = directory / f"{hashlib.sha256(body.encode()).hexdigest()[:16]}.hex"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(case))
    return path


def peer_names(script: Script) -> list[str]:
    return sorted({sender for sender, _, _ in script} - {ATTACKER, VIEWER})


async def replay(
    script: Script, collab: dict[str, Any], every_step: bool = True, target: str | None = None
) -> tuple[list[Finding], int]:
    """Run a script through a fresh room; (the first findings, index of the message after which they appeared).

    ``every_step`` False checks only after the last message (shrinking tries hundreds of candidates). With a
    ``target`` signature, findings that leave the document intact and are not the target do not stop the replay
    (the episode that found the target went on past them too).
    """
    store = DocumentStore(MemoryStorage())
    with override_settings(COLLAB=collab_settings(collab)):
        arena = Arena(store, peer_names(script))
        checker = Checker(arena)
        await arena.open()
        try:
            for index, step in enumerate(script):
                await arena.run(step)
                if every_step or index == len(script) - 1:
                    findings = await checker.check()
                    if findings and not _passable(findings, target):
                        return findings, index
            return [], len(script)
        finally:
            checker.release()
            await arena.close()
            arena.release_room()


def _passable(findings: list[Finding], target: str | None) -> bool:
    if target is None or any(f.signature == target for f in findings):
        return False
    return all(leaves_document_intact(f) for f in findings)


async def shrink(
    script: Script, collab: dict[str, Any], signature: str, seconds: float, refused: set[int] | None = None
) -> Script | None:
    """The smallest script found within ``seconds`` whose replay still fails with ``signature`` (None: it does not).

    First every step the room ``refused`` goes at once (usually most of the attacker's); then delta debugging
    (drop chunks, halving their size when no chunk can go), then runs of one sender's updates merged into one.
    Candidates are checked after their last message only; the result is confirmed by a full replay (checked after
    every message).
    """
    deadline = time.monotonic() + seconds

    async def fails(candidate: Script, every_step: bool = False) -> Script | None:
        findings, index = await replay(candidate, collab, every_step, signature)
        return candidate[: index + 1] if any(f.signature == signature for f in findings) else None

    first = await fails(script, every_step=True)
    if first is None:
        return None
    best = first
    kept = [step for index, step in enumerate(first) if index not in (refused or set())]
    if len(kept) < len(first) and (reduced := await fails(kept)) is not None:
        best = reduced
    best = await _drop_chunks(best, fails, deadline)
    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        for merged in _merged_runs(best):
            if time.monotonic() >= deadline:
                break
            if (reduced := await fails(merged)) is not None:
                best, progress = await _drop_chunks(reduced, fails, deadline), True
                break
    return await fails(best, every_step=True) or first


async def _drop_chunks(best: Script, fails: Any, deadline: float) -> Script:
    """Delta debugging: drop chunks of steps while the failure stays, halving the chunks when none can go."""
    chunks = 2
    while len(best) > 1 and time.monotonic() < deadline:
        size = -(-len(best) // chunks)
        for start in range(0, len(best), size):
            candidate = best[:start] + best[start + size :]
            if candidate and await fails(candidate) is not None:
                best, chunks = candidate, max(chunks - 1, 2)
                break
            if time.monotonic() >= deadline:
                break
        else:
            if chunks >= len(best):
                break
            chunks = min(len(best), chunks * 2)
    return best


def _merged_runs(script: Script) -> list[Script]:
    """Candidates where runs of consecutive updates from one sender become one merged update: all runs at once,
    then each run alone, longest first. Honest keystrokes chain (each builds on the clock before), so dropping
    one breaks the rest; merging them keeps the chain and shortens the script."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(script) + 1):
        if index == len(script) or not _same_run(script[start], script[index]):
            if index - start > 1:
                runs.append((start, index))
            start = index
    runs.sort(key=lambda run: run[0] - run[1])

    def merge(chosen: list[tuple[int, int]]) -> Script:
        out, at = [], 0
        for begin, end in sorted(chosen):
            updates = [_update_of(step) for step in script[begin:end]]
            out += [*script[at:begin], (script[begin][0], SEND, encode_update(merge_updates(*updates)))]
            at = end
        return [*out, *script[at:]]

    return [merge(runs), *(merge([run]) for run in runs)] if runs else []


def _update_of(step: Step) -> bytes | None:
    if step[1] != SEND:
        return None
    try:
        decoded = decode_message(step[2])
    except CollabError:
        return None
    return decoded.update if isinstance(decoded, SyncUpdate | SyncStep2) else None


def _same_run(first: Step, step: Step) -> bool:
    return first[0] == step[0] and _update_of(first) is not None and _update_of(step) is not None


async def save_socket_finding(
    finding: Finding, script: Script, last_case: Script, directory: Path = CORPUS_DIR
) -> Path:
    """Save what led to a finding over a socket: shrunk, when a room alone reproduces a finding from it.

    A finding about the transport or the process (a close code, no answer, a dead server) has nothing a room could
    replay: the case that triggered it is kept, so that it can be sent again by hand.
    """
    collab = dict(FUZZ_COLLAB)
    if finding.oracle in _TRANSPORT_ORACLES:
        comment = f"{finding} (over a socket; a room replay checks only the room)"
        return save(CorpusCase(comment, collab, last_case), directory)
    findings, _ = await replay(script, collab, every_step=False)
    if findings:
        shrunk = await shrink(script, collab, findings[0].signature, 60.0) or script
        return save(CorpusCase(f"{findings[0]} (over a socket: {finding})", collab, shrunk), directory)
    comment = f"{finding.signature}: {finding.detail} (over a socket; a room alone does not reproduce it)"
    return save(CorpusCase(comment, collab, script[-_SOCKET_STEPS_KEPT:]), directory)
