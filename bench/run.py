#!/usr/bin/env python
"""Benchmark of the collaboration server beside the reference server: ``make bench`` (``bench/run.py``).

It starts the project's server (one daphne process on a fresh SQLite database in a temporary directory, with users,
tokens and documents) and the reference Node server ``@y/websocket-server`` (bench/package-lock.json), each pinned
to core 0 with ``taskset`` when available, and drives them with ``bench/loadgen.mjs`` (Node, pinned to core 1: one
Python process cannot generate enough load), on loopback only. Each scenario runs against the project, then the
same scenario against the reference; the table gives both figures, their ratio and the target as a ratio:

1. fan-out latency p50/p99 in one document with 2, 10, 50 and 200 editors (100 updates/s in total);
2. the highest total update rate 2, 10, 50 and 200 editors of one document sustain with p99 <= 100 ms;
3. 1,000 documents x 2 editors at 1 update/s each: p99, and connect + sync time of all 2,000 clients;
4. server CPU per delivered message, 1 sender and 10 receivers;
5. 5,000 idle connections: connect + sync rate and memory per connection;
6. one client pushing 100,000 small updates: updates/s until the server has them all;
7. a 100,000-update document: time to serve it with the room loaded (the project also loads it cold from storage).

``--profile`` instead runs one load against the project's server under py-spy and prints where its time goes.

The parts: servers.py (the two servers and the project's data), scenarios.py (each scenario, a function of one
server), bigdoc.py (the large document), targets.py (the targets), report.py (the table), profiling.py (py-spy).
bench/soak.py imports this module as ``bench`` for the set-up it shares (re-exported below).
Every loop is bounded (a step ends after its duration, a drain after its timeout); a full run takes ~12 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bigdoc
import report
import scenarios
from servers import (  # noqa: F401  (bench/soak.py uses these through this module)
    BENCH,
    CLIENT_CORE,
    ROOT,
    SERVER_CORE,
    AnyServer,
    ReferenceServer,
    Server,
    create_documents,
    create_users,
    ensure_node_modules,
    free_port,
    loadavg,
    log,
    machine,
    pinned,
    prepare_database,
    raise_fd_limit,
    server_env,
)

SCENARIOS = "apply,fanout,rates,many,cpu,connections,ingest,big"


@contextmanager
def running(server: AnyServer) -> Iterator[AnyServer]:
    """A fresh reference process for one scenario: it never unloads a room, the project's rooms have unloaded."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter steps (for a smoke run)")
    parser.add_argument("--only", default=SCENARIOS, help=f"comma separated scenarios to run (of {SCENARIOS})")
    parser.add_argument("--rate-editors", default="2,10,50,200", help="editor counts of the rate searches")
    parser.add_argument("--no-reference", action="store_true", help="measure the project's server alone")
    parser.add_argument("--connections", type=int, default=5000, help="idle connections to open (default 5,000)")
    parser.add_argument("--documents", type=int, default=1000, help="documents in the many-documents figure")
    parser.add_argument("--big-updates", type=int, default=100_000, help="updates of the large document")
    parser.add_argument("--ingest-updates", type=int, default=100_000, help="updates one client pushes")
    parser.add_argument("--restarts", type=int, default=3, help="cold loads of the large document")
    parser.add_argument("--json", type=Path, help="also write every result as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="fanout50",
        choices=("fanout50", "pair", "many", "connections"),
        help="instead of the figures, profile the project's server with py-spy under one load (default: 50 editors;"
        " pair: 2 editors of one document)",
    )
    parser.add_argument("--profile-rate", type=int, default=1000)
    parser.add_argument("--profile-seconds", type=int, default=20)
    parser.add_argument("--profile-out", type=Path, default=None, help="where py-spy writes (default: temp dir)")
    return parser.parse_args()


def profile(args: argparse.Namespace, server: Server, work: Path, tokens: list[str]) -> None:
    import profiling

    docs = {
        "fanout50": create_documents(1, "profile"),
        "pair": create_documents(1, "pair") if args.profile == "pair" else [],
        "many": create_documents(args.documents, "many") if args.profile == "many" else [],
        "connections": create_documents(100, "idle") if args.profile == "connections" else [],
    }
    server.start()
    config = profiling.profile_load(args.profile, tokens, docs, args.profile_rate, args.profile_seconds)
    lead = {"fanout50": 2.5, "pair": 2.5, "many": 2.5, "connections": 0.0}[args.profile]
    out = args.profile_out or work / f"profile-{args.profile}"
    print(profiling.run_profile(server, work, config, args.profile_seconds, lead, out))


