"""Durable storage of Yjs documents: a compacted snapshot (size-bounded segments) plus an append log.

Writes are buffered in memory and group-committed at most every flush window by one writer task per process, so a
burst of keystrokes costs one transaction, not one per update. The ORM runs on a dedicated writer thread so it never
blocks the event loop. ``DjangoDocumentStore`` is the real store; ``MemoryDocumentStore`` serves room tests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from pycrdt import Doc, get_update, merge_updates

from .conf import get_config
from .protocol import encode_state_vector, read_state_vector

logger = logging.getLogger("documents.store")
T = TypeVar("T")


@dataclass
class LogStats:
    """How much a document's append log holds since its last compaction."""

    count: int = 0
    bytes: int = 0


def pack_updates(updates: list[bytes], limit: int) -> list[bytes]:
    """Merge consecutive updates into as few pieces as possible, each at most ``limit`` bytes when it can be.

    Merging (not re-encoding through a Doc) keeps updates that still wait for a missing dependency. A piece that is
    already over the limit on its own stays as it is.
    """
    pieces: list[bytes] = []
    batch: list[bytes] = []
    batch_bytes = 0
    for update in updates:
        if batch and batch_bytes + len(update) > limit:
            pieces.append(_merge(batch))
            batch, batch_bytes = [], 0
        batch.append(update)
        batch_bytes += len(update)
    if batch:
        pieces.append(_merge(batch))
    return pieces


def _merge(updates: list[bytes]) -> bytes:
    return updates[0] if len(updates) == 1 else merge_updates(*updates)


def compact_updates(updates: list[bytes], limit: int) -> list[bytes]:
    """Compact a document's stored updates into snapshot segments, each at most ``limit`` bytes when possible.

    The updates are applied to a Doc and its state re-encoded, which drops deleted content and squashes runs of
    typing. Re-encoding drops updates still waiting for a missing dependency, so those are kept as they are, after
    the encoded state. When even one client's share of the state exceeds the limit, the updates are merged instead.
    """
    if not updates:
        return []
    doc = build_doc(updates)
    pending = unintegrated(doc, updates)
    pieces = encode_in_pieces(doc, limit)
    if pieces is None:
        return pack_updates(updates, limit)
    return pieces + pending


def build_doc(updates: list[bytes], batch: int = 500) -> Doc:
    """A Doc holding ``updates``; applied in merged batches, since applying many small updates one by one is slow."""
    doc: Doc[Any] = Doc()
    for start in range(0, len(updates), batch):
        doc.apply_update(_merge(updates[start : start + batch]))
    return doc


def encode_in_pieces(doc: Doc, limit: int) -> list[bytes] | None:
    """The Doc's whole state as updates of at most ``limit`` bytes: one, or one per client merged up to the limit.

    Returns None when one client's share alone exceeds the limit.
    """
    full = doc.get_update()
    if len(full) <= limit:
        return [full]
    state = read_state_vector(doc.get_state())
    pieces = []
    for client in state:
        # Diffing against a state vector that holds every other client at its full clock leaves only this
        # client's items (and the delete set).
        others = {other: clock for other, clock in state.items() if other != client}
        piece = doc.get_update(encode_state_vector(others))
        if len(piece) > limit:
            return None
        pieces.append(piece)
    return pack_updates(pieces, limit)


def unintegrated(doc: Doc, updates: list[bytes], batch: int = 500) -> list[bytes]:
    """The items of ``updates`` that ``doc`` holds only as pending (waiting for a missing dependency).

    For each merged batch, the diff against the Doc's state vector holds exactly the items the Doc did not
    integrate; a diff without items (only a delete set, already applied) is dropped.
    """
    state = doc.get_state()
    pending = []
    for start in range(0, len(updates), batch):
        diff = get_update(_merge(updates[start : start + batch]), state)
        if has_items(diff):
            pending.append(diff)
    return pending


def has_items(update: bytes) -> bool:
    """Whether a (v1) update carries items; it starts with the number of clients whose items it holds."""
    return update[:1] != b"\x00"


