"""Waiting for an observable event with a deadline, instead of sleeping and hoping things settled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import requests


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0, every: float = 0.005) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


async def until_value(
    probe: Callable[[], Awaitable[Any]], accept: Callable[[Any], bool], what: str, timeout: float = 10.0
) -> Any:
    """Await ``probe()`` every 50 ms until ``accept`` takes its value, and return that value; fail after
    ``timeout`` seconds with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last saw {value!r}")
        await asyncio.sleep(0.05)


async def server_text(http_url: str, document_id: Any, token: str) -> str:
    """The document's plain text as the server's REST API gives it (from its live room while one is open)."""

    def get() -> str:
        response = requests.get(
            f"{http_url}/api/documents/{document_id}/", headers={"Authorization": f"Token {token}"}, timeout=10
        )
        response.raise_for_status()
        return str(response.json()["text"])

    return await asyncio.to_thread(get)


async def until_server_text(http_url: str, document_id: Any, token: str, expected: str, timeout: float = 10.0) -> None:
    """Wait until the server holds ``expected`` as the document's text (it received and applied the edits)."""
    await until_value(
        lambda: server_text(http_url, document_id, token),
        lambda text: text == expected,
        f"the server's text of {document_id} to be {expected!r}",
        timeout,
    )
