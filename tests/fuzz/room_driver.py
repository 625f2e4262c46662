"""Driver 1: fuzz a Room directly (no sockets), in short seeded episodes, checking the invariant as it goes.

An episode is a fresh document: three honest peers replay the recorded Yjs session and make their own edits, a
viewer tries to edit, an attacker sends mutants, and some peers reconnect. Every ``check_every`` steps (1 in the
CI slice) the arena checks the whole invariant. The first finding ends the episode (the room is no longer a
trustworthy baseline); its script is shrunk and saved when the run asks for that. Each episode draws from its own
``Random(seed, index)``, so a run with one seed is deterministic however long it lasts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.test import override_settings
from pycrdt import Doc, XmlFragment

from documents.engine.protocol import SyncUpdate, decode_message, encode_update
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore

from .arena import Arena
from .checks import Checker
from .corpus import CORPUS_DIR, FUZZ_COLLAB, CorpusCase, collab_settings, failing_signatures, save, shrink
from .mutator import Mutator
from .oracle import Finding, fatal, leaves_document_intact, rss_bytes
from .session import Recorded, load_recording, random_edit

MIB = 1024 * 1024
# Small segments and an eager compaction, so that the history-pieces sync path and compaction run in short episodes.
SEGMENTS = (512, 4096, 512 * 1024)
COMPACT_COUNTS = (10, 40, 500)


@dataclass
class Options:
    seconds: float = 60.0
    seed: int = 0
    check_every: int = 1
    rss_ceiling_mib: int = 512
    shrink_seconds: float = 0.0  # 0: report findings without shrinking or saving them
    corpus_dir: Path = CORPUS_DIR
    attack_rate: float = 0.5
    episodes: int | None = None  # stop after this many episodes (the time box still applies)


@dataclass
class Found:
    finding: Finding
    episode: int
    mutation: str
    saved: Path | None = None
    script_length: int = 0


@dataclass
class Result:
    cases: int = 0
    steps: int = 0
    episodes: int = 0
    fuzz_seconds: float = 0.0
    rss_start: int = 0
    rss_peak: int = 0
    findings: list[Found] = field(default_factory=list)
    by_oracle: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    edits_refused: int = 0
    closes: Counter[int] = field(default_factory=Counter)

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.fuzz_seconds if self.fuzz_seconds else 0.0

    def summary(self) -> str:
        lines = [
            f"in-room: {self.cases} cases, {self.steps} steps, {self.episodes} episodes in {self.fuzz_seconds:.1f} s "
            f"= {self.cases_per_second:.0f} cases/s; RSS peak +{(self.rss_peak - self.rss_start) / MIB:.0f} MiB",
            f"  close codes: {dict(sorted(self.closes.items()))}",
            f"  findings: {sum(self.by_oracle.values())} {dict(self.by_oracle)}",
        ]
        for found in self.findings:
            where = f" -> {found.saved} ({found.script_length} messages)" if found.saved else ""
            lines.append(f"  [{found.mutation}] {found.finding}{where}"[:400])
        return "\n".join(lines)


_LEAK = (
    "a dropped room's Doc is never freed: pycrdt keeps a Doc alive while it has an observer, and the room's never goes"
    " (the same for StoredRows.doc() and compaction: tests/test_fuzz.py::test_docs_are_freed)"
)


def _can_go_on(findings: list[Finding], result: Result) -> bool:
    """Whether the episode may count these findings and go on: all known, none about the document."""
    known = {found.finding.signature for found in result.findings}
    return all(f.signature in known and leaves_document_intact(f) for f in findings)


def episode_collab(rng: random.Random) -> dict[str, Any]:
    """Settings for one episode: segments, compaction and (half the time) budgets small enough that the mutants
    passing them stay small (and so do the corpus files reproducing what they find)."""
    collab = {**FUZZ_COLLAB, "SEGMENT_BYTES": rng.choice(SEGMENTS), "COMPACT_LOG_COUNT": rng.choice(COMPACT_COUNTS)}
    if rng.random() < 0.5:
        collab.update(MAX_PENDING_BYTES=64 * 1024, MAX_UPDATE_STRUCTS=2_000)
    return collab


def _edit(fragment: XmlFragment, rng: random.Random) -> bool:
    """A random edit; False when pycrdt refused it on an odd tree (what it did change is still queued)."""
    try:
        random_edit(fragment, rng)
    except BaseException as exc:
        if fatal(exc):
            raise
        return False
    return True


async def _viewer_edit(arena: Arena, rng: random.Random) -> None:
    """The viewer edits a private copy and sends the edit: the room must drop it."""
    scratch: Doc[Any] = Doc(client_id=rng.getrandbits(32))
    scratch.apply_update(arena.viewer.doc.get_update())
    updates: list[bytes] = []
    subscription = scratch.observe(lambda event: updates.append(event.update))
    edited = _edit(scratch.get("default", type=XmlFragment), rng)
    scratch.unobserve(subscription)
    for update in updates if edited else []:
        await arena.view_edit(encode_update(update))


async def run_episode(
    index: int, options: Options, recording: list[Recorded], store: DocumentStore, result: Result
) -> tuple[tuple[Finding, str] | None, Arena]:
    """One document's life; ((first finding, the mutation just sent) if an oracle failed, the arena)."""
    rng = random.Random(f"{options.seed}/{index}")
    arena = Arena(store, list("ABC"), first_client_id=rng.getrandbits(31))
    checker = Checker(arena)
    mutator = Mutator(rng, recording)
    await arena.open()
    cursor, mutation = 0, "honest traffic"
    try:
        for step in range(rng.randint(40, 200)):
            roll = rng.random()
            name = rng.choice("ABC")
            if roll < options.attack_rate:
                mutation, messages = mutator.case()
                result.cases += 1
                result.mutations[mutation] += 1
                for message in messages:
                    await arena.attack(message)
            elif cursor < len(recording) and roll < 0.85:
                recorded = recording[cursor]
                cursor += 1
                await arena.send_as(recorded.client, recorded.message)
                mutation = "honest traffic"
            elif roll < 0.93:
                if not _edit(arena.peers[name].fragment, rng):
                    result.edits_refused += 1
                for message in await arena.send_edits(name):
                    decoded = decode_message(message)
                    if isinstance(decoded, SyncUpdate):
                        mutator.learn(decoded.update)
                mutation = "honest edit"
            elif roll < 0.96:
                await _viewer_edit(arena, rng)
            elif roll < 0.98:
                await arena.rejoin(name)
            else:
                await arena.reload(name)
            result.steps += 1
            if arena.findings or (step + 1) % options.check_every == 0:
                findings = await checker.check()
                if findings and not _can_go_on(findings, result):
                    return (findings[0], mutation), arena
                for finding in findings:
                    result.by_oracle[finding.signature] += 1
        findings = await checker.check()
        return ((findings[0], mutation) if findings else None), arena
    finally:
        result.closes.update(arena.closes)
        checker.release()
        await arena.close()


