"""``bench/run.py --profile``: where the project's server spends its time under one load, sampled with py-spy.

Project only (the reference server is Node: py-spy cannot see into it). It keeps the server busy with one loadgen
scenario for the whole sampling window and summarises py-spy's raw stacks by thread, by layer, by function.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scenarios import fanout_config
from servers import BENCH, CLIENT_CORE, Server, pinned, raise_fd_limit

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
    if kind == "pair":
        room = {"id": docs["pair"][0], "clients": 2, "senders": 2}
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
