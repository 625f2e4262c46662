"""Tunables of the collaboration engine: their one home, with their defaults and how they are read.

Each field of ``CollabConfig`` is set by the environment variable ``COLLAB_<NAME>`` (``from_environment``, called
by the settings module into ``settings.COLLAB``); tests override ``settings.COLLAB``. docs/configuration.md lists
them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class CollabConfig:
    """Every knob the room, the store and the consumer read; documented in docs/configuration.md."""

    FLUSH_INTERVAL: float = 1.0  # seconds between group commits of the update log
    MAX_MESSAGE_BYTES: int = 1024 * 1024  # largest WebSocket message the application accepts
    MAX_DOCUMENT_BYTES: int = 16 * 1024 * 1024  # size cap of a document's Yjs state
    COMPACT_LOG_COUNT: int = 500  # compact when the log holds this many updates...
    COMPACT_LOG_BYTES: int = 1024 * 1024  # ...or this many bytes
    SEGMENT_BYTES: int = 512 * 1024  # largest stored snapshot segment (and sync chunk sent to a client)
    ROOM_GRACE_SECONDS: float = 2.0  # how long an empty room stays loaded
    RATE_UPDATES_PER_SECOND: float = 200.0  # token bucket of document updates per connection
    RATE_UPDATES_BURST: float = 1000.0
    RATE_AWARENESS_PER_SECOND: float = 100.0  # token bucket of awareness entries per connection
    RATE_AWARENESS_BURST: float = 500.0
    RATE_SYNC_PER_SECOND: float = 2.0  # SyncStep1 and query-awareness requests per connection (each costs a state)
    RATE_SYNC_BURST: float = 10.0
    MAX_AWARENESS_NEW_ENTRIES: int = 4  # entries an awareness message may carry beyond the states the room knows
    MAX_AWARENESS_STATE_BYTES: int = 4096  # one client's presence state
    MAX_AWARENESS_JSON_DEPTH: int = 16  # nesting of a presence state's JSON
    AWARENESS_CLOCK_STEP: int = 10_000  # how far one message may move a known client's awareness clock
    AWARENESS_RELEASE_SECONDS: float = 30.0  # a client id stays its user's this long after the connection leaves
    MAX_OUTBOUND_BYTES: int = 4 * 1024 * 1024  # unsent bytes a connection may hold for OUTBOUND_GRACE_SECONDS
    OUTBOUND_GRACE_SECONDS: float = 10.0
    BAD_INPUT_CLOSES: int = 5  # closes for bad input within the window after which a user's handshakes are refused
    BAD_INPUT_WINDOW_SECONDS: float = 60.0
    REPLICA_CHECK_SECONDS: float = 10.0  # how often room replicas in other processes compare state vectors
    REVALIDATE_SECONDS: float = 60.0  # how often open sockets are re-checked (credential, account, role)
    AUTO_VERSION_MINUTES: float = 10.0  # at most one automatic version per this many minutes of activity
    MAX_IMPORT_BYTES: int = 2 * 1024 * 1024  # largest Markdown/HTML import
    MAX_NESTING_DEPTH: int = 256  # deepest nesting of shared types (elements in elements) a document may reach
    MAX_UPDATE_STRUCTS: int = 100_000  # most items (structs) and deletion ranges one update may carry
    MAX_PENDING_BYTES: int = 1024 * 1024  # per room: updates held while they wait for a missing dependency
    STORE_BUFFER_DOCUMENT_BYTES: int = 8 * 1024 * 1024  # unwritten updates held per document before writers wait
    STORE_BUFFER_BYTES: int = 64 * 1024 * 1024  # unwritten updates held by the process before writers wait
    STORE_RETRY_MAX_SECONDS: float = 5.0  # longest pause between attempts to write after a failure
    SHUTDOWN_WAIT_SECONDS: float = 10.0  # a graceful stop waits this long for the database before spilling to disk
    STORE_BACKEND: str = "documents.engine.storage.DjangoStorage"  # dotted path of the storage backend class
    SPILL_DIR: str = ""  # where a stop that cannot reach the database writes what it holds ("": BASE_DIR/var/spill)


ENV_PREFIX = "COLLAB_"
_FORMS = {int: "a whole number (for example 500)", float: "a number (for example 1.5)", str: "text"}


def _integer(raw: str) -> int:
    """A whole number, also written as a float (``1e6``, ``262144.0``); ValueError for a fraction."""
    try:
        return int(raw)
    except ValueError:
        value = float(raw)
        if not value.is_integer():
            raise
        return int(value)


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``COLLAB_*`` variables set in ``environ``, parsed to their fields' types (for ``settings.COLLAB``).

    Raises:
        ImproperlyConfigured: a value is not of its field's form; the message names the variable and the form.
    """
    values: dict[str, Any] = {}
    for item in fields(CollabConfig):
        raw = environ.get(ENV_PREFIX + item.name, "").strip()
        if not raw:
            continue
        kind: type[Any] = type(item.default)
        try:
            values[item.name] = _integer(raw) if kind is int else kind(raw)
        except ValueError:
            raise ImproperlyConfigured(
                f"{ENV_PREFIX}{item.name} must be {_FORMS[kind]}, not {raw!r} (default {item.default!r})"
            ) from None
    return values


@functools.cache
def get_config() -> CollabConfig:
    """The configuration in force, from ``settings.COLLAB``; cached (it is read on every message)."""
    overrides = getattr(settings, "COLLAB", {}) or {}
    known = {f.name for f in fields(CollabConfig)}
    return CollabConfig(**{key: value for key, value in overrides.items() if key in known})


@receiver(setting_changed)
def _forget_config(setting: str, **kwargs: object) -> None:
    """Tests that override ``COLLAB`` see their values."""
    if setting == "COLLAB":
        get_config.cache_clear()
