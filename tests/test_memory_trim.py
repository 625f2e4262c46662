"""Freed memory goes back to the operating system: glibc keeps it in its heaps until ``collab/memory.py`` trims them.

Each case runs in a fresh interpreter, so its resident memory is its own: it fills a heap with 4 KB blocks (below
glibc's mmap threshold, so they come from the heap), frees all but one in 64 (so the heap cannot shrink from its
top), checks that ``free`` alone kept the memory resident, then starts the trimming thread and waits, with a
deadline, for the memory to come back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collab.memory import start_trimming

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT_AND_TRIM = """
import json, os, sys, time
from collab.memory import start_trimming

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

baseline = rss_mib()
blocks = [bytearray(4000) for _ in range(50_000)]  # about 200 MB, every page written
filled = rss_mib()
kept = blocks[::64]
del blocks
freed = rss_mib()
thread = start_trimming(float(sys.argv[1]))
deadline = time.monotonic() + float(sys.argv[2])
while rss_mib() > freed - 100 and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"baseline": baseline, "filled": filled, "freed": freed, "after": rss_mib(),
                  "started": thread is not None, "kept": len(kept)}))
"""


def run_case(interval: float, wait_s: float) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", FRAGMENT_AND_TRIM, str(interval), str(wait_s)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads resident memory from /proc (Linux)")
def test_memory_freed_inside_the_heap_goes_back_within_the_interval() -> None:
    figures = run_case(0.2, wait_s=10)
    assert figures["started"]
    assert figures["filled"] - figures["baseline"] > 150, figures
    # free() alone keeps it: the pages sit between live blocks, inside the heap
    assert figures["freed"] > figures["filled"] - 50, figures
    assert figures["after"] < figures["freed"] - 100, figures


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads resident memory from /proc (Linux)")
def test_with_trimming_off_freed_memory_stays_resident() -> None:
    """The control: ``COLLAB_MALLOC_TRIM_SECONDS=0`` starts nothing, and the memory stays (the case above waited
    for the trim, not for something else to give the memory back)."""
    figures = run_case(0, wait_s=1)
    assert not figures["started"]
    assert figures["after"] > figures["freed"] - 50, figures


def test_no_interval_no_thread() -> None:
    assert start_trimming(0) is None
