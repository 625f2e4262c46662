"""The bench's scenarios: each a function of one server (the project's or the reference), run through loadgen.mjs.

A scenario knows nothing of which server it drives beyond the shared interface of bench/servers.py: the loadgen
gets the server's ``ws_url`` and ``pid`` (for its CPU, run-queue wait and RSS in /proc), the tokens (which the
reference ignores) and document ids (rooms of the reference). The caller runs each against both servers in turn.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from servers import BENCH, CLIENT_CORE, AnyServer, log, pinned, raise_fd_limit
from targets import MAX_RATE_DELIVERED_PCT, MAX_RATE_P99_MS

# Where each editor count's rate search starts (the project's; the reference's starts at the project's result).
RATE_SEARCH_START = {2: 1000, 10: 500, 50: 500, 200: 100}
RATE_SEARCH_CAP = 64_000  # updates/s: past this the load generator's one core is the limit, not the server
RATE_SEARCH_FLOOR = 25
RATE_STEP_DOCS = 16  # documents per search: every step gets a fresh one (more steps than the search can take)
# A step measured the load generator as well as the server when the generator used this much of its core, sent
# less than this share of the rate asked for, or its own event loop ran this late (p99) -- half the p99 budget.
LOADGEN_BOUND_CPU_PCT = 90
LOADGEN_BOUND_SENT = 0.95
LOADGEN_BOUND_LAG_MS = 50


def loadgen(server: AnyServer, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Run one loadgen scenario on CLIENT_CORE; its JSON result."""
    config = {"url": server.ws_url, "serverPid": server.pid, "clkTck": os.sysconf("SC_CLK_TCK"), **config}
    path = work / f"loadgen-{server.name}-{config['scenario']}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    timeout = config.get("hardTimeoutS", 120) + 30
    with open(work / "loadgen.log", "ab") as err:
        proc = subprocess.run(
            pinned(CLIENT_CORE, ["node", str(BENCH / "loadgen.mjs"), str(path)]),
            cwd=BENCH,
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=timeout,
            preexec_fn=raise_fd_limit,
            check=False,
        )
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"error": f"loadgen printed nothing (exit {proc.returncode})"}
    if "error" in result:
        log(f"loadgen {config['scenario']} against the {server.name} server failed: {result['error'][:500]}")
    return result


def settle(server: AnyServer, seconds: float | None = None) -> None:
    """Let the server finish what the last scenario left (the project's rooms unload) before the next figure."""
    time.sleep(server.settle_s if seconds is None else seconds)


def fanout_config(rooms: list[dict[str, Any]], tokens: list[str], rate: float, **extra: Any) -> dict[str, Any]:
    config = {
        "scenario": "fanout",
        "rooms": rooms,
        "tokens": tokens,
        "totalRate": rate,
        "warmupS": 1,
        "durationS": 5,
        "drainTimeoutS": 10,
        "concurrency": 50,
        "hardTimeoutS": 150,
    }
    config.update(extra)
    return config


def delivered_pct(result: dict[str, Any]) -> float | None:
    """Timestamped updates received of those expected (every receiver of every update sent), after the drain."""
    if not result.get("expected"):
        return None
    return 100.0 * min(result["received"], result["expected"]) / result["expected"]


def loadgen_bound(result: dict[str, Any] | None) -> bool:
    """Whether the load generator's one core may have been the limit of this step (not only the server)."""
    if not result or "error" in result:
        return False
    return (
        (result.get("loadgenCpuPct") or 0) >= LOADGEN_BOUND_CPU_PCT
        or (result.get("sentRate") or 0) < LOADGEN_BOUND_SENT * result["targetRate"]
        or (result.get("loadgenLagP99Ms") or 0) > LOADGEN_BOUND_LAG_MS
    )


def step_ok(result: dict[str, Any]) -> bool:
    return (
        "error" not in result
        and not result["aborted"]
        and result["p99Ms"] is not None
        and result["p99Ms"] <= MAX_RATE_P99_MS
        and (delivered_pct(result) or 0) >= MAX_RATE_DELIVERED_PCT
    )


# -- the scenarios ---------------------------------------------------------------------------------------------------
def fanout(server: AnyServer, work: Path, tokens: list[str], docs: list[str], quick: bool) -> list[dict[str, Any]]:
    results = []
    for editors, doc in zip((2, 10, 50, 200), docs, strict=True):
        log(f"{server.name}: fan-out, {editors} editors in one document, 100 updates/s in total")
        room = {"id": doc, "clients": editors, "senders": editors}
        results.append(loadgen(server, work, fanout_config([room], tokens, 100, durationS=3 if quick else 5)))
        settle(server)
    return results


