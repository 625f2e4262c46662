#!/usr/bin/env python
"""Benchmark of the collaboration server: ``make bench`` (``.venv/bin/python bench/run.py``).

It starts its own daphne server (one process, pinned to core 0 with ``taskset`` when available) on a fresh SQLite
database in a temporary directory, creates users, tokens and documents, and drives it with ``bench/loadgen.mjs``
(Node, pinned to core 1: one Python process cannot generate enough load), on loopback only. It prints a table of
figures next to their targets (PASS/MISS):

1. fan-out latency p50/p99 in one document with 2, 10, 50 and 200 editors (100 updates/s in total);
2. the highest total update rate one process sustains for 50 editors with p99 < 100 ms (stepped up);
3. 1,000 documents x 2 editors at 1 update/s each: % delivered and p99;
4. server CPU per 1,000 updates fanned out to 10 clients, and per delivered message;
5. server memory per idle connection (5,000 open by default) and the connection + sync rate;
6. a 100,000-update document: time to load it from storage (cold room) and to serve it (room loaded).

``--profile`` instead runs the 50-editor load under py-spy and prints where the server's time goes.

About 900 lines, the one long module of the project: every scenario shares the server, data set-up and report
code. It is to be split by scenario when the runs side by side with the reference server are added, rather than
twice.
Every loop is bounded (a step ends after its duration, a drain after its timeout); a full run takes ~5 minutes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVER_CORE = 0
CLIENT_CORE = 1
USERS = ("bench0", "bench1", "bench2", "bench3")  # bench0 owns every document; the others are editors

# -- targets: (label, predicate on the measured value) ---------------------------------------------------------------
TARGETS = {
    "rate50": ("≥1,500 updates/s at p99<100 ms", lambda v: v is not None and v >= 1500),
    "p99_200": ("p99 <50 ms at 100 updates/s", lambda v: v is not None and v < 50),
    "docs_delivered": ("100% delivered", lambda v: v is not None and v >= 100.0),
    "docs_p99": ("p99 <20 ms", lambda v: v is not None and v < 20),
    "cpu_per_msg": ("≤0.025 ms per delivered message", lambda v: v is not None and v <= 0.025),
    "kb_per_conn": ("≤30 KB per connection (target at 5,000)", lambda v: v is not None and v <= 30),
    "conn_rate": ("≥1,000 connections/s", lambda v: v is not None and v >= 1000),
    "warm_sync": ("<60 ms", lambda v: v is not None and v < 60),
    "cold_sync": ("<200 ms", lambda v: v is not None and v < 200),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_fd_limit() -> None:
    """Raise the soft limit of open files to the hard limit (thousands of sockets); also the children's preexec."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(core: int, argv: list[str]) -> list[str]:
    """``argv`` run on one core when taskset exists and the machine has that core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core), *argv]
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- environment, database and data ----------------------------------------------------------------------------------
def server_env(db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # one process, in-memory channel layer
    env.update(
        DATABASE_URL=f"sqlite:///{db_path}",
        DJANGO_SETTINGS_MODULE="collab.settings",
        SECRET_KEY="bench",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # The per-connection rate limits protect production from one abusive client; the bench's editors type far
        # faster than people on purpose.
        COLLAB_RATE_UPDATES_PER_SECOND="1000000",
        COLLAB_RATE_UPDATES_BURST="1000000",
        COLLAB_RATE_AWARENESS_PER_SECOND="1000000",
        COLLAB_RATE_AWARENESS_BURST="1000000",
    )
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrate the fresh database and set up Django in this process (for creating data directly)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_users() -> list[str]:
    """The bench users' API tokens, through ``manage.py create_api_token --create-user``."""
    from django.core.management import call_command

    tokens = []
    for username in USERS:
        out = io.StringIO()
        call_command("create_api_token", username, create_user=True, stdout=out)
        tokens.append(out.getvalue().strip())
    return tokens


