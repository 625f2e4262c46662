"""Prometheus metrics of this process: the engine's telemetry counted with prometheus-client.

``install()`` (called from ``DocumentsConfig.ready()``) replaces the engine's do-nothing instruments
(documents/engine/telemetry.py) with ``PrometheusTelemetry``; ``exposition()`` renders the process's registry in the
text format for ``/metrics`` (documents/web/health.py guards it). Each daphne process counts for itself and is
scraped on its own port: no shared state, no multiprocess mode.

The instruments of every message (traffic by kind, apply and fan-out times) are plain counts and lock-free
histograms, turned into metric families at scrape time; those of rarer events are prometheus-client's, their label
children resolved once at start. Levels rather than events -- open connections and rooms, bytes the store holds --
are read from the registry and the store when a scrape asks, instead of being counted up and down.
docs/monitoring.md lists every metric.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from documents.engine import telemetry
from documents.engine.registry import loaded_registry
from documents.engine.store import loaded_store

# Applying one update or fanning it out takes tens of microseconds; a slow one, milliseconds.
FAST_SECONDS_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
# A group commit takes milliseconds, seconds while the database struggles (SQLite's busy timeout is 5 s).
FLUSH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_UPDATES_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)
BATCH_BYTES_BUCKETS = tuple(float(4**power * 64) for power in range(11))  # 64 B to 64 MiB
BROADCAST_KINDS = (telemetry.UPDATE, telemetry.AWARENESS)
# The close-code names an update can be refused with (others appear when they happen).
REFUSAL_REASONS = ("invalid_payload", "policy_violation", "message_too_big", "try_again_later", telemetry.READ_ONLY)


class LoopHistogram:
    """A histogram without a lock, for instruments called on every message.

    Rooms run on the event loop's thread only, so their instruments are never updated concurrently; a
    prometheus-client ``Histogram`` takes a lock for its bucket and one for its sum, and an observation costs about
    six times as much (1.7 against 0.3 microseconds here). A scrape reads the counts as they are (under daphne it
    runs on that same thread).
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def count(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts by upper bound, as the text format wants them."""
        cumulative = list(accumulate(self.counts))
        return [
            (floatToGoString(bound), count) for bound, count in zip((*self.bounds, math.inf), cumulative, strict=True)
        ]


class PrometheusTelemetry(telemetry.Telemetry):
    """The engine's instruments for Prometheus: per-message ones in plain fields (read by ``collect``), the rest
    as prometheus-client counters and histograms in ``registry``.

    Attributes:
        received, sent: per message kind, ``[messages, bytes]`` (a broadcast adds one message per recipient).
        fanout_seconds: per broadcast kind (update, awareness), how long writing to every recipient took.
        apply_seconds: how long checking and integrating each edit took; its count is the edits applied.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = {kind: [0, 0] for kind in telemetry.MESSAGE_KINDS}
        self.sent = {kind: [0, 0] for kind in telemetry.MESSAGE_KINDS}
        self.fanout_seconds = {kind: LoopHistogram(FAST_SECONDS_BUCKETS) for kind in BROADCAST_KINDS}
        self.apply_seconds = LoopHistogram(FAST_SECONDS_BUCKETS)
        registry.register(self)

        def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, documentation, buckets=buckets, registry=registry)

        self._refused = counter("collab_updates_refused", "Client updates refused, by close code name.", ("reason",))
        self._refused_by = {reason: self._refused.labels(reason) for reason in REFUSAL_REASONS}
        self._flush_seconds = histogram(
            "collab_store_flush_seconds", "Time of one successful group commit.", FLUSH_SECONDS_BUCKETS
        )
        self._flush_updates = histogram(
            "collab_store_flush_batch_updates", "Updates written by one group commit.", BATCH_UPDATES_BUCKETS
        )
        self._flush_bytes = histogram(
            "collab_store_flush_batch_bytes", "Bytes of updates written by one group commit.", BATCH_BYTES_BUCKETS
        )
        self._store_failures = counter("collab_store_failures", "Failed store writes (each batch is retried).")
        self._compactions = counter("collab_compactions", "Documents whose log the store folded into the snapshot.")
        self._publishes = counter("collab_channel_layer_publishes", "Messages published to the channel layer.")
        self._publish_failures = counter(
            "collab_channel_layer_publish_failures", "Messages the channel layer did not take."
        )
        self._repairs = counter(
            "collab_replica_repairs", "Missing parts of a document sent to another replica after comparing states."
        )
        self._auth = counter("collab_auth_refusals", "WebSocket handshakes refused, by reason.", ("reason",))
        self._auth_by = {reason: self._auth.labels(reason) for reason in telemetry.AUTH_REFUSAL_REASONS}

    # -- per message: plain fields ----------------------------------------------------------------------------------
    def message_in(self, kind: str, nbytes: int) -> None:
        tally = self.received[kind]
        tally[0] += 1
        tally[1] += nbytes

    def message_out(self, kind: str, nbytes: int) -> None:
        tally = self.sent[kind]
        tally[0] += 1
        tally[1] += nbytes

    def fanout(self, kind: str, nbytes: int, recipients: int, seconds: float) -> None:
        tally = self.sent[kind]
        tally[0] += recipients
        tally[1] += nbytes * recipients
        self.fanout_seconds[kind].observe(seconds)

    def update_applied(self, seconds: float) -> None:
        self.apply_seconds.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        """The per-message instruments as metric families (the registry calls this at each scrape)."""
        for name, documentation, tallies, field in (
            ("collab_messages_received", "Messages received from local connections.", self.received, 0),
            ("collab_received_bytes", "Bytes of messages received, by kind.", self.received, 1),
            ("collab_messages_sent", "Messages sent to local connections (one per recipient).", self.sent, 0),
            ("collab_sent_bytes", "Bytes of messages sent (per recipient), by kind.", self.sent, 1),
        ):
            traffic = CounterMetricFamily(name, documentation, labels=("kind",))
            for kind, tally in tallies.items():
                traffic.add_metric((kind,), tally[field])
            yield traffic
        applied = self.apply_seconds
        yield CounterMetricFamily(
            "collab_updates_applied", "Edits made in this process that were integrated or held.", applied.count()
        )
        apply_times = HistogramMetricFamily(
            "collab_update_apply_seconds", "Time to check and integrate one edit (before its fan-out)."
        )
        apply_times.add_metric((), applied.buckets(), applied.total)
        yield apply_times
        fanout_times = HistogramMetricFamily(
            "collab_fanout_seconds", "Time a room took to write one broadcast to all its recipients.", labels=("kind",)
        )
        for kind, histogram in self.fanout_seconds.items():
            fanout_times.add_metric((kind,), histogram.buckets(), histogram.total)
        yield fanout_times

    # -- rarer events: prometheus-client instruments --------------------------------------------------------------
    def update_refused(self, reason: str) -> None:
        child = self._refused_by.get(reason)
        (child if child is not None else self._refused.labels(reason)).inc()

    def flush(self, seconds: float, updates: int, nbytes: int) -> None:
        self._flush_seconds.observe(seconds)
        self._flush_updates.observe(updates)
        self._flush_bytes.observe(nbytes)

    def store_failure(self) -> None:
        self._store_failures.inc()

    def compaction(self) -> None:
        self._compactions.inc()

    def publish(self) -> None:
        self._publishes.inc()

    def publish_failure(self) -> None:
        self._publish_failures.inc()

    def repair(self) -> None:
        self._repairs.inc()

    def auth_refused(self, reason: str) -> None:
        child = self._auth_by.get(reason)
        (child if child is not None else self._auth.labels(reason)).inc()


