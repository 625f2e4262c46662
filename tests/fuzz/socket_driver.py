"""Driver 2: fuzz a real daphne server over WebSockets (fewer cases, the whole stack: ASGI, consumer, room, store).

An honest pycrdt client replays the recorded session and keeps editing; an attacker (an editor) sends mutants.
After each mutant the attacker sends a probe (an awareness update of its own with a fresh clock) and waits for
its echo, or for the close: so every case ends in a known state within a deadline, without sleeping. The close
code must be one of ALLOWED_CLOSE_CODES, never 1011, and the server must stay alive. After every batch the honest
client edits and probes, a fresh joiner syncs, and the honest Doc, the joiner's Doc and the REST text must agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from documents.engine.protocol import encode_sync_step1
from documents.richtext import fragment_of, to_text

from .arena import ATTACKER, SEND, Script
from .awareness import awareness_payload
from .clients import Peer
from .mutator import Mutator
from .oracle import ALLOWED_CLOSE_CODES, Finding, compare, snapshot
from .session import load_recording, random_edit

# Server settings for fuzzing: the rate limits and the bad-input penalty out of the way of one busy attacker.
SERVER_ENV = {
    **{
        f"COLLAB_RATE_{kind}_{unit}": "1e9"
        for kind in ("UPDATES", "AWARENESS", "SYNC")
        for unit in ("PER_SECOND", "BURST")
    },
    "COLLAB_BAD_INPUT_CLOSES": "1000000000",
}
PROBE_CLIENT = 888_888


@dataclass
class Target:
    """Where the server is: URLs, the document, tokens of an owner (honest), an editor (attacker), a viewer."""

    ws_url: str
    http_url: str
    document_id: Any
    honest_token: str
    attacker_token: str
    joiner_token: str
    alive: Any = None  # () -> bool, when the driver can see the server process
    log_tail: Any = None  # () -> str
    log_path: Path | None = None  # the server's log, to tell a lost close frame from a dropped connection


@dataclass
class SocketResult:
    cases: int = 0
    batches: int = 0
    seconds: float = 0.0
    closes: Counter[int] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    script: Script = field(default_factory=list)
    last_case: Script = field(default_factory=list)  # the attacker's messages of the case that failed
    batch_start: int = 0  # where the last batch starts in ``script``
    lost_close_frames: list[str] = field(default_factory=list)

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        lines = [
            f"socket: {self.cases} cases in {self.batches} batches, {self.seconds:.1f} s = "
            f"{self.cases_per_second:.0f} cases/s; close codes {dict(sorted(self.closes.items()))}",
            f"  close frames lost (1006, while the server logged an allowed close): {len(self.lost_close_frames)}",
            f"  findings: {len(self.findings)}",
        ]
        return "\n".join([*lines, *(f"  {finding}"[:400] for finding in self.findings)])


class SocketPeer:
    """A y-websocket client over a real socket, its Doc kept by a ``Peer`` (which answers and applies)."""

    def __init__(self, target: Target, token: str, name: str, user_id: int) -> None:
        self.url = f"{target.ws_url}/{target.document_id}"
        self.token = token
        self.peer = Peer(name, client_id=1_000_000 * user_id + 1, user_id=user_id)
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> SocketPeer:
        headers = {"Authorization": f"Token {self.token}"}
        self.ws = await websockets.connect(self.url, additional_headers=headers, max_size=None, open_timeout=10)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.send(encode_sync_step1(self.peer.doc.get_state()))
        return self

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    await self.peer.send(message)
                    for reply in self.peer.take_outbox():
                        await self.send(reply)
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self.arrived.set()

    async def send(self, message: bytes) -> bool:
        try:
            await self.ws.send(message)
            return True
        except websockets.ConnectionClosed:
            return False

    async def until(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-checking whenever a message arrives; False at the deadline."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed.is_set():
                return predicate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        return True

    async def probe(self, clock: int, timeout: float) -> bool:
        """Send an awareness update of our own and wait for the server's echo of it (or the close)."""
        state = json.dumps({"probe": clock}).encode()
        await self.send(b"\x01" + _var_bytes(awareness_payload([(PROBE_CLIENT + self.peer.user_id, clock, state)])))
        client = PROBE_CLIENT + self.peer.user_id
        return await self.until(
            lambda: self.peer.awareness_clocks.get(client, -1) >= clock or self.closed.is_set(), timeout
        )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.peer.release()


def _var_bytes(data: bytes) -> bytes:
    from pycrdt import write_var_uint

    return write_var_uint(len(data)) + data


def _log_size(target: Target) -> int:
    return target.log_path.stat().st_size if target.log_path is not None and target.log_path.exists() else 0


def _logged_close(target: Target, offset: int) -> int | None:
    """The code of the last close the server logged since ``offset`` (a 1006 seen by the client may be a close frame
    lost in a race: the server closes the socket while the client's next message is still unread, and the reset
    discards the close frame on the way)."""
    if target.log_path is None:
        return None
    with open(target.log_path, "rb") as log:
        log.seek(offset)
        codes = re.findall(rb"closed with (\d+)", log.read())
    return int(codes[-1]) if codes else None


