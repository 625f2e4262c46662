"""Durability under faults, against real processes and real databases: nothing a client typed is ever lost.

Each test runs daphne on a private database (a SQLite file, or a PostgreSQL cluster of its own), has three
y-websocket clients type unique tokens at about 20 a second each, injects one fault (a held lock, a stopped
database, a signal to the server during an outage, a full buffer), recovers, lets every client re-sync, stops the
server gracefully and reads the document back from a fresh server process. The oracle is the set of tokens: every
token typed must be in the read-back document (REST ``text`` and a fresh client's doc). Problems are collected and
reported together with the figures (typed, found, missing), printed under ``-s``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultkit.databases import PostgresCluster, SqliteDatabase, postgres_unavailable_reason
from tests.faultkit.oracle import Findings, Tally, clocks_missing, count_in_log, read_back, settle
from tests.faultkit.progress import log
from tests.faultkit.rig import FaultRig, http
from tests.faultkit.typists import Typist, Typists
from tests.live_server import DaphneServer
from tests.services import require

pytestmark = [pytest.mark.faults]

NAMES = ("c1", "c2", "c3")
SETTLE_SECONDS = 60.0
STORE_FAILURE_WORDS = ("flush failed", "database is locked", "OperationalError", "retry", "store unavailable")


# -- fixtures ----------------------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[FaultRig]:
    """A migrated SQLite file of the test's own, with the owner's token."""
    rig = FaultRig(SqliteDatabase(tmp_path), tmp_path)
    try:
        rig.migrate()
        rig.create_token()
        yield rig
    finally:
        rig.teardown()


@pytest.fixture
def postgres_rig(tmp_path: Path) -> Iterator[FaultRig]:
    """A private PostgreSQL cluster on a spare port (never the machine's), migrated, with the owner's token."""
    reason = postgres_unavailable_reason()
    require(reason is None, reason or "")
    cluster = PostgresCluster()
    rig = FaultRig(cluster, tmp_path)
    try:
        cluster.init()
        rig.migrate()
        rig.create_token()
        yield rig
    finally:
        rig.teardown()


@pytest.fixture(params=["sqlite", "postgres"])
def any_rig(request: pytest.FixtureRequest) -> FaultRig:
    return request.getfixturevalue(f"{request.param}_rig")


# -- steps shared by the tests -------------------------------------------------------------------------------------
async def start_server(rig: FaultRig, port: int | None = None, **env: str) -> DaphneServer:
    return await asyncio.to_thread(rig.start_server, port, **env)


async def stop_server(server: DaphneServer, sig: int, timeout: float = 30) -> tuple[int, float]:
    """Signal the server and wait for it to exit: (exit code, seconds it took)."""
    started = time.monotonic()
    code = await asyncio.to_thread(server.stop, sig, timeout)
    return code, time.monotonic() - started


async def pause(seconds: float) -> None:
    """Let the scenario run (typists type) for ``seconds``: a duration of the scenario, not a wait for a state."""
    await asyncio.sleep(seconds)


async def finish(rig: FaultRig, server: DaphneServer, findings: Findings, documents: dict[str, list[Typist]]) -> None:
    """The oracle: stop typing, re-sync, stop the server gracefully, read back from a fresh process, count tokens."""
    for typists in documents.values():
        for typist in typists:
            await typist.stop_typing()
    for document_id, typists in documents.items():
        active = [typist for typist in typists if typist.running]
        if not active:
            continue
        started = time.monotonic()
        problem = await settle(server, document_id, rig.token, active, SETTLE_SECONDS)
        findings.check(not problem, f"clients did not re-sync within {SETTLE_SECONDS:.0f} s: {problem}")
        findings.note(f"re-sync of {[t.name for t in active]} took {time.monotonic() - started:.1f} s")
    for typists in documents.values():
        for typist in typists:
            findings.note(typist.summary())
            await typist.close()
    code, seconds = await stop_server(server, signal.SIGTERM)
    findings.note(f"final graceful stop (database up): exit code {code} after {seconds:.1f} s")
    findings.check(code == 0, f"the final graceful stop exited with {code}")
    fresh = await start_server(rig)
    for document_id, typists in documents.items():
        back = await read_back(rig, fresh, document_id)
        tally = Tally.of({typist.name: typist.typed for typist in typists}, back)
        findings.note(f"read back {document_id} from a fresh server: REST {back.rest}; {tally}")
        findings.check(back.rest.status == 200, f"GET /api/documents/{document_id}/ answered {back.rest}")
        findings.check(not back.ws_error, f"a fresh client could not open {document_id}: {back.ws_error}")
        findings.check(tally.complete, f"tokens missing after recovery: {tally}")


def failures_logged(rig: FaultRig) -> int:
    return count_in_log(rig.server_logs(), *STORE_FAILURE_WORDS)


# -- the tests ---------------------------------------------------------------------------------------------------
@pytest.mark.timeout(180)
async def test_no_fault_baseline(any_rig: FaultRig) -> None:
    """The harness itself: with no fault, three typists' tokens all survive a graceful stop and a fresh start."""
    rig = any_rig
    findings = Findings(f"baseline on {type(rig.database).__name__}")
    server = await start_server(rig)
    document_id = await asyncio.to_thread(rig.create_document, server)
    async with Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists:
        typists.start_typing()
        await pause(4)
        await finish(rig, server, findings, {document_id: typists.members})
    findings.check(not typists.saw(1013), f"clients saw 1013 with no fault: {typists.saw(1013)}")
    findings.verdict(rig)


LOCK_SECONDS = 60.0


@pytest.mark.timeout(300)
async def test_sqlite_exclusive_lock_for_a_minute(sqlite_rig: FaultRig) -> None:
    """A minute under another connection's BEGIN EXCLUSIVE loses no edit, and REST answers 503 + Retry-After.

    The server's commits fail for the whole minute (its log says so) while three clients keep typing; the store must
    keep every failed batch and write it once the lock is gone. A POST during the lock must answer 503 with
    Retry-After (never 500); how long it took is reported (SQLite's busy timeout is 20 s).
    """
    rig = sqlite_rig
    database = rig.database
    assert isinstance(database, SqliteDatabase)
    findings = Findings("SQLite under BEGIN EXCLUSIVE for 60 s")
    server = await start_server(rig)
    document_id = await asyncio.to_thread(rig.create_document, server)
    async with Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists:
        typists.start_typing()
        await pause(3)
        failures_before = failures_logged(rig)
        with database.exclusive_lock():
            locked_at, typed_before = time.monotonic(), typists.typed()
            rows_at_lock = database.rows()
            log(f"BEGIN EXCLUSIVE held; {rows_at_lock} log rows stored so far")
            await pause(2)
            answer = await asyncio.to_thread(
                http, "POST", f"{server.http_url}/api/documents/", rig.headers, 30, json={"title": "During the lock"}
            )
            findings.note(f"POST /api/documents/ during the lock: {answer}")
            findings.check(
                answer.status == 503 and bool(answer.retry_after),
                f"POST during the lock answered {answer} (want 503 with Retry-After) {answer.body!r}",
            )
            await pause(max(0.0, locked_at + LOCK_SECONDS - time.monotonic()))
            rows_at_release = database.rows()
            failures = failures_logged(rig) - failures_before
            findings.note(
                f"lock held {time.monotonic() - locked_at:.1f} s; typed meanwhile {typists.typed() - typed_before}; "
                f"log rows {rows_at_lock} -> {rows_at_release}; log lines about failing writes: {failures}"
            )
        findings.check(rows_at_release == rows_at_lock, "rows were committed while the lock was held (no real lock)")
        findings.check(
            count_in_log(rig.server_logs(), "database is locked") > 0,
            "the server log shows no 'database is locked': the lock did not reach the server's commits",
        )
        await pause(5)
        await finish(rig, server, findings, {document_id: typists.members})
    findings.verdict(rig)


OUTAGE_SECONDS = 30.0


@pytest.mark.timeout(300)
async def test_postgres_stopped_for_thirty_seconds(postgres_rig: FaultRig) -> None:
    """PostgreSQL stopped (fast) for 30 s under three typists, then started again: no edit is lost.

    The server stays up and keeps the room in memory; its group commits fail for 30 s and must be retried, in order,
    until they succeed. REST during the outage must answer 503 with Retry-After, never 500.
    """
    rig = postgres_rig
    cluster = rig.database
    assert isinstance(cluster, PostgresCluster)
    findings = Findings("PostgreSQL stopped for 30 s")
    server = await start_server(rig)
    document_id = await asyncio.to_thread(rig.create_document, server)
    async with Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists:
        typists.start_typing()
        await pause(3)
        failures_before = failures_logged(rig)
        await asyncio.to_thread(cluster.stop, "fast")
        down_at, typed_before = time.monotonic(), typists.typed()
        log("PostgreSQL stopped")
        await pause(2)
        answer = await asyncio.to_thread(
            http, "GET", f"{server.http_url}/api/documents/{document_id}/", rig.headers, 15
        )
        findings.note(f"GET /api/documents/ID/ during the outage: {answer}")
        findings.check(
            answer.status == 503 and bool(answer.retry_after),
            f"GET during the outage answered {answer} (want 503 with Retry-After) {answer.body!r}",
        )
        await pause(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
        await asyncio.to_thread(cluster.start)
        findings.note(
            f"outage {time.monotonic() - down_at:.1f} s; typed meanwhile {typists.typed() - typed_before}; "
            f"log lines about failing writes: {failures_logged(rig) - failures_before}; "
            f"closes during the outage: {[dict(t.close_codes(down_at)) for t in typists.members]}"
        )
        await pause(5)
        await finish(rig, server, findings, {document_id: typists.members})
    findings.verdict(rig)


@pytest.mark.timeout(240)
async def test_sigterm_during_outage_spills_and_replays(postgres_rig: FaultRig) -> None:
    """A graceful stop during an outage waits (3 s here), spills what it holds, and the next start replays it.

    Three typists on one document keep typing throughout (offline while the server is gone) and re-sync on
    reconnect; a fourth client types alone on a second document during the outage and leaves before the SIGTERM,
    so its outage edits exist only in the server's memory: only the spill file can bring them back. The spill file
    must exist after the stop and be gone once the fresh server replayed it.
    """
    rig = postgres_rig
    cluster = rig.database
    assert isinstance(cluster, PostgresCluster)
    findings = Findings("SIGTERM during a PostgreSQL outage")
    wait = "3"
    server = await start_server(rig, COLLAB_SHUTDOWN_WAIT_SECONDS=wait)
    document_id = await asyncio.to_thread(rig.create_document, server)
    alone_id = await asyncio.to_thread(rig.create_document, server, "Typed alone")
    async with (
        Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists,
        Typists(f"{server.ws_url}/{alone_id}", rig.token, ["c4"]) as alone,
    ):
        typists.start_typing()
        alone.start_typing()
        await pause(3)
        await asyncio.to_thread(cluster.stop, "fast")
        log("PostgreSQL stopped")
        await pause(4)
        leaver = alone.members[0]
        await leaver.stop_typing()
        try:
            held = await leaver.server_state()
        except (ConnectionError, TimeoutError) as exc:
            findings.check(False, f"c4 could not ask the server for its state before leaving: {exc}")
        else:
            behind = clocks_missing(held, leaver.doc)
            findings.check(not behind, f"the server lacked c4's edits before c4 left: {behind}")
        await leaver.close()
        findings.note(f"c4 typed {len(leaver.typed)} tokens alone and left during the outage")
        code, seconds = await stop_server(server, signal.SIGTERM)
        spilled = rig.spill_files()
        findings.note(
            f"SIGTERM during the outage: exit code {code} after {seconds:.1f} s "
            f"(COLLAB_SHUTDOWN_WAIT_SECONDS={wait}); spill files {[(p.name, p.stat().st_size) for p in spilled]}"
        )
        findings.check(seconds <= float(wait) + 10, f"the graceful stop took {seconds:.1f} s (wait is {wait} s)")
        findings.check(bool(spilled), f"no spill file in COLLAB_SPILL_DIR ({rig.spill_dir}) after the stop")
        await pause(2)  # the three typists keep typing offline while nothing serves them
        await asyncio.to_thread(cluster.start)
        fresh = await start_server(rig, server.port, COLLAB_SHUTDOWN_WAIT_SECONDS=wait)
        deadline = time.monotonic() + 30
        while rig.spill_files() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        left = rig.spill_files()
        findings.check(not left, f"spill files still there 30 s after the fresh start: {left}")
        await pause(3)
        await finish(rig, fresh, findings, {document_id: typists.members, alone_id: alone.members})
    findings.verdict(rig)


@pytest.mark.timeout(240)
async def test_sigkill_during_outage_clients_resync(postgres_rig: FaultRig) -> None:
    """kill -9 during an outage loses only memory; the clients still hold their edits and re-sync them.

    After the database and a fresh server are back, the three typists reconnect, answer the server's SyncStep1
    with everything it lacks (their offline edits included), and nothing typed is missing.
    """
    rig = postgres_rig
    cluster = rig.database
    assert isinstance(cluster, PostgresCluster)
    findings = Findings("SIGKILL during a PostgreSQL outage")
    server = await start_server(rig)
    document_id = await asyncio.to_thread(rig.create_document, server)
    async with Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists:
        typists.start_typing()
        await pause(3)
        await asyncio.to_thread(cluster.stop, "fast")
        log("PostgreSQL stopped")
        await pause(5)
        code, _ = await stop_server(server, signal.SIGKILL)
        findings.note(f"server killed (exit code {code}); typed so far {typists.typed()}")
        await pause(2)  # offline typing
        await asyncio.to_thread(cluster.start)
        fresh = await start_server(rig, server.port)
        await pause(3)
        await finish(rig, fresh, findings, {document_id: typists.members})
    findings.verdict(rig)


BUFFER_BYTES = "20000"
REFUSAL_DEADLINE = 30.0  # three clients at 20 tokens/s fill 20000 bytes in about 10 s


@pytest.mark.timeout(240)
async def test_buffer_bound_refuses_writers_with_1013(postgres_rig: FaultRig) -> None:
    """Past COLLAB_STORE_BUFFER_DOCUMENT_BYTES (20000 here) during an outage, writers are closed with 1013.

    A client must see 1013; every reconnect attempt during the rest of the outage must fail or be closed with 1013
    (the room accepts no more edits than it can keep); once the database is back, the clients' re-syncs are accepted
    and nothing typed is missing.
    """
    rig = postgres_rig
    cluster = rig.database
    assert isinstance(cluster, PostgresCluster)
    findings = Findings(f"buffer bound ({BUFFER_BYTES} bytes per document) during a PostgreSQL outage")
    server = await start_server(rig, COLLAB_STORE_BUFFER_DOCUMENT_BYTES=BUFFER_BYTES)
    document_id = await asyncio.to_thread(rig.create_document, server)
    async with Typists(f"{server.ws_url}/{document_id}", rig.token, NAMES) as typists:
        typists.start_typing()
        await pause(2)
        await asyncio.to_thread(cluster.stop, "fast")
        down_at = time.monotonic()
        log("PostgreSQL stopped")
        deadline = down_at + REFUSAL_DEADLINE
        while not typists.saw(1013) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        refused = [s.ended for t in typists.members for s in t.sessions if s.close_code == 1013 and s.ended]
        first_refusal = min(refused) if refused else None
        if first_refusal is None:
            findings.check(
                False,
                f"no client was closed with 1013 within {REFUSAL_DEADLINE:.0f} s of the outage "
                f"(typed {typists.typed()} meanwhile; close codes seen {typists.close_codes()})",
            )
        else:
            findings.note(f"first 1013 {first_refusal - down_at:.1f} s into the outage (typed {typists.typed()})")
            await pause(5)  # the outage goes on: reconnects must fail or be refused again
        up_at = time.monotonic()
        await asyncio.to_thread(cluster.start)
        if first_refusal is not None:
            accepted = [
                f"{t.name} opened at +{s.started - down_at:.1f} s, ended {s.close_code}"
                for t in typists.members
                for s in t.sessions
                if first_refusal <= s.started < up_at - 1
                and s.opened
                and not (s.close_code == 1013 and s.ended is not None and s.ended < up_at)
            ]
            attempts = [s for t in typists.members for s in t.sessions if first_refusal <= s.started < up_at - 1]
            findings.note(
                f"reconnect attempts after the first 1013: {len(attempts)} "
                f"({sum(1 for s in attempts if not s.opened)} failed handshakes, "
                f"{sum(1 for s in attempts if s.close_code == 1013)} closed with 1013)"
            )
            findings.check(not accepted, f"reconnects accepted edits during the outage past the bound: {accepted}")
        await pause(3)
        await finish(rig, server, findings, {document_id: typists.members})
    findings.verdict(rig)
