"""``manage.py compact_documents (ID ... | --all)``: fold each document's update log into a fresh snapshot.

Rooms compact a document when its log passes a threshold and when they unload, so this is for documents whose log
grew while compaction failed, or to shrink the database at once (deleted content is dropped from the snapshot).
It is safe while servers run: the storage backend's compaction is one transaction that locks the document's row
(SQLite: one IMMEDIATE transaction) and deletes only the log rows it folded, and a server's appends take the same
row lock before they commit, so an update appended meanwhile is either folded or stays in the log. A live room's
document in memory is not touched; only how its rows are split changes.
"""

from __future__ import annotations

import uuid
from argparse import ArgumentParser
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from documents.engine.storage import StorageBackend, get_backend
from documents.management.commands._selection import add_selection_arguments, select_documents


@dataclass(frozen=True)
class RowCount:
    """How many stored rows a document has (snapshot segments plus log entries) and their bytes."""

    segments: int
    log: int
    bytes: int

    @property
    def rows(self) -> int:
        return self.segments + self.log

    def __str__(self) -> str:
        return f"{self.rows} rows ({self.segments} snapshot + {self.log} log), {self.bytes} bytes"


def row_count(backend: StorageBackend, document_id: uuid.UUID) -> RowCount:
    """The document's stored rows as they are now."""
    rows, stats = backend.read(document_id)
    return RowCount(len(rows.segments), stats.count, sum(map(len, rows.segments)) + stats.bytes)


class Command(BaseCommand):
    """Compact the selected documents' stored rows and report their rows and bytes before and after."""

    help = (
        "Compact each given document (or every one with --all): fold its update log into a fresh snapshot, "
        "dropping deleted content, and report its stored rows and bytes before and after. Safe while servers "
        "run: each compaction is one database transaction, and updates appended meanwhile stay in the log "
        "(they can make the 'after' figures larger than the compaction alone would). Updates still waiting "
        "for a missing dependency stay in the log as they are. Exits with status 1 if a document fails to compact."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser, "compact")

    def handle(self, *args: Any, ids: list[str], every: bool, **options: Any) -> None:
        documents = select_documents(ids, every)
        # The backend itself, on this thread: a command has no event loop, and DocumentStore.compact only runs
        # this same call on the store's writer thread.
        backend = get_backend()
        compacted = unchanged = 0
        total_before = total_after = 0
        failed: list[str] = []
        for document_id in documents.values_list("pk", flat=True).iterator():
            before = row_count(backend, document_id)
            try:
                folded = backend.compact(document_id).folded
            except Exception as exc:  # the transaction rolled back: the rows are as they were
                self.stderr.write(f"FAIL {document_id}: {type(exc).__name__}: {exc}")
                failed.append(str(document_id))
                continue
            after = row_count(backend, document_id)
            total_before += before.bytes
            total_after += after.bytes
            if folded:
                compacted += 1
                self.stdout.write(f"{document_id}: {before} -> {after}")
            else:
                unchanged += 1
                self.stdout.write(f"{document_id}: nothing to fold, {after}")
        self.stdout.write(
            f"compacted {compacted} documents, {unchanged} had nothing to fold; "
            f"{total_before} bytes before, {total_after} after"
        )
        if failed:
            raise CommandError(f"{len(failed)} documents failed to compact: {', '.join(failed)}", returncode=1)
