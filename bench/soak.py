#!/usr/bin/env python
"""Soak run of the collaboration server (not part of CI): ``.venv/bin/python bench/soak.py [--minutes 30]
[--sockets 500] [--documents 100]``.

(About 550 lines: set-up, the per-minute report, the summary and the analysis of the server's log are one run's
parts; the load itself is in ``soak.mjs``.)

It starts one daphne process as ``bench/run.py`` does (fresh SQLite database in a temporary directory, pinned to
core 0) but with the production defaults of every per-connection limit (rate limits, awareness budgets, penalties),
creates users and documents, and drives it with ``bench/soak.mjs`` (one Node process on core 1, loopback only):

- honest editors, 5 per document: y-websocket ``WebsocketProvider``s with real ``Y.Doc``s, typing a keystroke every
  0.2-1 s and moving their cursor (an awareness update) every 1-3 s;
- bystanders (1 socket in ``--bystander-every``): honest editors that also time the server's echo of an awareness
  update of their own every second, in a thread of their own (as in a user's own browser, the echo does not wait
  for the other clients' work on the load generator's event loop);
- hostile clients (1 socket in ``--hostile-every``, each its own user) cycling through abusive patterns -- a flood of
  SyncStep1 without reading, a flood of query-awareness, one awareness message of 100,000 entries, awareness JSON
  nested 1,000 deep, a corrupt update, a reader that stops reading -- reconnecting after each close (and refused
  for a while after repeated bad input, which is expected and counted).

Every minute it prints elapsed time, server RSS, sockets open, messages/s, the bystanders' echo p50/p99 over that
minute, unexpected closes (an honest client closed or dropped for any reason) and hostile closes by code; at the
end the RSS slope (least squares over the per-minute samples after the warm-up, by default a third of the run), the
bystanders' echo p50/p99/max, every unexpected close, hostile closes by code and total messages. The server log is
analysed (which user each closed connection belonged to) and kept.

Exit status 1 when the RSS slope is >= 1 MiB per 10 minutes, the bystander p99 is >= 50 ms, or any honest client
was closed; 2 when the run itself failed. Everything is bounded in time; the server and the temporary directory
are cleaned up at the end and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # bench/run.py: server, database and data set-up

HOSTILE_PREFIX = "soak-hostile"
RSS_SLOPE_LIMIT = 1.0  # MiB per 10 minutes
ECHO_P99_LIMIT = 50.0  # ms
# The documents, the rooms' histories (bounded at 64 KiB each) and SQLite's page caches fill up over the first minutes
# of a run; the slope that tells a leak from a warm-up is the one after they have (about 8-10 minutes at 500 sockets:
# the 12-minute run's RSS rose 1-2 MiB a minute until minute 8, then stayed within 1 MiB). The default warm-up is a
# third of the run, at least 2 minutes; the slope from minute 2 is printed too.
EARLY_MINUTES = 2.0
PATTERNS = (
    "sync-flood-unread",
    "query-awareness-flood",
    "awareness-100k",
    "awareness-deep",
    "corrupt-update",
    "stops-reading",
)
LIMIT_FIELDS = (
    "RATE_UPDATES_PER_SECOND",
    "RATE_UPDATES_BURST",
    "RATE_AWARENESS_PER_SECOND",
    "RATE_AWARENESS_BURST",
    "RATE_SYNC_PER_SECOND",
    "RATE_SYNC_BURST",
    "MAX_MESSAGE_BYTES",
    "MAX_AWARENESS_NEW_ENTRIES",
    "MAX_AWARENESS_STATE_BYTES",
    "MAX_AWARENESS_JSON_DEPTH",
    "MAX_OUTBOUND_BYTES",
    "OUTBOUND_GRACE_SECONDS",
    "BAD_INPUT_CLOSES",
    "BAD_INPUT_WINDOW_SECONDS",
)


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def say(message: str) -> None:
    print(message, flush=True)


# -- set-up ----------------------------------------------------------------------------------------------------------
def soak_env(db_path: Path) -> dict[str, str]:
    """bench/run.py's server environment without its raised rate limits (nor any other COLLAB_* override)."""
    env = bench.server_env(db_path)
    for key in [key for key in env if key.startswith("COLLAB_")]:
        del env[key]
        os.environ.pop(key, None)  # prepare_database copies env into os.environ; leave no override behind
    env["LOG_LEVEL"] = "INFO"  # joins name the user of each connection id: closes are told honest or hostile
    return env