class DocumentStore:
    """Buffered, group-committed storage of document updates; subclasses supply the synchronous storage calls.

    Attributes:
        _buffer: updates accepted but not yet committed, per document, in arrival order.
        _stats: the size of each loaded document's stored log, to decide when to compact.
        _executor: the single writer thread all storage calls run on, in submission order.
        _flusher: the task committing the buffer every flush window.
    """

    def __init__(self) -> None:
        self._buffer: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self._stats: dict[uuid.UUID, LogStats] = defaultdict(LogStats)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="document-store")
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock: asyncio.Lock | None = None

    # -- interface used by rooms --------------------------------------------------------------------------------
    async def load(self, document_id: uuid.UUID) -> list[bytes]:
        """The document's stored updates (snapshot segments, then the log), compacting first if the log is long."""
        await self.flush()
        updates, stats = await self._run(self._load_sync, document_id)
        config = get_config()
        if stats.count > config.COMPACT_LOG_COUNT or stats.bytes > config.COMPACT_LOG_BYTES:
            await self._run(self._compact_sync, document_id)
            updates, stats = await self._run(self._load_sync, document_id)
        self._stats[document_id] = stats
        return updates

    def append(self, document_id: uuid.UUID, update: bytes) -> None:
        """Queue an update for the next group commit (within the flush window)."""
        self._buffer[document_id].append(update)
        self._ensure_flusher()

    async def flush(self) -> None:
        """Commit every buffered update now, then compact the documents whose log grew past its threshold."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            if not self._buffer:
                return
            batch, self._buffer = dict(self._buffer), defaultdict(list)
            await self._run(self._write_sync, batch)
            for document_id in self._over_threshold(batch):
                await self.compact(document_id)

    async def compact(self, document_id: uuid.UUID) -> None:
        """Fold the document's log into its snapshot segments."""
        await self._run(self._compact_sync, document_id)
        self._stats[document_id] = LogStats()

    def forget(self, document_id: uuid.UUID) -> None:
        """Drop the in-memory bookkeeping of a document whose room unloaded (after its final flush)."""
        self._stats.pop(document_id, None)

    def read_sync(self, document_id: uuid.UUID) -> list[bytes]:
        """The stored updates, read on the calling thread (for synchronous views when no room is open)."""
        return self._read_rows(document_id)[0]

    # -- internals -----------------------------------------------------------------------------------------------
    def _over_threshold(self, batch: dict[uuid.UUID, list[bytes]]) -> Iterable[uuid.UUID]:
        config = get_config()
        for document_id, updates in batch.items():
            stats = self._stats[document_id]
            stats.count += len(updates)
            stats.bytes += sum(len(update) for update in updates)
            if stats.count > config.COMPACT_LOG_COUNT or stats.bytes > config.COMPACT_LOG_BYTES:
                yield document_id

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(get_config().FLUSH_INTERVAL)
        try:
            await self.flush()
        except Exception:
            logger.exception("flush failed; updates stay buffered for the next attempt")
        finally:
            self._flusher = None
            if self._buffer:
                self._ensure_flusher()

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _load_sync(self, document_id: uuid.UUID) -> tuple[list[bytes], LogStats]:
        return self._read_rows(document_id)

    def _read_rows(self, document_id: uuid.UUID) -> tuple[list[bytes], LogStats]:
        raise NotImplementedError

    def _write_sync(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        raise NotImplementedError

    def _compact_sync(self, document_id: uuid.UUID) -> None:
        raise NotImplementedError


class MemoryDocumentStore(DocumentStore):
    """Keeps documents in process memory; for tests of rooms without a database."""

    def __init__(self) -> None:
        super().__init__()
        self.segments: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self.log: dict[uuid.UUID, list[bytes]] = defaultdict(list)

    def _read_rows(self, document_id: uuid.UUID) -> tuple[list[bytes], LogStats]:
        log = list(self.log[document_id])
        return [*self.segments[document_id], *log], LogStats(len(log), sum(map(len, log)))

    def _write_sync(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        for document_id, updates in batch.items():
            self.log[document_id].extend(updates)

    def _compact_sync(self, document_id: uuid.UUID) -> None:
        updates = [*self.segments[document_id], *self.log[document_id]]
        self.segments[document_id] = compact_updates(updates, get_config().SEGMENT_BYTES)
        self.log[document_id] = []


class DjangoDocumentStore(DocumentStore):
    """Stores documents in the database through the ORM, on the store's writer thread."""

    def _load_sync(self, document_id: uuid.UUID) -> tuple[list[bytes], LogStats]:
        with _database_connection():
            return self._read_rows(document_id)

    def _read_rows(self, document_id: uuid.UUID) -> tuple[list[bytes], LogStats]:
        from .models import DocumentUpdate, SnapshotSegment

        # The log is read before the segments: a compaction in between then shows its updates twice (harmless,
        # applying is idempotent) instead of not at all.
        log = DocumentUpdate.objects.filter(document_id=document_id).order_by("id").values_list("data", flat=True)
        log_updates = [bytes(data) for data in log]
        segments = SnapshotSegment.objects.filter(document_id=document_id).values_list("data", flat=True)
        updates = [bytes(data) for data in segments] + log_updates
        return updates, LogStats(len(log_updates), sum(map(len, log_updates)))

    def _write_sync(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        from django.db import connection, transaction
        from django.utils import timezone

        from .models import Document

        with _database_connection(), transaction.atomic():
            existing = set(Document.objects.filter(pk__in=batch.keys()).values_list("pk", flat=True))
            now = timezone.now()
            rows = [(doc_id, update, now) for doc_id in existing for update in batch[doc_id]]
            sizes = [(now, sum(map(len, batch[doc_id])), doc_id) for doc_id in existing]
            # Plain executemany: building a model instance (with its init signals) and compiling an expression per
            # row cost more than the database work at a few thousand updates a second.
            with connection.cursor() as cursor:
                cursor.executemany(_INSERT_UPDATE.sql(), [_INSERT_UPDATE.params(connection, row) for row in rows])
                cursor.executemany(_GROW_DOCUMENT.sql(), [_GROW_DOCUMENT.params(connection, row) for row in sizes])
        dropped = set(batch) - existing
        if dropped:
            logger.warning("dropped updates of deleted documents %s", sorted(map(str, dropped)))

    def _compact_sync(self, document_id: uuid.UUID) -> None:
        with _database_connection():
            self.compact_now(document_id)

    def compact_now(self, document_id: uuid.UUID) -> int:
        """Fold the document's log into its snapshot segments on the calling thread; returns the rows folded."""
        from django.db import transaction

        from .models import Document, DocumentUpdate, SnapshotSegment

        with transaction.atomic():
            # Locking the row serialises compactions of one document across processes (a no-op on SQLite, whose
            # IMMEDIATE transactions already serialise writers).
            if not Document.objects.select_for_update().filter(pk=document_id).exists():
                return 0
            segments = list(SnapshotSegment.objects.filter(document_id=document_id).values_list("data", flat=True))
            log = list(DocumentUpdate.objects.filter(document_id=document_id).order_by("id").values_list("id", "data"))
            if not log:
                return 0
            updates = [bytes(data) for data in segments] + [bytes(data) for _, data in log]
            pieces = compact_updates(updates, get_config().SEGMENT_BYTES)
            SnapshotSegment.objects.filter(document_id=document_id).delete()
            SnapshotSegment.objects.bulk_create(
                SnapshotSegment(document_id=document_id, position=index, data=piece)
                for index, piece in enumerate(pieces)
            )
            # Only the rows read above: another process may have appended more since, and those stay in the log.
            DocumentUpdate.objects.filter(document_id=document_id, id__lte=log[-1][0]).delete()
            Document.objects.filter(pk=document_id).update(size_bytes=sum(map(len, pieces)))
        logger.info("compacted %s: %d log updates into %d segments", document_id, len(log), len(pieces))
        return len(log)


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

    def params(self, connection: Any, values: tuple[Any, ...]) -> list[Any]:
        return [field.get_db_prep_save(value, connection) for field, value in zip(self.fields, values, strict=True)]


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


class _database_connection:
    """Run ORM work on a long-lived thread: drop connections that broke or outlived CONN_MAX_AGE, before and after."""

    def __enter__(self) -> None:
        from django.db import close_old_connections

        close_old_connections()

    def __exit__(self, *exc_info: object) -> None:
        from django.db import close_old_connections

        close_old_connections()


_default_store: DocumentStore | None = None


def get_store() -> DocumentStore:
    """The process's store (the Django one), created on first use."""
    global _default_store
    if _default_store is None:
        _default_store = DjangoDocumentStore()
    return _default_store
