"""The bench's report: one table ``figure | project | reference | ratio | target | status``, and the rate steps.

Every figure is measured on both servers; the ratio is project / reference and says whether that puts the project
ahead or behind; the targets (bench/targets.py) are ratios. The absolute figures stay in the table as the record.
"""

from __future__ import annotations

import statistics
from itertools import zip_longest
from typing import Any

from scenarios import delivered_pct, loadgen_bound, step_ok
from targets import TARGETS, describe_ratio, ratio, verdict

Row = tuple[str, str, str, str, str, str]
HEADER: Row = ("figure", "project", "reference", "ratio (project / reference)", "target", "")


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def lost(result: dict[str, Any]) -> str:
    """The share delivered, when not everything was (the step or scenario then cannot pass)."""
    pct = delivered_pct(result)
    return "" if pct is not None and pct >= 100 else f", {fmt(pct, '%', 3)} delivered"


def waited(result: dict[str, Any]) -> str:
    """How long the server waited for a CPU taken by other processes (the machine is shared), when notable."""
    wait = result.get("serverRunqueueWaitPct")
    return f" [waited for CPU {wait:.0f}%]" if wait is not None and wait >= 5 else ""


class Table:
    """Rows of both servers' figures; ``compare`` adds one with its ratio, target and status."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.rows: list[Row] = []
        self.summary = summary

    def row(self, figure: str, project: str, reference: str = "", ratio_text: str = "", target: str = "") -> None:
        self.rows.append((figure, project, reference, ratio_text, target, ""))

    def compare(
        self,
        figure: str,
        values: tuple[float | None, float | None],
        texts: tuple[str, str],
        key: str | None = None,
        higher_is_better: bool = False,
    ) -> None:
        """A figure of both servers; ``key`` names its target (whose direction then applies)."""
        value = ratio(*values)
        target = status = ""
        if key:
            higher_is_better = TARGETS[key].higher_is_better
            target, status = verdict(key, value)
            self.summary[key] = {"project": values[0], "reference": values[1], "ratio": value, "status": status}
        self.rows.append((figure, *texts, describe_ratio(value, higher_is_better), target, status))

    def render(self) -> str:
        widths = [max(len(r[i]) for r in [HEADER, *self.rows]) for i in range(len(HEADER))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in self.rows]
        return "\n".join(lines)


def _get(results: dict[str, Any], side: str, name: str) -> Any:
    return results.get(side, {}).get(name)


def _error(result: Any) -> str | None:
    if result is None:
        return "not run"
    if isinstance(result, dict) and "error" in result:
        return "error: " + result["error"][:60]
    return None


def _fanout(table: Table, results: dict[str, Any]) -> None:
    pairs = zip_longest(_get(results, "project", "fanout") or [], _get(results, "reference", "fanout") or [])
    for project, reference in pairs:
        texts = tuple(
            _error(r) or f"p99 {fmt(r['p99Ms'], ' ms', 2)} (p50 {fmt(r['p50Ms'], ' ms', 2)}{lost(r)}){waited(r)}"
            for r in (project, reference)
        )
        values = tuple(None if _error(r) else r["p99Ms"] for r in (project, reference))
        editors = (project or reference).get("editors", "?")
        table.compare(f"fan-out, 1 doc, {editors} editors, 100 upd/s: p99", values, texts)


def _rate_text(series: dict[str, Any]) -> str:
    best = series["best"]
    if best is None:
        return f"none passed (lowest step {series['steps'][0]['targetRate']:,})" if series["steps"] else "n/a"
    step = next(s for s in series["steps"] if s.get("targetRate") == best)
    bound = "; next step load-generator bound" if series["loadgenBound"] else "; the cap" if series["capped"] else ""
    at_least = "≥ " if bound else ""
    return f"{at_least}{best:,} upd/s (p99 {fmt(step['p99Ms'], ' ms')}{bound})"


def _rates(table: Table, results: dict[str, Any]) -> None:
    project_all = _get(results, "project", "rates") or {}
    for editors, project in project_all.items():
        reference = (_get(results, "reference", "rates") or {}).get(editors)
        values = tuple(None if _error(s) else s["best"] for s in (project, reference))
        texts = tuple(_error(s) or _rate_text(s) for s in (project, reference))
        key = f"rate{editors}" if f"rate{editors}" in TARGETS else None
        table.compare(f"{editors} editors, 1 doc: highest rate, p99 ≤ 100 ms", values, texts, key, True)


def _many(table: Table, results: dict[str, Any]) -> None:
    project, reference = _get(results, "project", "many"), _get(results, "reference", "many")
    if project is None:
        return
    label = f"{project.get('rooms', 0):,} docs x 2 editors, 1 upd/s each"
    texts = tuple(
        _error(r)
        or f"p99 {fmt(r['p99Ms'], ' ms', 1)} (p50 {fmt(r['p50Ms'], ' ms', 2)}, CPU {fmt(r['serverCpuPct'], '%', 0)}"
        f"{lost(r)}){waited(r)}"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["p99Ms"] for r in (project, reference))
    table.compare(f"{label}: p99", values, texts, "docs_p99")
    texts = tuple(
        _error(r) or f"{fmt(r['connect']['seconds'], ' s', 2)} (sync p99 {fmt(r['connect']['syncP99Ms'], ' ms', 0)})"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["connect"]["seconds"] for r in (project, reference))
    table.compare(f"{label}: connect + sync of all clients", values, texts, "docs_connect")


def _cpu(table: Table, results: dict[str, Any]) -> None:
    project, reference = _get(results, "project", "cpu"), _get(results, "reference", "cpu")
    if project is None:
        return
    texts = tuple(
        _error(r)
        or f"{fmt(r['serverMsPerDelivered'], ' ms', 4)} ({fmt(r['serverCpuS'] * 1000 / r['sent'], ' s', 3)}"
        f" per 1,000 updates){waited(r)}"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["serverMsPerDelivered"] for r in (project, reference))
    table.compare("server CPU per delivered message (1 sender, 10 receivers)", values, texts, "cpu_per_msg")


def _connections(table: Table, results: dict[str, Any]) -> None:
    project, reference = _get(results, "project", "connections"), _get(results, "reference", "connections")
    if project is None:
        return
    opened = project.get("connect", {}).get("opened", 0)
    texts = tuple(
        _error(r)
        or f"{fmt(r['connect']['perSecond'], '/s', 0)} (sync p99 {fmt(r['connect']['syncP99Ms'], ' ms', 0)}; "
        f"{fmt(r['connect']['opened'] / r['connect']['serverCpuS'], '', 0)} per CPU-s){waited(r['connect'])}"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["connect"]["perSecond"] for r in (project, reference))
    table.compare(f"connections + sync per second ({opened:,}, 64 in flight)", values, texts, "conn_rate")
    texts = tuple(
        _error(r)
        or f"{fmt(r['kbPerConnection'], ' KB')} (RSS {r['rssBeforeKb'] // 1024} -> {r['rssAfterKb'] // 1024} MiB)"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["kbPerConnection"] for r in (project, reference))
    table.compare("memory per idle connection", values, texts, "kb_per_conn")


def _ingest(table: Table, results: dict[str, Any]) -> None:
    project, reference = _get(results, "project", "ingest"), _get(results, "reference", "ingest")
    if project is None:
        return
    texts = tuple(
        _error(r)
        or f"{fmt(r['updatesPerSecond'], ' upd/s', 0)} ({fmt(r['doneMs'] / 1000, ' s', 2)}; "
        f"{fmt(r['serverUsPerUpdate'], ' us', 1)} CPU/update){waited(r)}"
        for r in (project, reference)
    )
    values = tuple(None if _error(r) else r["updatesPerSecond"] for r in (project, reference))
    count = project.get("updates", 0)
    table.compare(f"one client pushing {count:,} updates: ingested/s", values, texts, "ingest")


def _big(table: Table, results: dict[str, Any]) -> None:
    project, reference = _get(results, "project", "big"), _get(results, "reference", "big")
    if project is None:
        return
    info = project["document"]
    table.row(
        f"{info['updates']:,}-update doc ({info['storedBytes'] / 1024:,.0f} KB stored in {info['segments']} segments)",
        f"{info['paragraphs']:,} paragraphs, {info['characters'] / 1024:,.0f} KB of XML",
    )
    runs = [[r for r in (b or {}).get("runs", []) if "error" not in r] for b in (project, reference)]
    cold = statistics.median(r["firstMs"] for r in runs[0]) if runs[0] else None
    preloaded = runs[1][0]["preloaded"] if runs[1] else None
    pushed = (
        f"{fmt(preloaded['updatesPerSecond'], ' upd/s', 0)} ({fmt(preloaded['answeredMs'] / 1000, ' s', 1)})"
        if preloaded
        else _error(reference) or "n/a"
    )
    table.row(
        "  project: loaded from storage (cold room); reference: pushed in by one client",
        f"{fmt(cold, ' ms')} median of {len(runs[0])} restarts {[r['firstMs'] for r in runs[0]]}",
        pushed,
    )
    # The first run of each: the one with warm raw clients and providers (the project's room is loaded by then).
    first = [side[0] if side else None for side in runs]
    values = tuple(r["warmP50Ms"] if r else None for r in first)
    texts = tuple(f"{fmt(r['warmP50Ms'], ' ms')} p50 ({r['firstBytes'] / 1024:,.0f} KB)" if r else "n/a" for r in first)
    table.compare("  served, room loaded: raw client, connect -> SyncStep2", values, texts)
    values = tuple(r["providerP50Ms"] if r else None for r in first)
    texts = tuple(f"{fmt(r['providerP50Ms'], ' ms')} p50" if r else "n/a" for r in first)
    table.compare("  served, room loaded: WebsocketProvider 'sync'", values, texts)


NOTES = """
How the reference was measured: @y/websocket-server's own src/server.js, pinned to the same core, in memory (no
YPERSISTENCE), Yjs GC on, no authentication (it ignores ?token=); a fresh process for each scenario (it never
unloads a room; the project's rooms have unloaded between scenarios), same loadgen, same documents (rooms named by
the id). It also sends each update back to its sender: senders drop that echo, so it is CPU the reference spends
but not a delivery. Its rate searches start where the project's ended. Its 100,000-update document is pushed in by
one client (it has no storage), so it has no cold load; its CPU is read from /proc/<pid>/stat like the project's.
A rate marked "≥ ... load-generator bound" is a lower bound: at the next step the load generator used >= 90 % of
its core, sent < 95 % of the rate asked, or its own event loop ran > 50 ms late (p99)."""


def report(results: dict[str, Any]) -> str:
    """The table of every figure measured, then each rate search's steps."""
    table = Table(results.setdefault("summary", {}))
    apply = _get(results, "project", "apply")
    if apply:
        table.row(
            f"safe apply, {apply['updates']:,} keystroke updates in-process",
            f"{fmt(apply['roomUs'], ' us')} vs bare yrs {fmt(apply['bareUs'], ' us')} ({fmt(apply['ratio'], 'x')})",
            "(project only)",
        )
    for part in (_fanout, _rates, _many, _cpu, _connections, _ingest, _big):
        part(table, results)
    return table.render() + "\n" + NOTES + "\n" + rate_steps(results)


