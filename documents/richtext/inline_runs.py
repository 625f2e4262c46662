"""Inline content as runs of equally marked text, rendered with properly nested marks (Markdown and HTML exports).

Marks in ProseMirror are a set per character, while Markdown and HTML need properly nested elements; no library
does this conversion for Python. Marks already open stay open; marks that open together nest longest-reaching
first, ties broken by the table's order (``schema.MARK_ORDER``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from documents.richtext import schema
from documents.richtext.model import Inline, Mark, Node

Run = tuple[str | None, tuple[Mark, ...]]  # text and its marks; a line break is (None, ())


def runs_of(content: Sequence[Inline]) -> list[Run]:
    """Merge inline content into (text, marks) runs; a hard break is a (None, ()) run."""
    runs: list[Run] = []
    for item in content:
        if isinstance(item, Node):
            if schema.is_break(item.type):
                runs.append((None, ()))
            continue
        marks = tuple(sorted((n, tuple(sorted(a.items()))) for n, a in item.marks.items() if n in schema.MARK_ORDER))
        if runs and runs[-1][0] is not None and runs[-1][1] == marks:
            runs[-1] = (runs[-1][0] + item.text, marks)
        elif item.text:
            runs.append((item.text, marks))
    return runs


def _order(runs: list[Run], i: int, active: list[Mark]) -> tuple[list[Mark], int]:
    """Order run i's marks (and count those kept open): open ones keep their place, new ones open longest first."""
    marks = runs[i][1]
    kept = active[: next((k for k, m in enumerate(active) if m not in marks), len(active))]

    def reach(mark: Mark) -> int:
        """Index of the first run from i on that lacks the mark."""
        return next((j for j in range(i, len(runs)) if mark not in runs[j][1]), len(runs))

    new = sorted((m for m in marks if m not in kept), key=lambda m: (-reach(m), schema.MARK_ORDER.index(m[0])))
    return kept + new, len(kept)


def render_runs(runs: list, opener: Callable, closer: Callable, text: Callable, brk: str) -> str:
    """Render runs, opening and closing marks as a properly nested stack."""
    out: list[str] = []
    active: list[Mark] = []
    for i, (chunk, _marks) in enumerate(runs):
        wanted, keep = _order(runs, i, active)
        out.extend(closer(m) for m in reversed(active[keep:]))
        out.extend(opener(m) for m in wanted[keep:])
        active = wanted
        out.append(brk if chunk is None else text(chunk, dict(wanted)))
    out.extend(closer(m) for m in reversed(active))
    return "".join(out)
