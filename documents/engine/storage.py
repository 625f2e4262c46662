"""Where documents' rows live: the storage backend interface and its implementations.

A document is stored as a compacted snapshot (size-bounded segments, the server's encoding of an integrated state)
plus an append log. A backend reads those rows, writes a batch of appended updates, compacts a document's log into
its snapshot, and appends one server-side edit within the size cap. It is synchronous: ``store.DocumentStore``
calls it on its writer thread (buffering and group-committing in front of it); the admin and room-less server edits
call it directly. ``COLLAB_STORE_BACKEND`` names the class by dotted path, as Django does for session backends.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.module_loading import import_string
from pycrdt import Doc

from documents import logcontext
from documents.conf import get_config
from documents.engine.live_doc import compact_rows, load_doc
from documents.exceptions import DocumentNotFound, DocumentTooLarge

logger = logging.getLogger("documents.engine.storage")


@dataclass
class LogStats:
    """How much a document's append log holds since its last compaction."""

    count: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Compaction:
    """What folding a document's log into its snapshot did."""

    folded: int  # log rows folded into the snapshot (0: nothing to fold, or no such document)
    snapshot_bytes: int  # the size of the snapshot segments afterwards


@dataclass
class StoredRows:
    """A document's stored rows: snapshot segments, then the log."""

    segments: list[bytes] = field(default_factory=list)
    log: list[bytes] = field(default_factory=list)

    def doc(self) -> Doc:
        """The Doc these rows hold, integrated by the rooms' rule."""
        return load_doc(self.segments, self.log).doc


