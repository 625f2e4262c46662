"""The engine's instrument seam: what it reports about its work, for a feature to count (Prometheus metrics today).

The engine imports no feature, so it cannot import a metrics library either. It calls the methods of
``current``, a ``Telemetry`` whose methods do nothing; a feature installs a subclass that counts (documents/metrics.py,
from ``DocumentsConfig.ready()``). Call sites read ``telemetry.current`` at each call, never keep it, so what is
installed later takes effect at once.

The calls sit on the hot path (every message, every update, every broadcast), so they take only scalars and
constant strings: no dict or tuple is built per message, and a subclass resolves its label values once.
"""

from __future__ import annotations

# Message kinds of the y-websocket protocol, as the engine names them in ``message_in``/``message_out``/``fanout``.
SYNC_STEP1 = "sync_step1"
SYNC_STEP2 = "sync_step2"
UPDATE = "update"
AWARENESS = "awareness"
QUERY_AWARENESS = "query_awareness"
MESSAGE_KINDS = (SYNC_STEP1, SYNC_STEP2, UPDATE, AWARENESS, QUERY_AWARENESS)

# Why a WebSocket handshake was refused (``auth_refused``).
NO_CREDENTIAL = "no_credential"  # neither a token nor a logged-in session
BAD_TOKEN = "bad_token"  # a token was offered that names no active user
FORBIDDEN_ORIGIN = "forbidden_origin"  # a cross-site Origin, or a cookie-authenticated handshake without one
NO_ACCESS = "no_access"  # authenticated, but no role on the document (or no such document)
AUTH_REFUSAL_REASONS = (NO_CREDENTIAL, BAD_TOKEN, FORBIDDEN_ORIGIN, NO_ACCESS)

# Why an update from a client was not applied (``update_refused``): the close code's name in lower case, or this
# for updates a read-only connection sent (dropped without closing it).
READ_ONLY = "read_only"


class Telemetry:
    """What the engine reports; every method does nothing here. Sizes are in bytes, durations in seconds."""

    def message_in(self, kind: str, nbytes: int) -> None:
        """A room received one message of ``kind`` from a local connection."""

    def message_out(self, kind: str, nbytes: int) -> None:
        """A room sent one message of ``kind`` to one connection (greetings and answers to sync requests)."""

    def fanout(self, kind: str, nbytes: int, recipients: int, seconds: float) -> None:
        """A room broadcast one message of ``kind`` to ``recipients`` local connections in ``seconds``."""

    def update_applied(self, seconds: float) -> None:
        """An edit made in this process (a client's or server code's) was integrated, or held for a missing
        dependency, after ``seconds`` of checks and integration."""

    def update_refused(self, reason: str) -> None:
        """A client's update was refused (``reason``: the close code's name, or ``READ_ONLY``)."""

    def flush(self, seconds: float, updates: int, nbytes: int) -> None:
        """The store committed a batch of ``updates`` (``nbytes`` in all) in ``seconds``."""

    def store_failure(self) -> None:
        """A store write failed; its batch stays buffered and is retried."""

    def compaction(self) -> None:
        """The store folded a document's log into its snapshot."""

    def publish(self) -> None:
        """A message went to the channel layer (to the replicas of a room in other processes)."""

    def publish_failure(self) -> None:
        """Publishing to the channel layer failed (peers catch up by state-vector repair)."""

    def repair(self) -> None:
        """This process sent a replica the part of a document it lacked, after comparing state vectors."""

    def auth_refused(self, reason: str) -> None:
        """A WebSocket handshake was refused (``reason``: one of ``AUTH_REFUSAL_REASONS``)."""


# What the engine calls: does nothing until a feature installs its own.
current = Telemetry()


def install(telemetry: Telemetry) -> Telemetry:
    """Make ``telemetry`` the process's instruments; returns the one it replaces."""
    global current
    previous, current = current, telemetry
    return previous
