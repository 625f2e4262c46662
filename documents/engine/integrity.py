"""Checking the stored half of the integrity invariant: the rows of a document load, whole, within the limits.

For every document, what its stored rows build (by the rooms' own rule) must be what a joining client receives
(the Doc's encoded state applied to an empty Doc) and must fit the limits a room enforces on ingest. A document
that holds updates still waiting for a dependency, or rows from before the strict reader, is reported too: both
are kept, and both are worth an operator's look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc

from documents.conf import get_config
from documents.engine.live_doc import load_doc
from documents.engine.protocol import read_state_vector
from documents.engine.store import DocumentStore
from documents.engine.updates import max_type_depth


@dataclass
class DocumentReport:
    """What checking one document found; ``ok`` when nothing is wrong (held updates are only a warning)."""

    document_id: Any
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    state_bytes: int = 0
    depth: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_document(store: DocumentStore, document_id: Any) -> DocumentReport:
    """Load the document's stored rows and check them against the invariant and the limits."""
    report = DocumentReport(document_id)
    try:
        rows = store.read_sync(document_id)
        live = load_doc(rows.segments, rows.log)
    except Exception as exc:  # any failure to load is the finding
        report.problems.append(f"does not load: {type(exc).__name__}: {exc}")
        return report
    state = live.doc.get_update()
    report.state_bytes = len(state)
    joiner: Doc[Any] = Doc()
    joiner.apply_update(state)
    if read_state_vector(joiner.get_state()) != live.state or _text(joiner) != _text(live.doc):
        report.problems.append("a joining client would not receive what the stored rows hold")
    config = get_config()
    if report.state_bytes > config.MAX_DOCUMENT_BYTES:
        report.problems.append(f"state is {report.state_bytes} bytes, over the {config.MAX_DOCUMENT_BYTES} cap")
    report.depth = max_type_depth(live.doc)
    if report.depth > config.MAX_NESTING_DEPTH:
        report.problems.append(f"nests {report.depth} deep, over the limit of {config.MAX_NESTING_DEPTH}")
    if live.held:
        report.warnings.append(f"{len(live.held)} updates ({live.held_bytes} bytes) wait for a missing dependency")
    if live.unreadable:
        report.warnings.append(f"{live.unreadable} stored rows predate the strict reader")
    return report


def _text(doc: Doc) -> str:
    """Every root type rendered, so two Docs with the same content render the same."""
    return "\n".join(f"{name}={value}" for name, value in sorted(doc.items()))