class StorageBackend(Protocol):
    """What a store of document rows offers (every method runs on the calling thread)."""

    def read(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        """The document's rows and the size of its log (empty rows for an unknown document)."""
        ...

    def write_batch(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        """Append each document's updates to its log, in order, in one transaction (unknown documents skipped)."""
        ...

    def compact(self, document_id: uuid.UUID) -> Compaction:
        """Fold the document's log into its snapshot segments."""
        ...

    def append_edit(self, document_id: uuid.UUID, update: bytes) -> None:
        """Append one server-side edit, unless it would take the document past ``MAX_DOCUMENT_BYTES``.

        Raises:
            DocumentTooLarge: the document is at its size cap (nothing was written).
            DocumentNotFound: the document no longer exists.
        """
        ...

    def thread_scope(self) -> contextlib.AbstractContextManager[None]:
        """Wrap a call made on a long-lived thread (the store's writer), for per-thread resources."""
        ...


def get_backend() -> StorageBackend:
    """A backend of the configured class (``COLLAB_STORE_BACKEND``)."""
    backend_class: type[StorageBackend] = import_string(get_config().STORE_BACKEND)
    return backend_class()


class MemoryStorage:
    """Keeps documents in process memory: for tests of rooms and stores without a database.

    Attributes:
        unavailable: when set, every call raises it (an outage, for tests of the store's buffer).
    """

    def __init__(self) -> None:
        self.segments: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self.log: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self.unavailable: Exception | None = None

    def _check_available(self) -> None:
        if self.unavailable is not None:
            raise self.unavailable

    def read(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        self._check_available()
        log = list(self.log[document_id])
        return StoredRows(list(self.segments[document_id]), log), LogStats(len(log), sum(map(len, log)))

    def write_batch(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        self._check_available()
        for document_id, updates in batch.items():
            self.log[document_id].extend(updates)

    def compact(self, document_id: uuid.UUID) -> Compaction:
        self._check_available()
        folded = len(self.log[document_id])
        compacted = compact_rows(self.segments[document_id], self.log[document_id], get_config().SEGMENT_BYTES)
        self.segments[document_id] = compacted.segments
        self.log[document_id] = compacted.held
        return Compaction(folded, sum(map(len, compacted.segments)))

    def append_edit(self, document_id: uuid.UUID, update: bytes) -> None:
        self._check_available()
        size = sum(map(len, self.segments[document_id])) + sum(map(len, self.log[document_id]))
        if size + len(update) > get_config().MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"document {document_id} is at its size cap")
        self.log[document_id].append(update)

    def thread_scope(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class DjangoStorage:
    """Stores documents in the database through the ORM (``SnapshotSegment`` and ``DocumentUpdate`` rows)."""

    def read(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        from documents.models import DocumentUpdate, SnapshotSegment

        # The log is read before the segments: a compaction in between then shows its updates twice (harmless,
        # applying is idempotent) instead of not at all.
        log = DocumentUpdate.objects.filter(document_id=document_id).order_by("id").values_list("data", flat=True)
        log_updates = [bytes(data) for data in log]
        segments = SnapshotSegment.objects.filter(document_id=document_id).values_list("data", flat=True)
        rows = StoredRows([bytes(data) for data in segments], log_updates)
        return rows, LogStats(len(log_updates), sum(map(len, log_updates)))

    def write_batch(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        from django.db import connection, transaction
        from django.utils import timezone

        from documents.models import Document

        with transaction.atomic():
            existing = set(Document.objects.filter(pk__in=batch.keys()).values_list("pk", flat=True))
            now = timezone.now()
            rows = [(doc_id, update, now) for doc_id in existing for update in batch[doc_id]]
            sizes = [(now, sum(map(len, batch[doc_id])), doc_id) for doc_id in existing]
            # Plain executemany: building a model instance (with its init signals) and compiling an expression per
            # row cost more than the database work at a few thousand updates a second.
            with connection.cursor() as cursor:
                cursor.executemany(_INSERT_UPDATE.sql(), _INSERT_UPDATE.rows(connection, rows))
                cursor.executemany(_GROW_DOCUMENT.sql(), _GROW_DOCUMENT.rows(connection, sizes))
        dropped = set(batch) - existing
        if dropped:
            logger.warning("dropped updates of deleted documents %s", sorted(map(str, dropped)))

    def compact(self, document_id: uuid.UUID) -> Compaction:
        """Fold the document's log into its snapshot segments."""
        from django.db import transaction

        from documents.models import Document, DocumentUpdate, SnapshotSegment

        with transaction.atomic():
            # Locking the row serialises compactions of one document across processes (a no-op on SQLite, whose
            # IMMEDIATE transactions already serialise writers).
            if not Document.objects.select_for_update().filter(pk=document_id).exists():
                return Compaction(0, 0)
            segments = list(SnapshotSegment.objects.filter(document_id=document_id).values_list("data", flat=True))
            log = list(DocumentUpdate.objects.filter(document_id=document_id).order_by("id").values_list("id", "data"))
            if not log:
                return Compaction(0, sum(map(len, segments)))
            compacted = compact_rows(
                [bytes(data) for data in segments], [bytes(data) for _, data in log], get_config().SEGMENT_BYTES
            )
            pieces = compacted.segments
            SnapshotSegment.objects.filter(document_id=document_id).delete()
            SnapshotSegment.objects.bulk_create(
                SnapshotSegment(document_id=document_id, position=index, data=piece)
                for index, piece in enumerate(pieces)
            )
            # Only the rows read above: another process may have appended more since, and those stay in the log.
            DocumentUpdate.objects.filter(document_id=document_id, id__lte=log[-1][0]).delete()
            # Updates still waiting for a missing dependency stay in the log, as they were.
            DocumentUpdate.objects.bulk_create(
                DocumentUpdate(document_id=document_id, data=row) for row in compacted.held
            )
            snapshot_bytes = sum(map(len, pieces))
            Document.objects.filter(pk=document_id).update(size_bytes=snapshot_bytes)
        logger.info(
            "compacted %s: %d log updates into %d segments",
            document_id,
            len(log),
            len(pieces),
            extra=logcontext.fields(document_id),
        )
        return Compaction(len(log), snapshot_bytes)

    def append_edit(self, document_id: uuid.UUID, update: bytes) -> None:
        from django.db import transaction
        from django.db.models import F
        from django.utils import timezone

        from documents.models import Document, DocumentUpdate

        cap = get_config().MAX_DOCUMENT_BYTES - len(update)
        with transaction.atomic():
            # The cap is checked in the same statement that grows the size: two edits racing cannot both pass it.
            grown = Document.objects.filter(pk=document_id, size_bytes__lte=cap).update(
                updated_at=timezone.now(), size_bytes=F("size_bytes") + len(update)
            )
            if not grown:
                if not Document.objects.filter(pk=document_id).exists():
                    raise DocumentNotFound(document_id)
                raise DocumentTooLarge(f"document {document_id} is at its size cap")
            DocumentUpdate.objects.create(document_id=document_id, data=update)

    @contextlib.contextmanager
    def thread_scope(self) -> Iterator[None]:
        """Drop connections that broke or outlived CONN_MAX_AGE before and after each call (a long-lived thread
        never sees Django's request signals, which do it for request threads)."""
        from django.db import close_old_connections

        close_old_connections()
        try:
            yield
        finally:
            close_old_connections()


class _Statement:
    """A parameterised statement over one model's columns, with values converted as the model's fields would."""

    def __init__(self, model_label: str, template: str, field_names: tuple[str, ...]) -> None:
        self.model_label = model_label
        self.template = template
        self.field_names = field_names

    @functools.cached_property
    def fields(self) -> list[Any]:
        from django.apps import apps

        model = apps.get_model(self.model_label)
        return [model._meta.get_field(name) for name in self.field_names]

    def sql(self) -> str:
        from django.apps import apps
        from django.db import connection

        model = apps.get_model(self.model_label)
        quote = connection.ops.quote_name
        columns = {f"col_{field.name}": quote(field.column) for field in self.fields}
        return self.template.format(table=quote(model._meta.db_table), **columns)

    def rows(self, connection: Any, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
        """Each row's values converted as the model's fields would, each distinct value once.

        A batch repeats its document ids and its timestamp on every row; converting those once per row (a UUID
        to text, a datetime to the backend's form) cost as much as the insert itself.
        """
        converted: list[dict[Any, Any]] = [{} for _ in self.fields]
        out = []
        for values in rows:
            params = []
            for model_field, seen, value in zip(self.fields, converted, values, strict=True):
                try:
                    params.append(seen[value])
                except KeyError:
                    params.append(seen.setdefault(value, model_field.get_db_prep_save(value, connection)))
            out.append(params)
        return out


_INSERT_UPDATE = _Statement(
    "documents.DocumentUpdate",
    "INSERT INTO {table} ({col_document}, {col_data}, {col_created_at}) VALUES (%s, %s, %s)",
    ("document", "data", "created_at"),
)
_GROW_DOCUMENT = _Statement(
    "documents.Document",
    "UPDATE {table} SET {col_updated_at} = %s, {col_size_bytes} = {col_size_bytes} + %s WHERE {col_id} = %s",
    ("updated_at", "size_bytes", "id"),
)
