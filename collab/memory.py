"""Hand the memory the process has freed back to the operating system every so often (glibc's ``malloc_trim``).

A long-running server frees about as much as it allocates, but glibc keeps freed blocks inside its heaps for reuse
rather than returning them, and the heaps of the process's threads (the event loop's, the store's writer, the
database thread) fragment: resident memory then climbs in steps of a megabyte or two under a steady load although
the objects alive stay level (the soak run in docs/performance.md). ``malloc_trim(0)`` releases every whole free page
of every heap. It is one C library call, which no Python library wraps, so it is called here through ``ctypes``;
elsewhere than glibc (musl, macOS) it does not exist and nothing is started.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("collab.memory")


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def start_trimming(interval: float) -> threading.Thread | None:
    """Trim every ``interval`` seconds on a daemon thread (None when ``interval`` is 0 or libc has no trim).

    A thread rather than an event-loop timer: the call runs without the interpreter lock (``ctypes`` releases it),
    so it never stops the loop, and it needs no loop to exist yet when the application is built.
    """
    trim = _malloc_trim()
    if interval <= 0 or trim is None:
        return None

    def run() -> None:
        while True:
            time.sleep(interval)
            started = time.perf_counter()
            released = trim(0)
            logger.debug(
                "malloc_trim: %s in %.1f ms",
                "released" if released else "nothing to release",
                (time.perf_counter() - started) * 1000,
            )

    thread = threading.Thread(target=run, name="malloc-trim", daemon=True)
    thread.start()
    return thread