def rate_steps(results: dict[str, Any]) -> str:
    """Every step of every rate search, and the CPU-bound ceiling each server's busiest passing step implies."""
    lines = []
    for side in ("project", "reference"):
        for editors, series in (_get(results, side, "rates") or {}).items():
            if _error(series):
                continue
            lines.append(f"\n{side}, {editors} editors (best {fmt(series['best'], ' upd/s')}):")
            for r in series["steps"]:
                if "error" in r:
                    lines.append(f"  {r['targetRate']:>6,} upd/s: error: {r['error'][:100]}")
                    continue
                lines.append(
                    f"  {r['targetRate']:>6,} upd/s (sent {fmt(r['sentRate'], '', 0)}): p50 {fmt(r['p50Ms'], ' ms')}"
                    f"  p99 {fmt(r['p99Ms'], ' ms')}  {fmt(r['deliveredPerSecond'], ' msgs/s', 0)}"
                    f"  {fmt(delivered_pct(r), '%', 2)}  server CPU {fmt(r['serverCpuPct'], '%', 0)}"
                    f"  loadgen CPU {fmt(r['loadgenCpuPct'], '%', 0)} lag p99 {fmt(r.get('loadgenLagP99Ms'), ' ms')}"
                    f"{'  ABORTED' if r['aborted'] else ''}{'  LOADGEN-BOUND' if loadgen_bound(r) else ''}"
                    f"{'  pass' if step_ok(r) else '  miss'}{waited(r)}"
                )
            passing = [r for r in series["steps"] if step_ok(r) and r.get("serverCpuS")]
            if passing:
                # Contention-free estimate: updates one core takes per CPU-second at the busiest passing step.
                busiest = max(passing, key=lambda r: r["targetRate"])
                ceiling = busiest["received"] / busiest["serverCpuS"] / max(1, busiest["editors"] - 1)
                series["cpuCeiling"] = round(ceiling)
                lines.append(f"  CPU-bound ceiling of one core (estimate): ~{ceiling:,.0f} upd/s")
    return "\nrate steps:" + "\n".join(lines) if lines else ""