async def run(options: Options, log: Any = print) -> Result:
    """Fuzz for ``options.seconds`` of fuzzing time (shrinking is not counted)."""
    recording = load_recording()
    store = DocumentStore(MemoryStorage())
    result = Result(rss_start=rss_bytes())
    result.rss_peak = result.rss_start
    ceiling = result.rss_start + options.rss_ceiling_mib * MIB
    tasks_before = asyncio.all_tasks()
    quiet = logging.getLogger("documents")
    level, quiet.level = quiet.level, logging.CRITICAL  # thousands of refused updates would flood the log
    index = 0
    try:
        saved = await failing_signatures(options.corpus_dir) if options.shrink_seconds else set()
        if saved:
            log(f"open in the corpus (not saved again): {', '.join(sorted(saved))}")
        while result.fuzz_seconds < options.seconds and index != options.episodes:
            started = time.monotonic()
            collab = episode_collab(random.Random(f"{options.seed}/{index}/collab"))
            with override_settings(COLLAB=collab_settings(collab)):
                outcome, arena = await run_episode(index, options, recording, store, result)
            confirm = index % 20 == 0  # the leak probe runs the garbage collector: now and then only
            if arena.release_room(confirm) and confirm and outcome is None:
                outcome = (Finding("room-leak", _LEAK), "")
            result.fuzz_seconds += time.monotonic() - started
            result.episodes += 1
            result.rss_peak = max(result.rss_peak, rss_bytes())
            if result.rss_peak > ceiling:
                growth = (result.rss_peak - result.rss_start) // MIB
                outcome = (Finding("rss-ceiling", f"RSS grew {growth} MiB (ceiling {options.rss_ceiling_mib})"), "")
            if outcome is not None:
                found = Found(outcome[0], index, outcome[1])
                await _report(found, arena, collab, options, result, saved, log)
                if outcome[0].oracle == "rss-ceiling":
                    break
            index += 1
    finally:
        await store.flush()
        for task in asyncio.all_tasks() - tasks_before - {asyncio.current_task()}:
            task.cancel()
        quiet.level = level
    return result


async def _report(
    found: Found, arena: Arena, collab: dict[str, Any], options: Options, result: Result, saved: set[str], log: Any
) -> None:
    """Count a finding; the first of its signature is logged, and shrunk and saved unless the corpus has one."""
    signature = found.finding.signature
    result.by_oracle[signature] += 1
    if signature in {f.finding.signature for f in result.findings}:
        return
    result.findings.append(found)
    log(f"finding in episode {found.episode} [{found.mutation}]: {found.finding}"[:500])
    replayable = found.finding.oracle not in ("room-leak", "rss-ceiling")
    if not (replayable and options.shrink_seconds and signature not in saved):
        return
    script = arena.script
    shrunk = await shrink(script, collab, signature, options.shrink_seconds, arena.refused)
    if shrunk is None:
        log("  (the script does not reproduce it when replayed alone)")
        return
    found.saved = save(CorpusCase(str(found.finding), collab, shrunk), options.corpus_dir)
    found.script_length = len(shrunk)
    saved.add(signature)
    log(f"  saved {found.saved} ({len(shrunk)} of {len(script)} steps)")
