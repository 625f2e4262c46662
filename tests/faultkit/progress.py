"""Progress lines of the fault tests, visible under ``pytest -s``."""

from __future__ import annotations

import time


def log(message: str) -> None:
    """A progress line, visible under ``pytest -s``."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)
