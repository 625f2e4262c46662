"""Whether PostgreSQL, Redis, Node and Chromium are here; tests that need an absent one skip, or fail under CI.

``.ci/run`` sets ``COLLAB_REQUIRE_SERVICES=1``: there, a missing service is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require(available: bool, reason: str) -> None:
    """Skip the test with ``reason`` when ``available`` is false, or fail under ``COLLAB_REQUIRE_SERVICES=1``."""
    if available:
        return
    if os.environ.get("COLLAB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def redis_url() -> str:
    """The Redis URL tests use, after checking Redis answers."""
    require(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


def node_available() -> bool:
    return shutil.which("node") is not None