def _rest_text(target: Target) -> str:
    request = urllib.request.Request(
        f"{target.http_url}/api/documents/{target.document_id}/",
        headers={"Authorization": f"Token {target.honest_token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())["text"]


async def run(
    target: Target, cases: int, seed: int, batch: int = 50, deadline: float = 15.0, log: Any = print
) -> SocketResult:
    """Send ``cases`` mutants in batches, checking the invariant after each batch."""
    rng = random.Random(f"socket/{seed}")
    recording = load_recording()
    mutator = Mutator(rng, recording)
    result = SocketResult()
    started = time.monotonic()
    honest = await SocketPeer(target, target.honest_token, "honest", 1).connect()
    attacker = await SocketPeer(target, target.attacker_token, "attacker", 2).connect()
    clock = 0
    log_offset = _log_size(target)
    try:
        for recorded in recording:
            if recorded.update is not None:
                honest.peer.apply_remote(recorded.update)
                await honest.send(recorded.message)
                result.script.append(("A", SEND, recorded.message))
        # Mutants reuse the recording's client IDs: one that overtook the honest replay would take its clocks,
        # and the honest client's later edits would rightly be refused. The echo proves the replay was taken.
        clock += 1
        if not await honest.probe(clock, deadline) or honest.closed.is_set():
            result.findings.append(Finding("socket-honest-closed", f"replaying the session: {honest.close_code}"))
        while result.cases < cases and not result.findings:
            result.batch_start = len(result.script)
            for _ in range(min(batch, cases - result.cases)):
                mutation, messages = mutator.case()
                result.cases += 1
                result.last_case = [(ATTACKER, SEND, message) for message in messages]
                for message in messages:
                    result.script.append((ATTACKER, SEND, message))
                    await attacker.send(message)
                clock += 1
                if not await attacker.probe(clock, deadline):
                    result.findings.append(
                        Finding("socket-unresponsive", f"no answer within {deadline} s ({mutation})")
                    )
                    break
                if attacker.closed.is_set():
                    code = attacker.close_code or 1006
                    result.closes[code] += 1
                    logged = _logged_close(target, log_offset) if code == 1006 else None
                    if logged in ALLOWED_CLOSE_CODES:
                        result.lost_close_frames.append(f"[{mutation}] server closed with {logged}, client saw 1006")
                    elif code not in ALLOWED_CLOSE_CODES:
                        detail = f"attacker closed with {code} after [{mutation}] {messages[-1][:40].hex()}"
                        result.findings.append(Finding("socket-close-code", detail, str(code)))
                        break
                    await attacker.close()
                    log_offset = _log_size(target)
                    attacker = await SocketPeer(target, target.attacker_token, "attacker", 2).connect()
            result.batches += 1
            clock += 1
            result.findings += await _check(target, honest, attacker, rng, clock, deadline, result)
        for finding in result.findings:
            log(f"socket finding after {result.cases} cases: {finding}"[:500])
    finally:
        result.seconds = time.monotonic() - started
        for client in (honest, attacker):
            await client.close()
    return result


async def _check(
    target: Target,
    honest: SocketPeer,
    attacker: SocketPeer,
    rng: random.Random,
    clock: int,
    deadline: float,
    result: SocketResult,
) -> list[Finding]:
    """After a batch: the server is alive, the honest client, a fresh joiner and the REST text agree."""
    findings = [*honest.peer.problems, *attacker.peer.problems]
    honest.peer.problems, attacker.peer.problems = [], []
    if target.alive is not None and not target.alive():
        tail = target.log_tail()[-2000:] if target.log_tail else ""
        return [*findings, Finding("server-died", f"the server process exited; log ends: {tail}")]
    if honest.closed.is_set():
        return [*findings, Finding("socket-honest-closed", f"the honest client was closed with {honest.close_code}")]
    with contextlib.suppress(Exception):  # pycrdt refusing a local edit on an odd tree: what it changed is queued
        random_edit(honest.peer.fragment, rng)
    for message in honest.peer.take_outbox():
        result.script.append(("A", SEND, message))
        await honest.send(message)
    if not await honest.probe(clock, deadline):
        return [*findings, Finding("socket-unresponsive", "the honest client's probe got no echo")]
    joiner = await SocketPeer(target, target.joiner_token, "joiner", 3).connect()
    try:
        if not await joiner.until(lambda: joiner.peer.synced, deadline):
            return [*findings, Finding("socket-unresponsive", "a fresh joiner did not get SyncStep2")]
        expected = snapshot(joiner.peer.doc, with_xml=True)
        found = compare("honest", joiner.peer.doc, expected, honest.peer.doc, with_xml=True)
        if found is not None:
            findings.append(Finding("socket-joiner-vs-honest", found.detail, found.kind))
    finally:
        await joiner.close()
    try:
        text = await asyncio.to_thread(_rest_text, target)
    except Exception as exc:
        return [*findings, Finding("socket-rest", f"GET /api/documents/ID/ failed: {type(exc).__name__}: {exc}")]
    local = to_text(fragment_of(honest.peer.doc))
    if text != local:
        findings.append(Finding("socket-rest", f"REST text {text[:200]!r} differs from the client's {local[:200]!r}"))
    return findings
