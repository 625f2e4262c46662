"""Tunables of the collaboration engine: their one home, with their defaults, ranges and how they are read.

Each field of ``CollabConfig`` is set by the environment variable ``COLLAB_<NAME>`` (``from_environment``, called
by the settings module into ``settings.COLLAB``); tests override ``settings.COLLAB``. A value not of its field's
form stops the start; each field's ``Range`` (``range_of``) is checked by the system checks of
``documents/checks.py``, with the relations between fields, so ``manage.py check`` names a value out of place
whichever way it was set. docs/configuration.md lists them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class Range:
    """The values a tunable may take: bounds that make sense for it, checked by ``documents/checks.py``.

    Attributes:
        at_least: the smallest value allowed, or None.
        more_than: a value it must be strictly above (zero intervals and rates stall or spin), or None.
        at_most: the largest value allowed, or None.
    """

    at_least: float | None = None
    more_than: float | None = None
    at_most: float | None = None

    def allows(self, value: float) -> bool:
        """Whether ``value`` is inside the range (NaN never is)."""
        if math.isnan(value):
            return False
        return not (
            (self.at_least is not None and value < self.at_least)
            or (self.more_than is not None and value <= self.more_than)
            or (self.at_most is not None and value > self.at_most)
        )

    def __str__(self) -> str:
        parts = [
            *([f"at least {self.at_least:g}"] if self.at_least is not None else []),
            *([f"more than {self.more_than:g}"] if self.more_than is not None else []),
            *([f"at most {self.at_most:g}"] if self.at_most is not None else []),
        ]
        return " and ".join(parts) or "any value"


POSITIVE = Range(more_than=0)  # a duration or rate: 0 would make a loop spin or a bucket never refill
AT_LEAST_ONE = Range(at_least=1)  # a count or size: 0 would refuse everything
NOT_NEGATIVE = Range(at_least=0)  # a grace period or allowance, where 0 means "none"


def _tunable(default: Any, allowed: Range | None) -> Any:
    """A field with its default and its range (``range_of``); None for text."""
    return field(default=default, metadata={"range": allowed})


@dataclass(frozen=True)
class CollabConfig:
    """Every knob the room, the store and the consumer read; documented in docs/configuration.md."""

    FLUSH_INTERVAL: float = _tunable(1.0, POSITIVE)  # seconds between group commits of the update log
    MAX_MESSAGE_BYTES: int = _tunable(1024 * 1024, AT_LEAST_ONE)  # largest WebSocket message the application accepts
    MAX_DOCUMENT_BYTES: int = _tunable(16 * 1024 * 1024, AT_LEAST_ONE)  # size cap of a document's Yjs state
    COMPACT_LOG_COUNT: int = _tunable(500, AT_LEAST_ONE)  # compact when the log holds this many updates...
    COMPACT_LOG_BYTES: int = _tunable(1024 * 1024, AT_LEAST_ONE)  # ...or this many bytes
    # ...but while it is open, a document waits past COMPACT_LOG_COUNT until its log is this share of its snapshot:
    # each compaction rebuilds the whole document, so a fixed count made a large, busy document's cost quadratic
    COMPACT_LOG_SHARE: float = _tunable(0.25, NOT_NEGATIVE)
    # Largest stored snapshot segment (and sync chunk sent to a client); at most MAX_MESSAGE_BYTES (checks.py)
    SEGMENT_BYTES: int = _tunable(512 * 1024, AT_LEAST_ONE)
    ROOM_GRACE_SECONDS: float = _tunable(2.0, NOT_NEGATIVE)  # how long an empty room stays loaded
    RATE_UPDATES_PER_SECOND: float = _tunable(200.0, POSITIVE)  # token bucket of document updates per connection
    RATE_UPDATES_BURST: float = _tunable(1000.0, AT_LEAST_ONE)  # below 1 a bucket never holds one message
    RATE_AWARENESS_PER_SECOND: float = _tunable(100.0, POSITIVE)  # token bucket of awareness entries per connection
    RATE_AWARENESS_BURST: float = _tunable(500.0, AT_LEAST_ONE)
    # SyncStep1 and query-awareness requests per connection (each costs a state)
    RATE_SYNC_PER_SECOND: float = _tunable(2.0, POSITIVE)
    RATE_SYNC_BURST: float = _tunable(10.0, AT_LEAST_ONE)
    # Entries an awareness message may carry beyond the states the room knows (a joining client's own is one)
    MAX_AWARENESS_NEW_ENTRIES: int = _tunable(4, AT_LEAST_ONE)
    MAX_AWARENESS_STATE_BYTES: int = _tunable(4096, AT_LEAST_ONE)  # one client's presence state
    MAX_AWARENESS_JSON_DEPTH: int = _tunable(16, AT_LEAST_ONE)  # nesting of a presence state's JSON
    # How far one message may move a known client's awareness clock (clients step it by 1)
    AWARENESS_CLOCK_STEP: int = _tunable(10_000, AT_LEAST_ONE)
    # A client id stays its user's this long after the connection leaves
    AWARENESS_RELEASE_SECONDS: float = _tunable(30.0, NOT_NEGATIVE)
    # Unsent bytes a connection may hold for OUTBOUND_GRACE_SECONDS
    MAX_OUTBOUND_BYTES: int = _tunable(4 * 1024 * 1024, AT_LEAST_ONE)
    OUTBOUND_GRACE_SECONDS: float = _tunable(10.0, NOT_NEGATIVE)
    # Closes for bad input within the window after which a user's handshakes are refused (0 would refuse them all)
    BAD_INPUT_CLOSES: int = _tunable(5, AT_LEAST_ONE)
    BAD_INPUT_WINDOW_SECONDS: float = _tunable(60.0, NOT_NEGATIVE)
    # How often room replicas in other processes compare state vectors
    REPLICA_CHECK_SECONDS: float = _tunable(10.0, POSITIVE)
    # How often open sockets are re-checked (credential, account, role); docs/security.md promises a minute at most
    REVALIDATE_SECONDS: float = _tunable(60.0, Range(more_than=0, at_most=60))
    # How often the process hands the memory it freed back to the operating system (glibc's malloc_trim; 0: never)
    MALLOC_TRIM_SECONDS: float = _tunable(60.0, NOT_NEGATIVE)
    # At most one automatic version per this many minutes of activity
    AUTO_VERSION_MINUTES: float = _tunable(10.0, POSITIVE)
    MAX_IMPORT_BYTES: int = _tunable(2 * 1024 * 1024, AT_LEAST_ONE)  # largest Markdown/HTML import
    # Deepest nesting of shared types (elements in elements) a document may reach
    MAX_NESTING_DEPTH: int = _tunable(256, AT_LEAST_ONE)
    # Most items (structs) and deletion ranges one update may carry
    MAX_UPDATE_STRUCTS: int = _tunable(100_000, AT_LEAST_ONE)
    # Per room: updates held while they wait for a missing dependency (0: none are held)
    MAX_PENDING_BYTES: int = _tunable(1024 * 1024, NOT_NEGATIVE)
    # Unwritten updates held per document before writers wait; at least MAX_MESSAGE_BYTES (checks.py)
    STORE_BUFFER_DOCUMENT_BYTES: int = _tunable(8 * 1024 * 1024, AT_LEAST_ONE)
    # Unwritten updates held by the process before writers wait; at least STORE_BUFFER_DOCUMENT_BYTES
    STORE_BUFFER_BYTES: int = _tunable(64 * 1024 * 1024, AT_LEAST_ONE)
    # Longest pause between attempts to write after a failure (0 would retry without pause)
    STORE_RETRY_MAX_SECONDS: float = _tunable(5.0, POSITIVE)
    # A graceful stop waits this long for the database before spilling to disk
    SHUTDOWN_WAIT_SECONDS: float = _tunable(10.0, NOT_NEGATIVE)
    # Dotted path of the storage backend class (checks.py imports it)
    STORE_BACKEND: str = _tunable("documents.engine.storage.DjangoStorage", None)
    # Where a stop that cannot reach the database writes what it holds ("": BASE_DIR/var/spill)
    SPILL_DIR: str = _tunable("", None)
    # Largest image file an upload may carry (the request itself may add IMAGE_UPLOAD_ENVELOPE_BYTES)
    IMAGE_MAX_BYTES: int = _tunable(10 * 1024 * 1024, AT_LEAST_ONE)
    # Most pixels (width x height) an image may declare; a few bytes can declare gigapixels (a decompression bomb).
    # Decoding costs up to 4 bytes a pixel. Pillow refuses past about 179 megapixels whatever this says.
    IMAGE_MAX_PIXELS: int = _tunable(40_000_000, AT_LEAST_ONE)
    # The image types accepted, a comma list of IMAGE_FORMATS' keys (checks.py)
    IMAGE_TYPES: str = _tunable("png,jpeg,gif,webp", None)
    # Where image files go: "filesystem" (MEDIA_ROOT) or "s3"; read once, at start (collab/settings.py)
    IMAGE_STORAGE: str = _tunable("filesystem", None)


# The image types the server can verify and re-encode, by the name COLLAB_IMAGE_TYPES uses: Pillow's format name and
# the content type. SVG is not among them: it is a document that can carry script.
IMAGE_FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "gif": ("GIF", "image/gif"),
    "webp": ("WEBP", "image/webp"),
}
# What a multipart request may carry besides the image file: boundaries, part headers, the alt text.
IMAGE_UPLOAD_ENVELOPE_BYTES = 64 * 1024
IMAGE_STORAGES = ("filesystem", "s3")


def image_types(raw: str) -> list[str]:
    """The entries of a ``COLLAB_IMAGE_TYPES`` value, lower case, blanks dropped (checked against ``IMAGE_FORMATS``)."""
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def range_of(item: Field[Any]) -> Range | None:
    """The range a field of ``CollabConfig`` may take (None: text, any value)."""
    allowed: Range | None = item.metadata.get("range")
    return allowed


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
            if kind is float and not math.isfinite(values[item.name]):
                raise ValueError(raw)  # inf and nan parse, but no knob means them
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