def measure(args: argparse.Namespace, project: Server, reference: ReferenceServer | None, work: Path) -> dict:
    """Every scenario of ``--only``, on the project then on the reference; the results of both, by scenario."""
    import metrics_sample

    only = set(args.only.split(","))
    tokens = create_users()
    editor_counts = [int(n) for n in args.rate_editors.split(",") if n]
    docs: dict[str, Any] = {
        "fanout": create_documents(4, "fanout"),
        "rates": {n: create_documents(scenarios.RATE_STEP_DOCS, f"rate{n}") for n in editor_counts},
        "many": create_documents(args.documents, "many"),
        "cpu": create_documents(1, "cpu")[0],
        "connections": create_documents(100, "idle"),
        "ingest": create_documents(1, "ingest")[0],
        "big": tuple(create_documents(2, "big")),
    }
    results: dict[str, Any] = {"project": {}, "reference": {}, "scraped": []}
    project.start()
    log(f"project server pid {project.pid} on port {project.port}; RSS {project.rss_kb() // 1024} MiB")
    if "apply" in only:
        import apply_cost

        results["project"]["apply"] = apply_cost.measure()

    def both(name: str, run: Callable[[AnyServer], Any]) -> None:
        before = metrics_sample.scrape(project.port)
        results["project"][name] = run(project)
        # What the project's own /metrics said over the scenario: the operator's view of the same load.
        results["scraped"].append(metrics_sample.describe(name, before, metrics_sample.scrape(project.port)))
        if reference is not None:
            with running(reference):
                results["reference"][name] = run(reference)

    a = args
    if "fanout" in only:
        both("fanout", lambda s: scenarios.fanout(s, work, tokens, docs["fanout"], a.quick))
    if "rates" in only:
        results["project"]["rates"], results["reference"]["rates"] = {}, {}
        before = metrics_sample.scrape(project.port)
        for n in editor_counts:
            start = scenarios.RATE_SEARCH_START.get(n, 500)
            project_series = scenarios.max_rate(project, work, tokens, docs["rates"][n], n, start, a.quick)
            results["project"]["rates"][n] = project_series
            if reference is not None:
                with running(reference):  # from where the project's search ended: fewer steps
                    results["reference"]["rates"][n] = scenarios.max_rate(
                        reference, work, tokens, docs["rates"][n], n, project_series["best"] or start, a.quick
                    )
        results["scraped"].append(metrics_sample.describe("rates", before, metrics_sample.scrape(project.port)))
    if "many" in only:
        both("many", lambda s: scenarios.many_documents(s, work, tokens, docs["many"], a.quick))
    if "cpu" in only:
        both("cpu", lambda s: scenarios.cpu(s, work, tokens, docs["cpu"], a.quick))
    if "connections" in only:
        # A fresh process, as the reference gets for every scenario: a heap the earlier scenarios grew would hold
        # the new connections in memory already freed, and flatter the memory figure.
        project.stop()
        project.start()
        both("connections", lambda s: scenarios.connections(s, work, tokens, docs["connections"], a.connections))
    if "ingest" in only:
        both("ingest", lambda s: scenarios.ingest(s, work, tokens, docs["ingest"], a.ingest_updates))
    if "big" in only:
        project.stop()  # the document is written straight into the database: no server holds it meanwhile
        log(f"building a {a.big_updates:,}-update document through the store (log + compaction every 500)")
        updates_path = work / "big-updates.bin"
        info = bigdoc.build_big_document(docs["big"][0], a.big_updates, updates_path)
        log(f"built: {info}")
        for server in (project, reference):
            if server is not None:
                results[server.name]["big"] = scenarios.big_document(
                    server, work, tokens, docs["big"], info, updates_path, a.restarts
                )
    return results


def main() -> int:
    args = parse_args()
    if not shutil.which("node"):
        raise SystemExit("bench needs Node.js (the load generator and the reference server); install node and npm")
    raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})  # keep this orchestrator off the servers' core
    ensure_node_modules()
    work = Path(tempfile.mkdtemp(prefix="collab-bench-"))
    env = server_env(work / "bench.sqlite3")
    project = Server(env, work)
    reference = None if args.no_reference or args.profile else ReferenceServer(work)
    started = time.monotonic()
    try:
        log(f"work directory {work}")
        prepare_database(env)
        if args.profile:
            profile(args, project, work, create_users())
            return 0
        results = {"machine": machine(), "work": str(work), "loadavgStart": loadavg()}
        results.update(measure(args, project, reference, work))
        table = report.report(results)
        m = results["machine"]
        print()
        print(f"machine: {m['nproc']} x {m['cpu']}, {m['ramGiB']} GiB RAM; Python {m['python']}, Node {m['node']},")
        print(f"pycrdt {m['pycrdt']}, daphne {m['daphne']}; reference {m['reference']} (in memory, no auth);")
        print(f"servers on core {SERVER_CORE} one at a time, load on core {CLIENT_CORE}")
        print(f"load average at start {results['loadavgStart']}, at end {loadavg()} (shared machine)")
        print(table)
        if results["scraped"]:
            print("\nthe project server's /metrics over each scenario:\n" + "\n".join(results["scraped"]))
        print(f"\ntotal bench time {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        project.stop()
        if reference is not None:
            reference.stop()
        if args.keep or args.profile:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