class LiveStateCollector:
    """Levels read at scrape time: open rooms and connections from the registry, the store's buffer."""

    def collect(self) -> Iterator[Metric]:
        registry = loaded_registry()
        # A copy first: a scrape must not iterate the dict while the event loop changes it.
        rooms = tuple(registry.rooms.values()) if registry is not None else ()
        yield GaugeMetricFamily("collab_rooms", "Documents open in this process.", value=len(rooms))
        connections = sum(len(room.members) for room in rooms)
        yield GaugeMetricFamily("collab_connections", "WebSocket connections in its rooms.", value=connections)
        store = loaded_store()
        buffered = store.buffered_bytes if store is not None else 0
        failing = store is not None and store.failing_since is not None
        yield GaugeMetricFamily("collab_store_buffered_bytes", "Updates not yet stored, in bytes.", value=buffered)
        yield GaugeMetricFamily("collab_store_failing", "1 while store writes fail (and retry).", value=int(failing))


def new_registry() -> CollectorRegistry:
    """A registry with the process's standard collectors (CPU, memory, file descriptors, GC) and the live levels."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, LiveStateCollector()):
        registry.register(collector)
    return registry


REGISTRY = new_registry()
_installed: PrometheusTelemetry | None = None


def install() -> PrometheusTelemetry:
    """Make Prometheus the engine's instruments (once per process; later calls return the same ones)."""
    global _installed
    if _installed is None:
        _installed = PrometheusTelemetry(REGISTRY)
    telemetry.install(_installed)
    return _installed


def exposition() -> tuple[bytes, str]:
    """The process's metrics in the Prometheus text format, and that format's content type."""
    # Our names need no escaping, so the output is the classic 0.0.4 format every Prometheus version reads.
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4