def check_default_limits() -> dict[str, Any]:
    """The limits in force (this process reads the same settings as the server); all must be the defaults."""
    from dataclasses import fields

    from documents.conf import CollabConfig, get_config

    defaults = CollabConfig()
    config = get_config()
    names = {f.name for f in fields(CollabConfig)} - {"SPILL_DIR", "STORE_BACKEND"}  # where things are, not limits
    changed = [name for name in names if getattr(config, name) != getattr(defaults, name)]
    if changed:
        raise SystemExit(f"soak needs the production defaults; overridden: {', '.join(sorted(changed))}")
    return {name: getattr(config, name) for name in LIMIT_FIELDS}


def create_hostile_users(count: int, documents: list[str]) -> list[str]:
    """``count`` users of their own (penalties are per user), editors of every document; their API tokens."""
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    from documents.models import Membership

    tokens = []
    for index in range(count):
        out = io.StringIO()
        call_command("create_api_token", f"{HOSTILE_PREFIX}{index}", create_user=True, stdout=out)
        tokens.append(out.getvalue().strip())
    users = get_user_model().objects.filter(username__startswith=HOSTILE_PREFIX)
    Membership.objects.bulk_create(
        [Membership(document_id=doc, user=user, role="editor") for doc in documents for user in users], batch_size=500
    )
    connections.close_all()
    return tokens


