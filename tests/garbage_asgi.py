"""The service's ASGI application with the cyclic collector off and a census of connection objects.

For tests/test_connection_garbage.py: ``GET /_test/garbage`` counts the watched objects that are alive, then runs
the collector and counts the watched objects it found unreachable (kept in cycles, so never freed by reference
counting), and the functions it found so (a nested function that calls itself is a cycle of its own, whatever
creates it: Django's compiler makes one for every query that joins a related model). Never used outside the tests.
"""

from __future__ import annotations

import gc
import inspect
import json
from collections import Counter
from typing import Any

from collab.asgi import application as service

WATCHED = frozenset(
    {
        "daphne.ws_protocol.WebSocketProtocol",
        "daphne.http_protocol.WebRequest",
        "twisted.web.http.HTTPChannel",
        "twisted.internet.tcp.Server",
        "twisted.internet.defer.Deferred",
        "_asyncio.Task",
        "documents.logcontext.Binding",
        "django.contrib.auth.models.User",
        "rest_framework.authtoken.models.Token",
    }
)

gc.disable()  # only the census collects: whatever is unreachable stays until it is counted


def _name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _garbage_name(obj: object) -> str:
    if inspect.isfunction(obj):
        return f"function {obj.__module__}.{obj.__qualname__}"
    return _name(obj)


def census() -> dict[str, dict[str, int]]:
    live = Counter(name for name in map(_name, gc.get_objects()) if name in WATCHED)
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        garbage = Counter(
            name for name in map(_garbage_name, gc.garbage) if name in WATCHED or name.startswith("function ")
        )
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
    gc.collect()
    return {"live": dict(live), "garbage": dict(garbage)}


async def application(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/_test/garbage":
        body = json.dumps(census()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await service(scope, receive, send)