def create_documents(count: int, prefix: str) -> list[str]:
    """``count`` documents owned by bench0 with the other bench users as editors; their ids."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from documents.models import Document, Membership

    users = {u.username: u for u in get_user_model().objects.filter(username__in=USERS)}
    docs = [Document(title=f"{prefix} {i}", owner=users["bench0"]) for i in range(count)]
    Document.objects.bulk_create(docs, batch_size=500)
    Membership.objects.bulk_create(
        [Membership(document=d, user=users[name], role="editor") for d in docs for name in USERS[1:]], batch_size=500
    )
    connections.close_all()
    return [str(d.pk) for d in docs]


# -- the server ------------------------------------------------------------------------------------------------------
class Server:
    """One daphne process on a loopback port, pinned to SERVER_CORE."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/documents"

    def start(self) -> Server:
        self.port = free_port()
        self.starts += 1
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "collab.asgi:application"]
        with open(self.log_dir / f"daphne-{self.starts}.log", "ab") as out:
            self.process = subprocess.Popen(
                pinned(SERVER_CORE, argv),
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_fd_limit,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early; see {self.log_dir}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("daphne did not start")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def ensure_node_modules() -> None:
    marker = BENCH / "node_modules" / ".package-lock.json"
    lock = BENCH / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("installing the load generator (npm ci in bench/)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=300)


def loadgen(server: Server, work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Run one loadgen scenario on CLIENT_CORE; its JSON result."""
    config = {"url": server.ws_url, "serverPid": server.pid, "clkTck": os.sysconf("SC_CLK_TCK"), **config}
    path = work / f"loadgen-{config['scenario']}-{time.monotonic_ns()}.json"
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
        log(f"loadgen {config['scenario']} failed: {result['error'][:500]}")
    return result


def pause_for_unloads(seconds: float = 3.0) -> None:
    """Rooms left empty unload after the grace period (flush + compaction): keep that out of the next figure."""
    time.sleep(seconds)


# -- the scenarios ---------------------------------------------------------------------------------------------------
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


def bench_fanout(server: Server, work: Path, tokens: list[str], docs: list[str], quick: bool) -> list[dict[str, Any]]:
    results = []
    for editors, doc in zip((2, 10, 50, 200), docs, strict=True):
        log(f"fan-out: {editors} editors in one document, 100 updates/s in total")
        room = {"id": doc, "clients": editors, "senders": editors}
        result = loadgen(server, work, fanout_config([room], tokens, 100, durationS=3 if quick else 5))
        results.append(result)
        pause_for_unloads()
    return results


def bench_rate_steps(
    server: Server, work: Path, tokens: list[str], docs: list[str], quick: bool
) -> list[dict[str, Any]]:
    rates = (100, 250, 500, 1000, 1500, 2000)
    results = []
    misses = 0
    for rate, doc in zip(rates, docs, strict=False):
        log(f"rate step: 50 editors, {rate} updates/s in total")
        room = {"id": doc, "clients": 50, "senders": 50}
        result = loadgen(
            server,
            work,
            fanout_config([room], tokens, rate, durationS=2 if quick else 4, drainTimeoutS=15, abortMs=2000),
        )
        results.append(result)
        pause_for_unloads()
        misses = 0 if step_ok(result) else misses + 1
        if "error" in result or result["aborted"] or misses >= 2:
            break  # past the knee: higher rates only queue more
    return results


def delivered_pct(result: dict[str, Any]) -> float | None:
    """Timestamped updates received of those expected (every receiver of every update sent), after the drain."""
    if not result.get("expected"):
        return None
    return 100.0 * min(result["received"], result["expected"]) / result["expected"]


def step_ok(result: dict[str, Any]) -> bool:
    return (
        "error" not in result
        and not result["aborted"]
        and result["p99Ms"] is not None
        and result["p99Ms"] < 100
        and (delivered_pct(result) or 0) >= 99.99
    )


def bench_many_documents(server: Server, work: Path, tokens: list[str], docs: list[str], quick: bool) -> dict[str, Any]:
    log(f"{len(docs)} documents x 2 editors at 1 update/s each")
    rooms = [{"id": doc, "clients": 2, "senders": 2} for doc in docs]
    config = fanout_config(
        rooms, tokens, 2 * len(docs), warmupS=2, durationS=5 if quick else 10, concurrency=64, hardTimeoutS=240
    )
    result = loadgen(server, work, config)
    pause_for_unloads(4)
    return result


def bench_cpu(server: Server, work: Path, tokens: list[str], doc: str, quick: bool) -> dict[str, Any]:
    log("server CPU: 1 sender, 10 receivers, 500 updates/s")
    room = {"id": doc, "clients": 11, "senders": 1}
    config = fanout_config([room], tokens, 500, warmupS=0, durationS=4 if quick else 8, settleS=1.5)
    result = loadgen(server, work, config)
    pause_for_unloads()
    return result


def bench_connections(server: Server, work: Path, tokens: list[str], docs: list[str], count: int) -> dict[str, Any]:
    log(f"{count} idle connections over {len(docs)} documents")
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
    pause_for_unloads()
    return result


def generate_updates(n_updates: int, authors: int = 5, seed: int = 7) -> list[bytes]:
    """``n_updates`` small Yjs updates from ``authors`` people typing, deleting and adding paragraphs (ProseMirror)."""
    from pycrdt import Doc, XmlElement, XmlFragment, XmlText

    rng = random.Random(seed)
    hub = Doc()
    docs = [Doc() for _ in range(authors)]
    captured: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: captured.append(event.update))
    docs[0].get("default", type=XmlFragment).children.append(XmlElement("paragraph", {}, [XmlText("")]))
    updates: list[bytes] = []
    words = ["the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog. "]
    while True:
        for update in captured:
            hub.apply_update(update)
        updates.extend(captured)
        captured.clear()
        if len(updates) >= n_updates:
            return updates[:n_updates]
        doc = docs[rng.randrange(authors)]
        doc.apply_update(hub.get_update(doc.get_state()))
        captured.clear()
        fragment = doc.get("default", type=XmlFragment)
        children = fragment.children
        count = len(children)
        roll = rng.random()
        if roll < 0.08:  # a new paragraph near the end
            fragment.children.insert(max(0, count - rng.randint(0, 3)), XmlElement("paragraph", {}, [XmlText("")]))
            continue
        text = children[max(0, count - 1 - int(rng.expovariate(0.5)))].children[0]
        if roll < 0.16 and len(text) > 0:  # backspace a few characters
            for _ in range(rng.randint(1, 5)):
                if len(text) == 0:
                    break
                del text[len(text) - 1]
            continue
        index = len(text) if rng.random() < 0.8 else rng.randint(0, len(text))
        for char in rng.choice(words) * rng.randint(1, 3):  # one update per keystroke
            text.insert(index, char)
            index += 1


def build_big_document(doc_id: str, n_updates: int) -> dict[str, Any]:
    """Store ``n_updates`` updates as the server would: appended to the log, compacted every COMPACT_LOG_COUNT."""
    import uuid

    from django.db import connections
    from pycrdt import Doc, XmlFragment

    from documents.conf import get_config
    from documents.engine.storage import DjangoStorage
    from documents.models import Document, SnapshotSegment

    started = time.monotonic()
    updates = generate_updates(n_updates)
    generated = time.monotonic() - started
    storage = DjangoStorage()
    key = uuid.UUID(doc_id)
    chunk = get_config().COMPACT_LOG_COUNT
    for i in range(0, len(updates), chunk):
        storage.write_batch({key: updates[i : i + chunk]})
        storage.compact(key)
    expected = Doc()
    for update in updates:  # one by one: merge_updates(*updates) is quadratic in the number of updates
        expected.apply_update(update)
    loaded = storage.read(key)[0].doc()
    paragraphs = len(loaded.get("default", type=XmlFragment).children)
    assert paragraphs == len(expected.get("default", type=XmlFragment).children), "stored document differs"
    assert str(loaded.get("default", type=XmlFragment)) == str(expected.get("default", type=XmlFragment))
    segments = list(SnapshotSegment.objects.filter(document_id=key).values_list("data", flat=True))
    info = {
        "updates": len(updates),
        "updateBytes": sum(map(len, updates)),
        "segments": len(segments),
        "storedBytes": sum(len(s) for s in segments),
        "paragraphs": paragraphs,
        "characters": len(str(loaded.get("default", type=XmlFragment))),
        "generateS": round(generated, 2),
        "storeS": round(time.monotonic() - started - generated, 2),
        "sizeBytes": Document.objects.get(pk=key).size_bytes,
    }
    connections.close_all()
    return info


def bench_big_document(
    server: Server, work: Path, tokens: list[str], doc: str, warmup_doc: str, restarts: int, n_updates: int
) -> dict[str, Any]:
    server.stop()
    log(f"building a {n_updates:,}-update document through the store (log + compaction every 500)")
    info = build_big_document(doc, n_updates)
    log(f"built: {info}")
    runs = []
    for i in range(restarts):
        server.start()
        log(f"big document: server start {i + 1}/{restarts}, connect -> synced")
        config = {
            "scenario": "sync",
            "room": doc,
            "token": tokens[1],
            "warmupRoom": warmup_doc,
            "warm": 10 if i == 0 else 0,
            "provider": 5 if i == 0 else 0,
            "expectParagraphs": info["paragraphs"],
            "hardTimeoutS": 120,
        }
        runs.append(loadgen(server, work, config))
        server.stop()
    return {"document": info, "runs": runs}


# -- report ----------------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    from importlib.metadata import version

    import pycrdt  # noqa: F401

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ramGiB": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "node": node,
        "pycrdt": version("pycrdt"),
        "daphne": version("daphne"),
        "kernel": platform.release(),
        "taskset": bool(shutil.which("taskset")),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def verdict(key: str, value: Any) -> tuple[str, str]:
    label, check = TARGETS[key]
    return label, "PASS" if check(value) else "MISS"


def waited(result: dict[str, Any]) -> str:
    """How long the server waited for a CPU taken by other processes (the machine is shared), when notable."""
    wait = result.get("serverRunqueueWaitPct")
    return f"  [waited for CPU {wait:.0f}%]" if wait is not None and wait >= 5 else ""


def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []

    def row(figure: str, measured: str, target: str = "", status: str = "") -> None:
        rows.append((figure, measured, target, status))

    for r in results.get("fanout", []):
        if "error" in r:
            row(f"fan-out {r.get('editors', '?')} editors", "error: " + r["error"][:60])
            continue
        target, status = ("", "")
        if r["editors"] == 200:
            target, status = verdict("p99_200", r["p99Ms"])
        row(
            f"fan-out, 1 doc, {r['editors']} editors, 100 upd/s",
            f"p50 {fmt(r['p50Ms'], ' ms', 2)}  p99 {fmt(r['p99Ms'], ' ms', 2)}  "
            f"({fmt(r['deliveredPerSecond'], '/s', 0)} msgs, {fmt(delivered_pct(r), '%', 2)} delivered)"
            f"{waited(r)}",
            target,
            status,
        )
    steps = results.get("rates", [])
    for r in steps:
        if "error" in r:
            row("50 editors step", "error: " + r["error"][:60])
            continue
        row(
            f"50 editors @ {r['targetRate']:,} upd/s (sent {fmt(r['sentRate'], '', 0)})",
            f"p50 {fmt(r['p50Ms'], ' ms', 1)}  p99 {fmt(r['p99Ms'], ' ms', 1)}  "
            f"{fmt(r['deliveredPerSecond'], ' msgs/s', 0)}  {fmt(delivered_pct(r), '%', 2)} delivered"
            f"{'  ABORTED' if r['aborted'] else ''}  server CPU {fmt(r['serverCpuPct'], '%', 0)}{waited(r)}",
        )
    if steps:
        passing = [r["targetRate"] for r in steps if step_ok(r)]
        best = max(passing) if passing else None
        results["summary"]["rate50"] = best
        target, status = verdict("rate50", best)
        best_row = next((r for r in steps if r.get("targetRate") == best), None)
        delivered = f" ({fmt(best_row['deliveredPerSecond'], ' msgs/s', 0)} delivered)" if best_row else ""
        row("50 editors: highest rate with p99<100 ms", f"{fmt(best, ' upd/s')}{delivered}", target, status)
    measured_steps = [r for r in steps if "error" not in r and r.get("serverCpuS")]
    if measured_steps:
        # Contention-free estimate: what one core delivers per CPU-second, at the busiest step measured.
        busiest = max(measured_steps, key=lambda r: r["targetRate"])
        per_cpu_s = busiest["received"] / busiest["serverCpuS"]
        estimate = per_cpu_s / (busiest["editors"] - 1)
        results["summary"]["rate50_cpu_estimate"] = round(estimate)
        _, status = verdict("rate50", estimate)
        row(
            "50 editors: CPU-bound ceiling (1 core, estimate)",
            f"~{estimate:,.0f} upd/s = {per_cpu_s:,.0f} msgs per server CPU-second "
            f"(@{busiest['targetRate']:,} upd/s step)",
            "≥1,500 updates/s",
            f"est. {status}",
        )
    many = results.get("many")
    if many and "error" not in many:
        label = f"{many['rooms']:,} docs x 2 editors, 1 upd/s each"
        target, status = verdict("docs_delivered", delivered_pct(many))
        row(
            f"{label}: delivered",
            f"{fmt(delivered_pct(many), '%', 3)}  ({many['received']:,} of {many['expected']:,})",
            target,
            status,
        )
        target, status = verdict("docs_p99", many["p99Ms"])
        row(
            f"{label}: latency",
            f"p50 {fmt(many['p50Ms'], ' ms', 2)}  p99 {fmt(many['p99Ms'], ' ms', 2)}  "
            f"(server CPU {fmt(many['serverCpuPct'], '%', 0)}){waited(many)}",
            target,
            status,
        )
    elif many:
        row("1,000 docs x 2 editors", "error: " + many["error"][:60])
    cpu = results.get("cpu")
    if cpu and "error" not in cpu:
        per_thousand = cpu["serverCpuS"] * 1000 / cpu["sent"] if cpu["sent"] else None
        row("server CPU per 1,000 updates to 10 clients", f"{fmt(per_thousand, ' s', 3)}{waited(cpu)}")
        target, status = verdict("cpu_per_msg", cpu["serverMsPerDelivered"])
        row("server CPU per delivered message", fmt(cpu["serverMsPerDelivered"], " ms", 4), target, status)
    conn = results.get("connections")
    if conn and "error" not in conn:
        target, status = verdict("kb_per_conn", conn["kbPerConnection"])
        row(
            f"memory per idle connection ({conn['connect']['opened']:,} open)",
            f"{fmt(conn['kbPerConnection'], ' KB', 1)}  (RSS {conn['rssBeforeKb'] // 1024} -> "
            f"{conn['rssAfterKb'] // 1024} MiB)",
            target,
            status,
        )
        if conn["connect"].get("serverCpuS"):
            per_cpu_s = conn["connect"]["opened"] / conn["connect"]["serverCpuS"]
            results["summary"]["conn_per_cpu_s"] = round(per_cpu_s)
            _, status = verdict("conn_rate", per_cpu_s)
            row(
                "connections + sync per server CPU-second",
                f"{per_cpu_s:,.0f}/s  (CPU-bound ceiling on 1 core, estimate)",
                "≥1,000 connections/s",
                f"est. {status}",
            )
        target, status = verdict("conn_rate", conn["connect"]["perSecond"])
        row(
            "connections + sync per second",
            f"{fmt(conn['connect']['perSecond'], '/s', 0)}  (sync p50 {fmt(conn['connect']['syncP50Ms'], ' ms')}, "
            f"p99 {fmt(conn['connect']['syncP99Ms'], ' ms')}){waited(conn['connect'])}",
            target,
            status,
        )
    apply = results.get("apply")
    if apply:
        row(
            f"safe apply, {apply['updates']:,} keystroke updates in-process",
            f"room path {fmt(apply['roomUs'], ' us')} vs bare yrs apply {fmt(apply['bareUs'], ' us')} per update "
            f"({fmt(apply['ratio'], 'x')})",
        )
    big = results.get("big")
    if big:
        info = big["document"]
        runs = [r for r in big["runs"] if "error" not in r]
        cold = statistics.median(r["firstMs"] for r in runs) if runs else None
        warm = runs[0]["warmP50Ms"] if runs else None
        provider = runs[0]["providerP50Ms"] if runs else None
        results["summary"].update(cold_sync=cold, warm_sync=warm)
        row(
            f"{info['updates']:,}-update doc ({info['storedBytes'] / 1024:,.0f} KB in {info['segments']} segments)",
            f"{info['paragraphs']:,} paragraphs, {info['characters'] / 1024:,.0f} KB of XML",
        )
        target, status = verdict("cold_sync", cold)
        row(
            "  loaded from storage (cold room): connect->synced",
            f"{fmt(cold, ' ms')} median of {len(runs)} restarts {[r['firstMs'] for r in runs]}",
            target,
            status,
        )
        target, status = verdict("warm_sync", warm)
        row("  served, room loaded: connect->synced (raw)", f"{fmt(warm, ' ms')} p50", target, status)
        row("  served, room loaded: WebsocketProvider 'sync'", f"{fmt(provider, ' ms')} p50 (incl. Yjs apply)")
    widths = [max(len(r[i]) for r in [("figure", "measured", "target", ""), *rows]) for i in range(4)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(("figure", "measured", "target", ""), widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


# -- profile ---------------------------------------------------------------------------------------------------------
# Where a sample's time goes: the deepest frame on its stack whose file matches one of these (checked in order).
PROFILE_LAYERS = (
    ("pycrdt (Yjs apply, encode, merge)", ("pycrdt/",)),
    ("channels session/auth middleware", ("channels/sessions.py", "channels/auth.py", "channels/middleware.py")),
    ("documents.conf.get_config", ("documents/conf.py",)),
    ("Django ORM + SQLite", ("django/db/", "sqlite3/")),
    ("asgiref sync_to_async / thread hops", ("asgiref/",)),
    ("autobahn WebSocket framing", ("autobahn/", "txaio/")),
    ("daphne ASGI glue", ("daphne/",)),
    ("twisted transport (socket I/O)", ("twisted/",)),
    ("documents (rooms, consumer, protocol, store)", ("documents/",)),
    ("channels routing/consumer", ("channels/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
)


def _frame_key(frame: str) -> tuple[str, str]:
    """``name (path:line)`` -> (``name (path)``, path)."""
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path})", path


def summarise_profile(raw: Path, top: int = 25) -> str:
    """Per-thread, per-layer, self and inclusive shares of py-spy's raw (collapsed stacks, --threads) output."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[0].startswith("thread "):
            threads[frames[0].split(": ", 1)[-1]] += count
            frames = frames[1:]
        if not frames:
            continue
        total += count
        keys = [_frame_key(frame) for frame in frames]
        self_counts[keys[-1][0]] += count
        for key in {k for k, _ in keys}:
            incl_counts[key] += count
        layer = "other"
        for _, path in reversed(keys):
            match = next((label for label, parts in PROFILE_LAYERS if any(p in path for p in parts)), None)
            if match:
                layer = match
                break
        layers[layer] += count
    if not total:
        return "no samples"

    def pct(count: int) -> str:
        return f"{100 * count / total:5.1f}%"

    out = [f"{total} samples (CPU only: idle waits are not sampled)", "", "by thread:"]
    out += [f"  {pct(c)}  {name}" for name, c in threads.most_common()]
    out += ["", "by layer (the deepest frame on the stack that belongs to a known layer):"]
    out += [f"  {pct(c)}  {name}" for name, c in layers.most_common()]
    out += ["", "self time (the function itself is running):"]
    out += [f"  {pct(c)}  {f}" for f, c in self_counts.most_common(top)]
    out += ["", "inclusive time (the function is on the stack), below the event loop's own frames:"]
    skip = ("runpy", "daphne/__main__", "daphne/cli.py", "daphne/server.py (Server.run", "run_forever", "_run_once")
    incl = [(f, c) for f, c in incl_counts.most_common() if not any(s in f for s in skip)]
    out += [f"  {pct(c)}  {f}" for f, c in incl[: top + 15]]
    return "\n".join(out)


def profile_load(kind: str, tokens: list[str], docs: dict[str, list[str]], rate: int, seconds: int) -> dict[str, Any]:
    """The loadgen config that keeps the server busy for the whole py-spy window (plus a few seconds around it)."""
    if kind == "fanout50":
        room = {"id": docs["fanout50"][0], "clients": 50, "senders": 50}
        return fanout_config([room], tokens, rate, warmupS=2, durationS=seconds + 3, drainTimeoutS=20)
    if kind == "many":
        rooms = [{"id": doc, "clients": 2, "senders": 2} for doc in docs["many"]]
        return fanout_config(
            rooms, tokens, 2 * len(rooms), warmupS=2, durationS=seconds + 3, concurrency=64, hardTimeoutS=240
        )
    if kind == "connections":
        return {
            "scenario": "connections",
            "rooms": docs["connections"],
            "tokens": tokens,
            "count": 5000,
            "concurrency": 64,
            "holdS": 1,
            "hardTimeoutS": 240,
        }
    raise SystemExit(f"unknown profile load {kind!r}")


def run_profile(server: Server, work: Path, config: dict[str, Any], seconds: int, lead_s: float, out: Path) -> str:
    """Run ``config`` through the loadgen and record the server with py-spy for ``seconds`` after ``lead_s``."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install -r bench/requirements.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".txt")
    config_path = work / "profile-loadgen.json"
    config_path.write_text(
        json.dumps({"url": server.ws_url, "serverPid": server.pid, "clkTck": os.sysconf("SC_CLK_TCK"), **config})
    )
    gen = subprocess.Popen(
        pinned(CLIENT_CORE, ["node", str(BENCH / "loadgen.mjs"), str(config_path)]),
        cwd=BENCH,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=raise_fd_limit,
    )
    assert gen.stderr is not None
    marker = b'"connecting"' if config["scenario"] == "connections" else b'"connected"'
    for line in gen.stderr:  # the loadgen reports its progress (and ends by itself if it cannot go on)
        if marker in line:
            break
    time.sleep(lead_s)
    # --threads: one root frame per thread, so the event loop and the store's writer thread are told apart.
    spy = [py_spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "200", "--nonblocking"]
    subprocess.run(pinned(CLIENT_CORE, [*spy, "--threads", "--format", "raw", "--output", str(raw)]), check=True)
    stdout, _ = gen.communicate(timeout=300)
    lines = stdout.decode(errors="replace").strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    if config["scenario"] == "fanout":
        load = (
            f"load: {result.get('editors')} editors in {result.get('rooms')} rooms, {result.get('sentRate')} updates/s"
            f" sent, p50 {result.get('p50Ms')} ms, p99 {result.get('p99Ms')} ms, "
            f"{result.get('deliveredPerSecond')} msgs/s delivered, server CPU {result.get('serverCpuPct')}%"
        )
    else:
        load = f"load: {json.dumps(result)[:400]}"
    return f"{load}\nraw stacks: {raw}\n\n{summarise_profile(raw)}"


# -- main ------------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter steps (for a smoke run)")
    parser.add_argument(
        "--only", default="apply,fanout,rates,many,cpu,connections,big", help="comma separated scenarios to run"
    )
    parser.add_argument("--connections", type=int, default=5000, help="idle connections to open (default 5,000)")
    parser.add_argument("--documents", type=int, default=1000, help="documents in the many-documents figure")
    parser.add_argument("--big-updates", type=int, default=100_000, help="updates of the large document")
    parser.add_argument("--restarts", type=int, default=3, help="cold loads of the large document")
    parser.add_argument("--json", type=Path, help="also write every result as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="fanout50",
        choices=("fanout50", "many", "connections"),
        help="instead of the figures, profile the server with py-spy under one load (default: 50 editors)",
    )
    parser.add_argument("--profile-rate", type=int, default=1000)
    parser.add_argument("--profile-seconds", type=int, default=20)
    parser.add_argument("--profile-out", type=Path, default=None, help="where py-spy writes (default: temp dir)")
    args = parser.parse_args()
    only = set(args.only.split(","))

    if not shutil.which("node"):
        raise SystemExit("bench needs Node.js (the load generator); install node and npm")
    raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})  # keep this orchestrator off the server's core
    ensure_node_modules()
    work = Path(tempfile.mkdtemp(prefix="collab-bench-"))
    env = server_env(work / "bench.sqlite3")
    server = Server(env, work)
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "summary": {}, "work": str(work), "loadavgStart": loadavg()}
    try:
        log(f"work directory {work}")
        prepare_database(env)
        tokens = create_users()
        if args.profile:
            docs = {
                "fanout50": create_documents(1, "profile"),
                "many": create_documents(args.documents, "many") if args.profile == "many" else [],
                "connections": create_documents(100, "idle") if args.profile == "connections" else [],
            }
            server.start()
            config = profile_load(args.profile, tokens, docs, args.profile_rate, args.profile_seconds)
            lead = {"fanout50": 2.5, "many": 2.5, "connections": 0.0}[args.profile]
            out = args.profile_out or work / f"profile-{args.profile}"
            print(run_profile(server, work, config, args.profile_seconds, lead, out))
            return 0
        fanout_docs = create_documents(4, "fanout")
        rate_docs = create_documents(6, "rate")
        many_docs = create_documents(args.documents, "many")
        cpu_doc = create_documents(1, "cpu")[0]
        conn_docs = create_documents(100, "idle")
        big_doc, warmup_doc = create_documents(2, "big")
        server.start()
        log(f"server pid {server.pid} on port {server.port}; RSS {server.rss_kb() // 1024} MiB")
        if "apply" in only:
            from bench.apply_cost import measure

            results["apply"] = measure()
        from bench import metrics_sample

        scenarios = {
            "fanout": lambda: bench_fanout(server, work, tokens, fanout_docs, args.quick),
            "rates": lambda: bench_rate_steps(server, work, tokens, rate_docs, args.quick),
            "many": lambda: bench_many_documents(server, work, tokens, many_docs, args.quick),
            "cpu": lambda: bench_cpu(server, work, tokens, cpu_doc, args.quick),
            "connections": lambda: bench_connections(server, work, tokens, conn_docs, args.connections),
        }
        scraped: list[str] = []  # what the server's own /metrics said over each scenario
        for name, run in scenarios.items():
            if name in only:
                before = metrics_sample.scrape(server.port)
                results[name] = run()
                scraped.append(metrics_sample.describe(name, before, metrics_sample.scrape(server.port)))
        if "big" in only:
            results["big"] = bench_big_document(
                server, work, tokens, big_doc, warmup_doc, args.restarts, args.big_updates
            )
        table = report(results)
        m = results["machine"]
        print()
        print(f"machine: {m['nproc']} x {m['cpu']}, {m['ramGiB']} GiB RAM; Python {m['python']}, Node {m['node']}, ")
        print(f"pycrdt {m['pycrdt']}, daphne {m['daphne']}; server on core {SERVER_CORE}, load on core {CLIENT_CORE}")
        print(f"load average at start {results['loadavgStart']}, at end {loadavg()} (shared machine)")
        print(table)
        if scraped:
            print("\nthe server's /metrics over each scenario:\n" + "\n".join(scraped))
        print(f"\ntotal bench time {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        server.stop()
        if args.keep or args.profile:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
