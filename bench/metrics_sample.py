"""What the server's own ``/metrics`` said while each bench scenario ran: the counters' growth, the histograms'
means over the scenario, the gauges at its end.

The bench's figures are measured from outside; this shows that the figures an operator scrapes follow the same
load (and catches a metric that stops moving). Read with prometheus-client's own parser.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# The counters and histograms worth a line per scenario, and the gauges read at its end.
COUNTERS = (
    "collab_messages_received_total",
    "collab_messages_sent_total",
    "collab_updates_applied_total",
    "collab_updates_refused_total",
    "collab_compactions_total",
)
HISTOGRAMS = ("collab_update_apply_seconds", "collab_fanout_seconds", "collab_store_flush_seconds")
GAUGES = ("collab_connections", "collab_rooms", "collab_store_buffered_bytes")

Sample = dict[str, float]


def scrape(port: int) -> Sample:
    """Every sample of the server's /metrics, summed over labels, by sample name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: Sample = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def describe(scenario: str, before: Sample, after: Sample) -> str:
    """One line: counters' growth, histograms' mean over the scenario, gauges at its end."""
    grown = [f"{name.removeprefix('collab_')} +{after.get(name, 0) - before.get(name, 0):,.0f}" for name in COUNTERS]
    means = []
    for name in HISTOGRAMS:
        count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
        total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
        means.append(f"{name.removeprefix('collab_')} mean {1e6 * total / count:,.0f} us" if count else f"{name} -")
    gauges = [f"{name.removeprefix('collab_')} {after.get(name, 0):,.0f}" for name in GAUGES]
    return f"  {scenario:<12} " + ", ".join(grown + means + gauges)
