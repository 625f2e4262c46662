"""The bench's targets, in one place: each one a ratio of the project's figure to the reference server's.

The performance plan measures the project against ``@y/websocket-server`` on the same machine, core and load rather
than against absolute numbers, which say more about the machine than about the server. A ratio is always
project / reference; whether higher or lower is better depends on the figure (a rate, or a time, memory or CPU).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    higher_is_better: bool
    ratio: float  # the bound on project / reference: at least this when higher is better, at most this otherwise

    def label(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.ratio:g}x"

    def met(self, ratio: float | None) -> bool:
        if ratio is None:
            return False
        return ratio >= self.ratio if self.higher_is_better else ratio <= self.ratio


TARGETS: dict[str, Target] = {
    # highest total update rate with p99 <= 100 ms (MAX_RATE_P99_MS) in one document
    "rate2": Target(higher_is_better=True, ratio=1.0),
    "rate10": Target(higher_is_better=True, ratio=1.0),
    "rate50": Target(higher_is_better=True, ratio=2.0),
    "rate200": Target(higher_is_better=True, ratio=2.0),
    # one client pushing 100,000 small updates: updates/s until the server has them all
    "ingest": Target(higher_is_better=True, ratio=1.0),
    # 1,000 documents x 2 editors at 1 update/s each
    "docs_p99": Target(higher_is_better=False, ratio=1.0),
    "docs_connect": Target(higher_is_better=False, ratio=1.5),  # connect + sync of all 2,000 clients
    # 5,000 idle connections
    "conn_rate": Target(higher_is_better=True, ratio=1.0),
    "kb_per_conn": Target(higher_is_better=False, ratio=1.2),
    # server CPU per delivered message, 1 sender and 10 receivers
    "cpu_per_msg": Target(higher_is_better=False, ratio=0.8),
}

# What a rate step must meet to count as sustained.
MAX_RATE_P99_MS = 100.0
MAX_RATE_DELIVERED_PCT = 99.99


def ratio(project: float | None, reference: float | None) -> float | None:
    if project is None or reference is None or reference == 0:
        return None
    return project / reference


def describe_ratio(value: float | None, higher_is_better: bool) -> str:
    """``2.38x ahead (higher is better)``: the ratio, and whether it puts the project ahead of the reference."""
    if value is None:
        return "n/a"
    better = "higher" if higher_is_better else "lower"
    if abs(value - 1) < 0.005:
        return f"{value:.2f}x even ({better} is better)"
    ahead = value > 1 if higher_is_better else value < 1
    return f"{value:.2f}x {'ahead' if ahead else 'behind'} ({better} is better)"


def verdict(key: str, value: float | None) -> tuple[str, str]:
    """The target's label and PASS/MISS for a ratio."""
    target = TARGETS[key]
    return target.label(), "PASS" if target.met(value) else "MISS"
