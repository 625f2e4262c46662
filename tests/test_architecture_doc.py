"""docs/architecture.md's module table lists every module of the service (it is the map a newcomer reads first)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed_modules() -> set[str]:
    """Every module named in the table's first column, group rows (`a.py`, `b.py`) expanded."""
    listed: set[str] = set()
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        names = re.findall(r"`([^`]+\.py)`", first)
        folder = ""
        for name in names:
            if "/" in name:
                folder = name.rsplit("/", 1)[0]
                listed.add(name)
            else:
                listed.add(f"{folder}/{name}")
    return listed


def test_every_module_is_in_the_architecture_table() -> None:
    modules = {
        str(path.relative_to(ROOT))
        for package in ("collab", "documents")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }
    assert sorted(modules - listed_modules()) == []
    assert sorted(listed_modules() - modules) == []  # and nothing that no longer exists