def max_rate(
    server: AnyServer, work: Path, tokens: list[str], docs: list[str], editors: int, start: int, quick: bool
) -> dict[str, Any]:
    """The highest total rate ``editors`` editors of one document sustain at p99 <= 100 ms, all delivered.

    From ``start``, double while steps pass (halve while they miss), then bisect the last pass and the first miss
    geometrically (twice; once with ``quick``): a resolution of 2^(1/4), about 19 %. Every step has a fresh
    document and stops early when a latency passes 2 s, so an overloaded step does not run its whole length.
    """
    steps: dict[int, dict[str, Any]] = {}

    def passes(rate: int) -> bool:
        if len(steps) >= len(docs):
            raise RuntimeError("rate search ran out of documents")
        log(f"{server.name}: rate step, {editors} editors, {rate:,} updates/s in total")
        room = {"id": docs[len(steps)], "clients": editors, "senders": editors}
        config = fanout_config(
            [room], tokens, rate, durationS=2 if quick else 4, drainTimeoutS=15, abortMs=2000, concurrency=64
        )
        steps[rate] = {"targetRate": rate, **loadgen(server, work, config)}  # an error result too
        settle(server)
        return step_ok(steps[rate])

    passed: int | None = None
    missed: int | None = None
    rate = start
    if passes(rate):
        passed = rate
        while rate * 2 <= RATE_SEARCH_CAP:
            rate *= 2
            if not passes(rate):
                missed = rate
                break
            passed = rate
    else:
        missed = rate
        while rate // 2 >= RATE_SEARCH_FLOOR:
            rate //= 2
            if passes(rate):
                passed = rate
                break
            missed = rate
    for _ in range(1 if quick else 2):
        if passed is None or missed is None:
            break
        middle = int(float(f"{math.sqrt(passed * missed):.2g}"))  # two significant digits: readable rates
        if middle in steps or not passed < middle < missed:
            break
        if passes(middle):
            passed = middle
        else:
            missed = middle
    return {
        "editors": editors,
        "best": passed,
        "firstMiss": missed,
        # A miss the load generator may have caused: the figure is then a lower bound of the server's.
        "loadgenBound": loadgen_bound(steps.get(missed) if missed is not None else None),
        "capped": missed is None and passed is not None,
        "steps": [steps[r] for r in sorted(steps)],
    }


def many_documents(server: AnyServer, work: Path, tokens: list[str], docs: list[str], quick: bool) -> dict[str, Any]:
    log(f"{server.name}: {len(docs)} documents x 2 editors at 1 update/s each")
    rooms = [{"id": doc, "clients": 2, "senders": 2} for doc in docs]
    config = fanout_config(
        rooms, tokens, 2 * len(docs), warmupS=2, durationS=5 if quick else 10, concurrency=64, hardTimeoutS=240
    )
    result = loadgen(server, work, config)
    settle(server, server.settle_s + 1)  # 1,000 rooms unload
    return result


def cpu(server: AnyServer, work: Path, tokens: list[str], doc: str, quick: bool) -> dict[str, Any]:
    log(f"{server.name}: server CPU, 1 sender, 10 receivers, 500 updates/s")
    room = {"id": doc, "clients": 11, "senders": 1}
    # settleS: the CPU the store's group commit (and compaction) of what was sent takes is counted too.
    config = fanout_config([room], tokens, 500, warmupS=0, durationS=4 if quick else 8, settleS=1.5)
    result = loadgen(server, work, config)
    settle(server)
    return result


def connections(server: AnyServer, work: Path, tokens: list[str], docs: list[str], count: int) -> dict[str, Any]:
    log(f"{server.name}: {count} idle connections over {len(docs)} documents")
    config = {
        "scenario": "connections",
        "rooms": docs,
        "tokens": tokens,
        "count": count,
        "concurrency": 64,
        "holdS": 2,
        "hardTimeoutS": 240,
    }
    result = loadgen(server, work, config)
    settle(server)
    return result


def ingest(server: AnyServer, work: Path, tokens: list[str], doc: str, updates: int) -> dict[str, Any]:
    log(f"{server.name}: one client pushing {updates:,} updates as fast as its socket takes them")
    config = {"scenario": "ingest", "room": doc, "token": tokens[1], "updates": updates, "timeoutS": 240}
    result = loadgen(server, work, {**config, "hardTimeoutS": 300})
    settle(server)
    return result


def big_document(
    server: AnyServer,
    work: Path,
    tokens: list[str],
    docs: tuple[str, str],
    info: dict[str, Any],
    updates_path: Path,
    restarts: int,
) -> dict[str, Any]:
    """Connect -> synced on the 100,000-update document; starts and stops ``server`` itself.

    The project's server starts ``restarts`` times, each time loading the document from storage on the first
    connection (cold), then serving it warm. The reference has no storage: it starts once and a client pushes the
    same updates into the room first, so all its connections are warm ones.
    """
    doc, warmup_doc = docs
    base = {"scenario": "sync", "room": doc, "token": tokens[1], "warmupRoom": warmup_doc}
    base.update(expectParagraphs=info["paragraphs"], hardTimeoutS=400)
    runs = []
    for i in range(restarts if server.has_storage else 1):
        server.start()
        try:
            log(f"{server.name}: big document, server start {i + 1}, connect -> synced")
            config = {**base, "warm": 10 if i == 0 else 0, "provider": 5 if i == 0 else 0}
            if not server.has_storage:
                config["preload"] = str(updates_path)
            runs.append(loadgen(server, work, config))
        finally:
            server.stop()
    return {"document": info, "runs": runs}
