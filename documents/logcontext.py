"""Which document, connection and user a log line concerns, carried by context variables onto every record.

The WebSocket consumer binds the three when a socket connects; every line logged while it handles that socket (its
own, the room's, the store's, a hook's) then carries ``document_id``, ``connection_id`` and ``user_id``, which the
JSON log format (``LOG_FORMAT=json``) writes as fields. A line about another document or connection than the bound
one passes its own with ``extra=fields(...)``; explicit values win over the bound ones.

A binding belongs to the task that made it. asyncio copies the context into every task it creates, so the
process-wide tasks a connection's handler happens to start (the store's flusher, the registry's housekeeping, the
revocation listener, the channel-layer reader) would otherwise carry that first connection's ids for as long as
they run; the filter ignores a binding made in another task, and such tasks bind their own (``bind`` or
``bound``). Outside any task (a thread the context was copied into, such as ``sync_to_async``'s, or a loop
callback) the binding applies: the context was handed on on purpose.

This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any

FIELDS = ("document_id", "connection_id", "user_id")


@dataclass(frozen=True)
class Binding:
    """The ids bound in one task.

    Attributes:
        owner: the task that bound them (None: bound outside any task). Held weakly: the binding lives in the
            task's own context, and a strong reference would make task and context a cycle that only the cyclic
            collector frees (with the connection's objects the task still refers to).
        document_id: the document's id, as text.
        connection_id: the connection's id (``ws12``).
        user_id: the user's primary key (None for an anonymous handshake).
    """

    owner: weakref.ReferenceType[asyncio.Task[Any]] | None
    document_id: str | None = None
    connection_id: str | None = None
    user_id: int | None = None


_binding: ContextVar[Binding | None] = ContextVar("collab_log_binding", default=None)
_UNSET: Any = object()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop runs in this thread
        return None


def _owner_ref() -> weakref.ReferenceType[asyncio.Task[Any]] | None:
    task = _current_task()
    return None if task is None else weakref.ref(task)


def _visible() -> Binding | None:
    """The binding that applies here: none if it was made by another task than the running one."""
    binding = _binding.get()
    if binding is None:
        return None
    task = _current_task()
    if task is not None and (binding.owner is None or binding.owner() is not task):
        return None
    return binding


def current() -> dict[str, Any]:
    """The ids that apply to a line logged here (each None when unbound)."""
    binding = _visible()
    return {name: getattr(binding, name) if binding is not None else None for name in FIELDS}


def bind(document_id: Any = _UNSET, connection_id: Any = _UNSET, user_id: Any = _UNSET) -> Token[Binding | None]:
    """Bind ids for the rest of the running task (and what it hands the context to); ids not given stay as this
    task bound them, or unset. Returns the token that ``reset`` takes.
    """
    given = {
        name: value
        for name, value in zip(FIELDS, (document_id, connection_id, user_id), strict=True)
        if value is not _UNSET
    }
    if given.get("document_id") is not None:
        given["document_id"] = str(given["document_id"])  # a UUID: written as text in every format
    owner = _owner_ref()
    base = _visible() or Binding(owner=owner)
    return _binding.set(replace(base, owner=owner, **given))


def reset(token: Token[Binding | None]) -> None:
    """Undo a ``bind`` (in the same context it was made in)."""
    _binding.reset(token)


@contextlib.contextmanager
def bound(document_id: Any = _UNSET, connection_id: Any = _UNSET, user_id: Any = _UNSET) -> Iterator[None]:
    """Bind ids for the lines logged inside the block, then restore what was bound before."""
    token = bind(document_id, connection_id, user_id)
    try:
        yield
    finally:
        reset(token)


def fields(document_id: Any = None, connection_id: str | None = None, user_id: int | None = None) -> dict[str, Any]:
    """``extra=`` for a line about another document or connection than the bound one; ids not given keep the
    bound values."""
    given = {"document_id": document_id, "connection_id": connection_id, "user_id": user_id}
    if document_id is not None:
        given["document_id"] = str(document_id)
    return {name: value for name, value in given.items() if value is not None}


class ContextFilter(logging.Filter):
    """Copies the bound ids onto every record that does not carry its own (``extra=``); None where unbound.

    Installed on the handlers (collab/settings.py ``LOGGING``), so records of every logger get the fields.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        bound_now = current()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, bound_now[name])
        return True