# -- server statistics -----------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait_seconds(pid: int) -> float:
    """Seconds the server's main thread was runnable but waiting for a CPU (time other processes took from it)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def slope_per_10_minutes(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minutes, MiB) in MiB per 10 minutes; None with fewer than 3 samples."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in samples)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    return 10 * sxy / sxx if sxx else None


def codes(counter: dict[str, int]) -> str:
    if not counter:
        return "none"
    return " ".join(f"{code}={count}" for code, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


# -- the server log --------------------------------------------------------------------------------------------------
JOINED = re.compile(r"ws (ws\d+) joined \S+ as (\S+) \(")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
CLOSED = re.compile(r"ws (ws\d+) closed with (\d+): (.*)$")
REFUSED_PENALTY = "too many closes for bad input"


def analyse_server_log(path: Path) -> dict[str, Any]:
    """Closes by (honest|hostile, code, reason), refusals, errors and tracebacks in the server log."""
    users: dict[str, str] = {}
    joined_at: dict[str, float] = {}
    closes: Counter[tuple[str, str, str]] = Counter()
    lifetimes: dict[tuple[str, str, str], list[float]] = {}
    honest_lines: list[str] = []
    errors: list[str] = []
    refused_penalty = 0
    traceback_count = 0
    failed_sends = 0
    compactions = 0
    if not path.exists():
        return {"missing": True}
    with path.open(errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            stamp = STAMP.match(line)
            at = time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1000 if stamp else None
            if match := JOINED.search(line):
                users[match[1]] = match[2]
                if at is not None:
                    joined_at[match[1]] = at
            elif match := CLOSED.search(line):
                user = users.get(match[1], "?")
                kind = "hostile" if user.startswith(HOSTILE_PREFIX) else "honest" if user != "?" else "unknown"
                reason = re.sub(r"\d+", "N", match[3])  # "awareness update with 100000 entries" -> a class
                closes[(kind, match[2], reason)] += 1
                if at is not None and match[1] in joined_at:
                    lifetimes.setdefault((kind, match[2], reason), []).append(1000 * (at - joined_at[match[1]]))
                if kind != "hostile":
                    honest_lines.append(f"{line} [user {user}]")
            elif REFUSED_PENALTY in line:
                refused_penalty += 1
            elif "send to" in line and "failed" in line:
                failed_sends += 1
            elif "compacted" in line:
                compactions += 1
            if "Traceback" in line:
                traceback_count += 1
            if " ERROR " in line or " CRITICAL " in line:
                errors.append(line)
    return {
        "closes": closes,
        "lifetimesMs": lifetimes,
        "honestLines": honest_lines,
        "refusedPenalty": refused_penalty,
        "errors": errors,
        "tracebacks": traceback_count,
        "failedSends": failed_sends,
        "compactions": compactions,
    }


# -- the run ---------------------------------------------------------------------------------------------------------
def reader_thread(stream: Any, out: queue.Queue[str | None]) -> None:
    for raw in stream:
        out.put(raw.decode(errors="replace"))
    out.put(None)


def minute_line(msg: dict[str, Any]) -> str:
    """One progress line: the load generator's interval report with the server's figures added."""
    echo = msg["echo"]
    unexpected = Counter(str(entry["code"]) for entry in msg["unexpected"])
    t = int(msg["t"])
    return (
        f"{t // 60:3d}:{t % 60:02d}  rss {msg['rssMiB']:7.1f} MiB  open {msg['open']:4d}"
        f" (srv {msg['serverSockets']:4d})"
        f"  {msg['recvPerS'] + msg['sentPerS']:7,.0f} msg/s  echo p50 {ms(echo['p50Ms'])} p99 {ms(echo['p99Ms'])} ms"
        f" (n {echo['n']})  unexpected {sum(unexpected.values())}{' ' + codes(unexpected) if unexpected else ''}"
        f"  hostile {codes(msg['hostile'])}  | srv cpu {msg['serverCpuPct']:.0f}% waited {msg['serverWaitPct']:.0f}%"
        f"  node cpu {msg['nodeCpuPct']:.0f}% lag p99 {msg['nodeLoopDelayMs']['p99']} ms"
        f" (bystanders' thread max {msg['bystanderLoopDelayMaxMs']} ms)  load {msg['load1']}"
        f"  docs {msg['docs']['structs']:,} structs {msg['docs']['stateKiB']:,.0f} KiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load (default 30)")
    parser.add_argument("--sockets", type=int, default=500, help="sockets in all (default 500)")
    parser.add_argument("--documents", type=int, default=100, help="documents (default 100: 5 sockets each)")
    parser.add_argument("--hostile-every", type=int, default=50, help="one socket in N is hostile (default 50)")
    parser.add_argument("--bystander-every", type=int, default=50, help="one socket in N is a bystander")
    parser.add_argument("--report-seconds", type=int, default=60, help="interval of the progress lines")
    parser.add_argument(
        "--patterns",
        default=",".join(PATTERNS),
        help="comma-separated hostile patterns to cycle through (default: all; for narrowing a finding down)",
    )
    parser.add_argument(
        "--warmup", type=float, help="minutes before the RSS slope is measured (default: a third of the run, >= 2)"
    )
    parser.add_argument(
        "--database-url",
        help="an empty database for the server (default: a fresh SQLite file; PostgreSQL keeps its page cache out of"
        " the server's RSS)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument("--server-log", type=Path, help="where to keep the server log (default: /tmp/collab-soak-*)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if not shutil.which("node"):
        raise SystemExit("soak needs Node.js; install node and npm")
    if unknown := set(args.patterns.split(",")) - set(PATTERNS):
        raise SystemExit(f"unknown hostile patterns: {', '.join(sorted(unknown))}")
    if args.sockets < 1 or args.documents < 1 or args.minutes <= 0:
        raise SystemExit("--sockets, --documents and --minutes must be positive")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    bench.raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > bench.CLIENT_CORE:
        os.sched_setaffinity(0, {bench.CLIENT_CORE})  # keep this orchestrator off the server's core
    bench.ensure_node_modules()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    keep_log = args.server_log or Path(tempfile.gettempdir()) / f"collab-soak-{stamp}-server.log"
    keep_client_log = keep_log.with_name(keep_log.name.replace("server", "client"))
    work = Path(tempfile.mkdtemp(prefix="collab-soak-"))
    env = soak_env(work / "soak.sqlite3")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    server = bench.Server(env, work)
    node: subprocess.Popen[bytes] | None = None
    try:
        log(f"work directory {work}")
        bench.prepare_database(env)
        limits = check_default_limits()
        honest_tokens = bench.create_users()
        documents = bench.create_documents(args.documents, "soak")
        hostile_count = args.sockets // args.hostile_every if args.hostile_every > 0 else 0
        hostile_tokens = create_hostile_users(hostile_count, documents)
        server.start()
        m = bench.machine()
        say(
            f"soak: {args.minutes:g} min, {args.sockets} sockets over {args.documents} documents"
            f" ({hostile_count} hostile, 1 bystander in {args.bystander_every}); default limits:"
            f" updates {limits['RATE_UPDATES_PER_SECOND']:g}/s burst {limits['RATE_UPDATES_BURST']:g},"
            f" awareness {limits['RATE_AWARENESS_PER_SECOND']:g}/s burst {limits['RATE_AWARENESS_BURST']:g},"
            f" sync {limits['RATE_SYNC_PER_SECOND']:g}/s burst {limits['RATE_SYNC_BURST']:g},"
            f" penalty {limits['BAD_INPUT_CLOSES']} bad closes in {limits['BAD_INPUT_WINDOW_SECONDS']:g} s"
        )
        say(
            f"machine: {m['nproc']} x {m['cpu']}, {m['ramGiB']} GiB; Python {m['python']}, Node {m['node']},"
            f" pycrdt {m['pycrdt']}, daphne {m['daphne']}; server pid {server.pid} on core {bench.SERVER_CORE},"
            f" clients on core {bench.CLIENT_CORE}; load average {bench.loadavg()}"
        )
        duration_s = round(args.minutes * 60)
        config = {
            "url": server.ws_url,
            "documents": documents,
            "honestTokens": honest_tokens,
            "hostileTokens": hostile_tokens,
            "sockets": args.sockets,
            "hostileEvery": args.hostile_every if args.hostile_every > 0 else args.sockets + 1,
            "bystanderEvery": args.bystander_every,
            "durationS": duration_s,
            "reportS": args.report_seconds,
            "seed": args.seed,
            "patterns": args.patterns.split(","),
        }
        config_path = work / "soak.json"
        config_path.write_text(json.dumps(config))
        client_log = work / "soak-client.log"
        with client_log.open("ab") as err:
            node = subprocess.Popen(
                bench.pinned(bench.CLIENT_CORE, ["node", str(bench.BENCH / "soak.mjs"), str(config_path)]),
                cwd=bench.BENCH,
                stdout=subprocess.PIPE,
                stderr=err,
                preexec_fn=bench.raise_fd_limit,
            )
        assert node.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=reader_thread, args=(node.stdout, lines), daemon=True).start()

        deadline = time.monotonic() + duration_s + 420  # connecting, the last interval and shutting down
        rss: list[tuple[float, float]] = []
        minutes: list[dict[str, Any]] = []
        final: dict[str, Any] | None = None
        failure: str | None = None
        last = (time.monotonic(), cpu_seconds(server.pid), runqueue_wait_seconds(server.pid))
        say(
            "columns: elapsed, server RSS, sockets open (server's open sockets), messages/s sent+received by the"
            " clients, bystander echo over the interval, unexpected closes, hostile outcomes by close code | server"
            " CPU and time it waited for a CPU, load generator CPU and event-loop lag, 1-min load average, documents"
        )
        while final is None and failure is None:
            try:
                raw = lines.get(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() > deadline:
                    failure = "the load generator ran past its deadline"
                elif server.process is not None and server.process.poll() is not None:
                    failure = f"the server exited with {server.process.returncode}"
                continue
            if raw is None:
                failure = f"the load generator exited ({node.wait()}) without a result"
                break
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                log(f"load generator: {raw.strip()[:300]}")
                continue
            if msg["type"] == "started":
                rss.append((0.0, server.rss_kb() / 1024))
                say(
                    f"  0:00  rss {rss[-1][1]:7.1f} MiB  {msg['connected']}/{msg['editors']} honest clients synced in"
                    f" {msg['connectS']} s; {msg['hostiles']} hostile, {msg['bystanders']} bystanders start now"
                )
            elif msg["type"] == "minute":
                now = (time.monotonic(), cpu_seconds(server.pid), runqueue_wait_seconds(server.pid))
                wall = max(1e-3, now[0] - last[0])
                rss_mib = server.rss_kb() / 1024
                rss.append((msg["t"] / 60, rss_mib))
                msg.update(
                    rssMiB=round(rss_mib, 1),
                    serverSockets=open_sockets(server.pid),
                    serverCpuPct=round(100 * (now[1] - last[1]) / wall, 1),
                    serverWaitPct=round(100 * (now[2] - last[2]) / wall, 1),
                    loadavg=bench.loadavg(),
                    load1=bench.loadavg().split()[0],
                )
                last = now
                minutes.append(msg)
                say(minute_line(msg))
                for entry in msg["unexpected"]:
                    say(f"        unexpected close: {json.dumps(entry)}")
            elif msg["type"] == "final":
                final = msg
            elif msg["type"] == "error":
                failure = f"the load generator failed: {msg['error'][:2000]}"
        if node.poll() is None:
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                node.kill()
        rss_end = server.rss_kb() / 1024
        server.stop()
        node = None
        shutil.copyfile(work / f"daphne-{server.starts}.log", keep_log)
        shutil.copyfile(client_log, keep_client_log)
        analysis = analyse_server_log(keep_log)
        if failure or final is None:
            say(f"FAILED: {failure}; server log {keep_log}, client log {keep_client_log}")
            return 2

        warmup = args.warmup if args.warmup is not None else max(EARLY_MINUTES, args.minutes / 3)
        after_warmup = [(t, v) for t, v in rss if t >= warmup]
        slope = slope_per_10_minutes(after_warmup)
        early_slope = slope_per_10_minutes([(t, v) for t, v in rss if t >= EARLY_MINUTES])
        echo = final["echo"]
        unexpected = final["unexpected"]
        say("")
        say(f"summary ({args.minutes:g} min, {args.sockets} sockets, {args.documents} documents):")
        rss_first = rss[0][1] if rss else float("nan")
        say(
            f"  server RSS: {rss_first:.1f} MiB after connecting, {rss[-1][1]:.1f} MiB at the end of the load"
            f" ({rss_end:.1f} MiB after the clients left)"
        )
        say(
            f"  RSS slope: {'n/a (needs 3 per-minute samples after the warm-up)' if slope is None else f'{slope:+.2f}'}"
            f" MiB per 10 min (least squares over {len(after_warmup)} samples from minute {warmup:g};"
            f" target < {RSS_SLOPE_LIMIT:g}); from minute {EARLY_MINUTES:g}, warm-up included:"
            f" {'n/a' if early_slope is None else f'{early_slope:+.2f}'}"
        )
        say(
            f"  bystander awareness echo: p50 {ms(echo['p50Ms'])} ms, p99 {ms(echo['p99Ms'])} ms, max"
            f" {ms(echo['maxMs'])} ms over {echo['n']:,} echoes ({final['echoLost']} not echoed within 60 s;"
            f" target p99 < {ECHO_P99_LIMIT:g} ms)"
        )
        by_code = codes(Counter(str(entry["code"]) for entry in unexpected))
        say(f"  unexpected closes: {len(unexpected)}" + (f" ({by_code})" if unexpected else ""))
        for entry in unexpected[:50]:
            say(f"    {json.dumps(entry)}")
        say(f"  hostile closes by code: {codes(final['hostile'])}")
        for pattern, outcomes in final["hostileByPattern"].items():
            say(f"    {pattern:22s} {codes(outcomes)}")
        say(
            f"  total messages: {final['messages']:,} ({final['sent']:,} sent, {final['received']:,} received by"
            f" clients); documents at the end: {final['docs']['structs']:,} structs, {final['docs']['stateKiB']:,} KiB"
        )
        waits = [minute["serverWaitPct"] for minute in minutes]
        say(
            f"  load average at the end: {bench.loadavg()}; the server waited for a CPU"
            f" {sum(waits) / max(1, len(waits)):.0f}% of the time on average (max {max(waits, default=0):.0f}% in an"
            " interval): the machine is shared"
        )
        say(f"  server log ({keep_log}):")
        for key, count in sorted(analysis["closes"].items(), key=lambda kv: -kv[1]):
            spans = sorted(analysis["lifetimesMs"].get(key, []))
            span = (
                f" (joined -> closed: median {spans[len(spans) // 2]:.0f} ms, max {spans[-1]:.0f} ms)" if spans else ""
            )
            say(f"    {count:6d} x {key[0]} closed with {key[1]}: {key[2]}{span}")
        say(f"    {analysis['refusedPenalty']:6d} x handshakes refused: {REFUSED_PENALTY}")
        say(
            f"    {analysis['failedSends']} failed sends, {analysis['compactions']} compactions,"
            f" {len(analysis['errors'])} ERROR lines, {analysis['tracebacks']} tracebacks"
        )
        for line in analysis["honestLines"][:20]:
            say(f"    honest: {line}")
        for line in analysis["errors"][:10]:
            say(f"    error: {line}")

        misses = []
        if slope is not None and slope >= RSS_SLOPE_LIMIT:
            misses.append(f"RSS slope {slope:+.2f} MiB/10 min >= {RSS_SLOPE_LIMIT:g}")
        if echo["p99Ms"] is None or echo["p99Ms"] >= ECHO_P99_LIMIT:
            misses.append(f"bystander p99 {ms(echo['p99Ms'])} ms >= {ECHO_P99_LIMIT:g} ms")
        if unexpected or analysis["honestLines"]:
            misses.append(f"{len(unexpected)} unexpected closes ({len(analysis['honestLines'])} in the server log)")
        say(f"  result: {'PASS' if not misses else 'MISS: ' + '; '.join(misses)}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "args": vars(args) | {"json": str(args.json), "server_log": str(keep_log)},
                        "limits": limits,
                        "minutes": minutes,
                        "rss": rss,
                        "slope": slope,
                        "warmup_minutes": warmup,
                        "slope_from_minute_2": early_slope,
                        "final": final,
                        "misses": misses,
                    },
                    indent=2,
                    default=str,
                )
            )
        return 1 if misses else 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if node is not None and node.poll() is None:
            node.terminate()
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait(5)
        server.stop()
        if (work / f"daphne-{server.starts}.log").exists() and not keep_log.exists():
            shutil.copyfile(work / f"daphne-{server.starts}.log", keep_log)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        log(f"server log kept at {keep_log}")


if __name__ == "__main__":
    sys.exit(main())
