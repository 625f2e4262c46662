"""The fault tests' oracle: every token typed must be in the document read back from a fresh server process.

Holds the re-sync check (clocks_missing, settle), the read-back (ReadBack, read_back), the token count (Tally), the
problems a test observed (Findings), and count_in_log for server logs.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import websockets
from pycrdt import Doc

from documents.engine.protocol import read_state_vector
from tests.faultkit.progress import log
from tests.faultkit.rig import Answer, FaultRig, http
from tests.faultkit.typists import Typist
from tests.live_server import DaphneServer
from tests.yclient import YClient, open_client

TOKEN_RE = re.compile(r"\bc\d+-\d{6}\b")


def clocks_missing(have: Doc[Any], want: Doc[Any]) -> dict[int, int]:
    """The clients whose items ``want`` holds beyond ``have``'s state vector: {client: clocks missing}."""
    ours, theirs = read_state_vector(have.get_state()), read_state_vector(want.get_state())
    return {client: clock - ours.get(client, 0) for client, clock in theirs.items() if ours.get(client, 0) < clock}


async def settle(server: DaphneServer, document_id: str, token: str, typists: list[Typist], timeout: float) -> str:
    """Wait until every typist is connected and synced and a fresh joiner's doc contains each typist's doc.

    Returns "" once settled, else what was still missing at the deadline.
    """
    deadline = time.monotonic() + timeout
    last = "nothing checked"
    while time.monotonic() < deadline:
        waiting = [t.name for t in typists if not (t.connected and t.synced)]
        if waiting:
            last = f"not connected and synced: {waiting}"
            await asyncio.sleep(0.2)
            continue
        try:
            joiner = await asyncio.wait_for(open_client(server.ws_url, document_id, token), 15)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
            last = f"fresh joiner could not connect: {type(exc).__name__}: {exc}"[:300]
            await asyncio.sleep(0.5)
            continue
        try:
            last = await _joiner_catches_up(joiner, typists, deadline)
        finally:
            await joiner.close()
        if not last:
            return ""
    return last


async def _joiner_catches_up(joiner: YClient, typists: list[Typist], deadline: float) -> str:
    """Keep the joiner open and wait until its doc contains each typist's doc: what the server still lacks at the
    join reaches the joiner as soon as the server gets it (a typist's re-sync). Returns "" once it does, else (at
    the deadline, when the joiner's connection closes or a typist drops) what was still missing."""
    while True:
        behind = {t.name: missing for t in typists if (missing := clocks_missing(joiner.doc, t.doc))}
        if not behind:
            return ""
        dropped = [t.name for t in typists if not (t.connected and t.synced)]
        if dropped or joiner.closed.is_set() or time.monotonic() >= deadline:
            reason = f" (not connected and synced: {dropped})" if dropped else ""
            reason = reason or (" (the joiner's connection closed)" if joiner.closed.is_set() else "")
            return f"fresh joiner lacks clocks of {behind}{reason}"
        await asyncio.sleep(0.05)


# -- reading back and counting -------------------------------------------------------------------------------------
@dataclass
class ReadBack:
    """A document as a fresh server process serves it: REST ``text`` and a fresh y-websocket client's content."""

    rest: Answer
    rest_text: str
    ws_text: str
    ws_error: str = ""


async def read_back(rig: FaultRig, server: DaphneServer, document_id: str) -> ReadBack:
    """Read the document from storage through a server process: REST first (no room open), then a fresh client."""

    def get() -> tuple[Answer, str]:
        url = f"{server.http_url}/api/documents/{document_id}/"
        answer = http("GET", url, rig.headers, 30)
        text = ""
        if answer.status == 200:
            text = requests.get(url, headers=rig.headers, timeout=30).json().get("text", "")
        return answer, text

    answer, rest_text = await asyncio.to_thread(get)
    ws_text, ws_error = "", ""
    try:
        client = await asyncio.wait_for(open_client(server.ws_url, document_id, rig.token), 20)
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
        ws_error = f"{type(exc).__name__}: {exc}"[:300]
    else:
        ws_text = str(client.fragment)
        await client.close()
    return ReadBack(answer, rest_text, ws_text, ws_error)


@dataclass
class Tally:
    """Typed tokens against the tokens a read-back holds."""

    typed: dict[str, set[str]]
    rest_found: set[str]
    ws_found: set[str]
    missing_rest: dict[str, list[str]] = field(default_factory=dict)
    missing_ws: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, typed: dict[str, set[str]], back: ReadBack) -> Tally:
        rest_found, ws_found = set(TOKEN_RE.findall(back.rest_text)), set(TOKEN_RE.findall(back.ws_text))
        tally = cls(typed, rest_found, ws_found)
        for name, tokens in typed.items():
            if tokens - rest_found:
                tally.missing_rest[name] = sorted(tokens - rest_found)
            if tokens - ws_found:
                tally.missing_ws[name] = sorted(tokens - ws_found)
        return tally

    @property
    def total(self) -> int:
        return sum(map(len, self.typed.values()))

    @property
    def complete(self) -> bool:
        return not self.missing_rest and not self.missing_ws

    def __str__(self) -> str:
        everything = set().union(*self.typed.values()) if self.typed else set()
        parts = [
            f"typed={self.total}",
            f"found(rest)={len(everything & self.rest_found)}",
            f"found(ws)={len(everything & self.ws_found)}",
            f"missing(rest)={sum(map(len, self.missing_rest.values()))}",
            f"missing(ws)={sum(map(len, self.missing_ws.values()))}",
        ]
        for name, tokens in self.typed.items():
            gone = self.missing_ws.get(name) or self.missing_rest.get(name) or []
            detail = f" (e.g. {gone[0]}..{gone[-1]})" if gone else ""
            parts.append(
                f"{name}: typed {len(tokens)} missing rest/ws "
                f"{len(self.missing_rest.get(name, []))}/{len(self.missing_ws.get(name, []))}{detail}"
            )
        return ", ".join(parts)


class Findings:
    """Every broken promise a fault test observed, reported together at the end (with the figures)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.problems: list[str] = []
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)
        log(message)

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.problems.append(message)
            log(f"PROBLEM: {message}")
        return ok

    def verdict(self, rig: FaultRig) -> None:
        """Print the figures and fail with every problem observed."""
        logs = ", ".join(str(server.log_path) for server in rig.servers)
        print(f"\n=== {self.title} ===", flush=True)
        for line in self.notes:
            print(f"  {line}", flush=True)
        for line in self.problems:
            print(f"  PROBLEM: {line}", flush=True)
        assert not self.problems, f"{self.title}: " + " | ".join(self.problems) + f" (server logs: {logs})"


def count_in_log(text: str, *needles: str) -> int:
    """Lines of a server log that mention any of ``needles`` (case-insensitive)."""
    lowered = [needle.lower() for needle in needles]
    return sum(1 for line in text.splitlines() if any(needle in line.lower() for needle in lowered))
