"""Durable storage of Yjs documents: a compacted snapshot (size-bounded segments) plus an append log.

Writes are buffered in memory and group-committed at most every flush window by one writer task per process, so a
burst of keystrokes costs one transaction, not one per update. The ORM runs on a dedicated writer thread so it never
blocks the event loop. ``DjangoDocumentStore`` is the real store; ``MemoryDocumentStore`` serves room tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pycrdt import Doc

from .conf import get_config
from .spill import SpillFile, read_spill_files
from .updates import compact_rows, load_doc

logger = logging.getLogger("documents.store")
T = TypeVar("T")


@dataclass
class LogStats:
    """How much a document's append log holds since its last compaction."""

    count: int = 0
    bytes: int = 0


@dataclass
class StoredRows:
    """A document's stored rows: snapshot segments (the server's encoding of an integrated state), then the log."""

    segments: list[bytes] = field(default_factory=list)
    log: list[bytes] = field(default_factory=list)

    def doc(self) -> Doc:
        """The Doc these rows hold, integrated by the rooms' rule."""
        return load_doc(self.segments, self.log).doc


class DocumentStore:
    """Buffered, group-committed storage of document updates; subclasses supply the synchronous storage calls.

    A write that fails (database locked, down or failing over) keeps its updates at the front of the buffer and
    is retried with backoff; nothing accepted is dropped. The buffer is bounded per document and per process: past
    the bound ``can_accept`` says no and rooms refuse edits (writers are closed with 1013) instead of accepting
    what could not be kept. A graceful stop that cannot reach the database writes the buffer to a spill file,
    which the next start replays before it serves.

    Attributes:
        _buffer: updates accepted but not yet committed, per document, in arrival order.
        _buffered_bytes: the size of each document's buffered updates; ``buffered_bytes`` is their sum.
        _stats: the size of each loaded document's stored log, to decide when to compact.
        _executor: the single writer thread all storage calls run on, in submission order.
        _flusher: the task committing the buffer every flush window (and retrying after failures).
        failing_since: ``time.monotonic()`` of the first failed write of the current outage, or None.
        _spill_paths: spill files whose updates are in the buffer; deleted once they are committed.
    """

    def __init__(self) -> None:
        self._buffer: dict[uuid.UUID, list[bytes]] = {}
        self._buffered_bytes: dict[uuid.UUID, int] = defaultdict(int)
        self.buffered_bytes = 0
        self._stats: dict[uuid.UUID, LogStats] = defaultdict(LogStats)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="document-store")
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock: asyncio.Lock | None = None
        self.failing_since: float | None = None
        self._failed_attempts = 0
        self._spill_paths: list[Path] = []

    # -- interface used by rooms --------------------------------------------------------------------------------
    async def load(self, document_id: uuid.UUID) -> StoredRows:
        """The document's stored rows plus its still-buffered updates, compacting first if the log is long.

        Raises:
            Exception: the database cannot be read (the caller refuses the connection with 1013).
        """
        with contextlib.suppress(Exception):  # a failing flush is logged and retried by the flusher
            await self.flush()
        rows, stats = await self._run(self._load_sync, document_id)
        config = get_config()
        if stats.count > config.COMPACT_LOG_COUNT or stats.bytes > config.COMPACT_LOG_BYTES:
            with contextlib.suppress(Exception):
                await self.compact(document_id)
                rows, stats = await self._run(self._load_sync, document_id)
        self._stats[document_id] = stats
        # Updates not yet written (the database was failing) still belong to the document.
        rows.log.extend(self._buffer.get(document_id, ()))
        return rows

    def can_accept(self, document_id: uuid.UUID, size: int) -> bool:
        """Whether the buffer has room for ``size`` more bytes of this document's updates."""
        config = get_config()
        return (
            self._buffered_bytes[document_id] + size <= config.STORE_BUFFER_DOCUMENT_BYTES
            and self.buffered_bytes + size <= config.STORE_BUFFER_BYTES
        )

    def append(self, document_id: uuid.UUID, update: bytes) -> None:
        """Queue an update for the next group commit (within the flush window)."""
        self._buffer.setdefault(document_id, []).append(update)
        self._buffered_bytes[document_id] += len(update)
        self.buffered_bytes += len(update)
        self._ensure_flusher()

    async def flush(self) -> None:
        """Commit every buffered update now, then compact the documents whose log grew past its threshold.

        Raises:
            Exception: the write failed; every update stays buffered, in order, for the next attempt.
        """
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            if not self._buffer:
                return
            # A copy, not a swap: the buffer keeps everything until the database has it.
            batch = {document_id: list(updates) for document_id, updates in self._buffer.items()}
            try:
                await self._run(self._write_sync, batch)
            except Exception as exc:
                self._note_failure(exc)
                raise
            self._drop_written(batch)
            self._note_success(sum(map(len, batch.values())))
            for document_id in list(self._over_threshold(batch)):
                try:
                    await self.compact(document_id)
                except Exception:
                    logger.exception("compacting %s failed; the log stays as it is", document_id)

    async def compact(self, document_id: uuid.UUID) -> None:
        """Fold the document's log into its snapshot segments."""
        await self._run(self._compact_sync, document_id)
        self._stats[document_id] = LogStats()

    def forget(self, document_id: uuid.UUID) -> None:
        """Drop the in-memory bookkeeping of a document whose room unloaded (after its final flush)."""
        self._stats.pop(document_id, None)

    def read_sync(self, document_id: uuid.UUID) -> StoredRows:
        """The stored rows and still-buffered updates, read on the calling thread (synchronous views, no room)."""
        rows = self._read_rows(document_id)[0]
        rows.log.extend(list(self._buffer.get(document_id, ())))
        return rows

    def write_buffer_sync(self) -> None:
        """Commit the buffer on the calling thread (at start, before any event loop runs: replayed spill files)."""
        batch = {document_id: list(updates) for document_id, updates in self._buffer.items()}
        if batch:
            self._write_sync(batch)
            self._drop_written(batch)

    async def close(self, wait_seconds: float, spill_dir: Path | None) -> None:
        """Write everything buffered before the process stops: wait up to ``wait_seconds`` for the database,
        then write what is left to a spill file in ``spill_dir`` for the next start to replay."""
        deadline = time.monotonic() + wait_seconds
        while self._buffer:
            try:
                await self.flush()
            except Exception:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self._buffer and spill_dir is not None:
            path = SpillFile.write(spill_dir, self._buffer)
            count = sum(map(len, self._buffer.values()))
            logger.error("database unavailable at shutdown: %d updates spilled to %s for the next start", count, path)

    def recover_spill(self, spill_dir: Path) -> int:
        """Put the updates of earlier spill files at the front of the buffer; returns how many there were.

        They are written by the next flush (a room's load flushes first), and the files deleted once written.
        """
        recovered = 0
        for path, updates in read_spill_files(spill_dir):
            for document_id, items in updates.items():
                self._buffer[document_id] = [*items, *self._buffer.get(document_id, [])]
                size = sum(map(len, items))
                self._buffered_bytes[document_id] += size
                self.buffered_bytes += size
                recovered += len(items)
            self._spill_paths.append(path)
            logger.warning("replaying %s: %d documents", path, len(updates))
        return recovered

    # -- internals -----------------------------------------------------------------------------------------------
    def _drop_written(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        """Remove a committed batch from the front of the buffer (updates appended meanwhile stay)."""
        for document_id, written in batch.items():
            remaining = self._buffer.get(document_id, [])
            del remaining[: len(written)]
            size = sum(map(len, written))
            self._buffered_bytes[document_id] -= size
            self.buffered_bytes -= size
            if not remaining:
                self._buffer.pop(document_id, None)
                self._buffered_bytes.pop(document_id, None)
        for path in self._spill_paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._spill_paths = []

    def _note_failure(self, exc: Exception) -> None:
        self._failed_attempts += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            logger.error(
                "store writes failing (%s: %s); %d bytes of updates held in memory, retrying",
                type(exc).__name__,
                exc,
                self.buffered_bytes,
            )
        else:
            logger.debug("store write attempt %d failed: %s", self._failed_attempts, exc)

    def _note_success(self, written: int) -> None:
        if self.failing_since is not None:
            logger.warning(
                "store writes recovered after %.1f s and %d failed attempts; %d updates written",
                time.monotonic() - self.failing_since,
                self._failed_attempts,
                written,
            )
        self.failing_since = None
        self._failed_attempts = 0

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
        """Commit every flush window while there is something to write; after a failure, back off (doubling)."""
        config = get_config()
        delay = config.FLUSH_INTERVAL
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    await self.flush()
                except Exception:
                    delay = min(max(delay * 2, config.FLUSH_INTERVAL), config.STORE_RETRY_MAX_SECONDS)
                    continue
                if not self._buffer:
                    return
                delay = config.FLUSH_INTERVAL
        finally:
            self._flusher = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _load_sync(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        return self._read_rows(document_id)

    def _read_rows(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        raise NotImplementedError

    def _write_sync(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        raise NotImplementedError

    def _compact_sync(self, document_id: uuid.UUID) -> None:
        raise NotImplementedError


class MemoryDocumentStore(DocumentStore):
    """Keeps documents in process memory; for tests of rooms without a database.

    Attributes:
        unavailable: when set, every storage call raises it (an outage, for tests of the buffer).
    """

    def __init__(self) -> None:
        super().__init__()
        self.segments: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self.log: dict[uuid.UUID, list[bytes]] = defaultdict(list)
        self.unavailable: Exception | None = None

    def _check_available(self) -> None:
        if self.unavailable is not None:
            raise self.unavailable

    def _read_rows(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        self._check_available()
        log = list(self.log[document_id])
        return StoredRows(list(self.segments[document_id]), log), LogStats(len(log), sum(map(len, log)))

    def _write_sync(self, batch: dict[uuid.UUID, list[bytes]]) -> None:
        self._check_available()
        for document_id, updates in batch.items():
            self.log[document_id].extend(updates)

    def _compact_sync(self, document_id: uuid.UUID) -> None:
        self._check_available()
        compacted = compact_rows(self.segments[document_id], self.log[document_id], get_config().SEGMENT_BYTES)
        self.segments[document_id] = compacted.segments
        self.log[document_id] = compacted.held


class DjangoDocumentStore(DocumentStore):
    """Stores documents in the database through the ORM, on the store's writer thread."""

    def _load_sync(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        with _database_connection():
            return self._read_rows(document_id)

    def _read_rows(self, document_id: uuid.UUID) -> tuple[StoredRows, LogStats]:
        from .models import DocumentUpdate, SnapshotSegment

        # The log is read before the segments: a compaction in between then shows its updates twice (harmless,
        # applying is idempotent) instead of not at all.
        log = DocumentUpdate.objects.filter(document_id=document_id).order_by("id").values_list("data", flat=True)
        log_updates = [bytes(data) for data in log]
        segments = SnapshotSegment.objects.filter(document_id=document_id).values_list("data", flat=True)
        rows = StoredRows([bytes(data) for data in segments], log_updates)
        return rows, LogStats(len(log_updates), sum(map(len, log_updates)))

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
    """The process's store (the Django one), created on first use with the updates of earlier spill files."""
    global _default_store
    if _default_store is None:
        _default_store = DjangoDocumentStore()
        _default_store.recover_spill(spill_dir())
    return _default_store


def replay_spill_files() -> None:
    """Before the process serves: write what earlier stops spilled to disk (kept buffered if the database is down)."""
    store = get_store()
    if not store.buffered_bytes:
        return
    try:
        asyncio.get_running_loop()
        return  # inside a running loop (tests): the first room load flushes it
    except RuntimeError:
        pass
    try:
        store.write_buffer_sync()
        logger.warning("spilled updates written to the database")
    except Exception as exc:
        logger.error("spilled updates stay buffered until the database answers (%s)", exc)


def spill_dir() -> Path:
    """Where a stop that cannot reach the database writes what it holds."""
    return Path(get_config().SPILL_DIR or "var/spill")
