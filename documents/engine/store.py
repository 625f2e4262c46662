"""The buffered writer in front of a storage backend: what rooms append to and load from.

Writes are buffered in memory and group-committed at most every flush window by one writer task per process, so a
burst of keystrokes costs one transaction, not one per update. The backend (documents/engine/storage.py) runs on a
dedicated writer thread so it never blocks the event loop.

About 310 lines, past our usual 300: buffering, the writer task, backpressure and the shutdown spill share the
buffers and their bounds, and their races are between those parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings

from documents import logcontext
from documents.conf import get_config
from documents.engine import telemetry
from documents.engine.spill import SpillFile, read_spill_files
from documents.engine.storage import LogStats, StorageBackend, StoredRows, get_backend

logger = logging.getLogger("documents.engine.store")
T = TypeVar("T")


class DocumentStore:
    """Buffered, group-committed storage of document updates in front of a ``StorageBackend``.

    A write that fails (database locked, down or failing over) keeps its updates at the front of the buffer and
    is retried with backoff; nothing accepted is dropped. The buffer is bounded per document and per process: past
    the bound ``can_accept`` says no and rooms refuse edits (writers are closed with 1013) instead of accepting
    what could not be kept. A graceful stop that cannot reach the database writes the buffer to a spill file,
    which the next start replays before it serves.

    Attributes:
        backend: where the rows are (read, written and compacted on the writer thread).
        _buffer: updates accepted but not yet committed, per document, in arrival order.
        _buffered_bytes: the size of each document's buffered updates; ``buffered_bytes`` is their sum.
        _stats: the size of each loaded document's stored log, to decide when to compact.
        _snapshot_bytes: the size of each loaded document's snapshot segments, for the same decision.
        _executor: the single writer thread all storage calls run on, in submission order.
        _flusher: the task committing the buffer every flush window (and retrying after failures).
        failing_since: ``time.monotonic()`` of the first failed write of the current outage, or None.
        _spill_paths: spill files whose updates are in the buffer; deleted once they are committed.
    """

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._buffer: dict[uuid.UUID, list[bytes]] = {}
        self._buffered_bytes: dict[uuid.UUID, int] = defaultdict(int)
        self.buffered_bytes = 0
        self._stats: dict[uuid.UUID, LogStats] = defaultdict(LogStats)
        self._snapshot_bytes: dict[uuid.UUID, int] = defaultdict(int)
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
        rows, stats = await self._run(self.backend.read, document_id)
        config = get_config()
        if stats.count > config.COMPACT_LOG_COUNT or stats.bytes > config.COMPACT_LOG_BYTES:
            with contextlib.suppress(Exception):
                await self.compact(document_id)
                rows, stats = await self._run(self.backend.read, document_id)
        self._stats[document_id] = stats
        self._snapshot_bytes[document_id] = sum(map(len, rows.segments))
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

    def buffer_full(self) -> bool:
        """Whether the process-wide buffer is at its bound, so ``can_accept`` refuses every edit."""
        return self.buffered_bytes >= get_config().STORE_BUFFER_BYTES

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
            started = time.perf_counter()
            try:
                await self._run(self.backend.write_batch, batch)
            except Exception as exc:
                self._note_failure(exc)
                raise
            seconds = time.perf_counter() - started
            written = sum(map(len, batch.values()))
            telemetry.current.flush(seconds, written, sum(len(u) for updates in batch.values() for u in updates))
            self._drop_written(batch)
            self._note_success(written)
            for document_id in list(self._over_threshold(batch)):
                try:
                    await self.compact(document_id)
                except Exception:
                    logger.exception(
                        "compacting %s failed; the log stays as it is",
                        document_id,
                        extra=logcontext.fields(document_id),
                    )

    async def compact(self, document_id: uuid.UUID) -> None:
        """Fold the document's log into its snapshot segments."""
        compaction = await self._run(self.backend.compact, document_id)
        # The snapshot as it now is: folding drops deleted content, so a document whose text is replaced as it is
        # written keeps a small snapshot, and the next compaction is due again after COMPACT_LOG_COUNT updates.
        self._snapshot_bytes[document_id] = compaction.snapshot_bytes
        self._stats[document_id] = LogStats()
        telemetry.current.compaction()

    def forget(self, document_id: uuid.UUID) -> None:
        """Drop the in-memory bookkeeping of a document whose room unloaded (after its final flush)."""
        self._stats.pop(document_id, None)
        self._snapshot_bytes.pop(document_id, None)

    def read_sync(self, document_id: uuid.UUID) -> StoredRows:
        """The stored rows and still-buffered updates, read on the calling thread (synchronous views, no room)."""
        rows = self.backend.read(document_id)[0]
        rows.log.extend(list(self._buffer.get(document_id, ())))
        return rows

    def write_buffer_sync(self) -> None:
        """Commit the buffer on the calling thread (at start, before any event loop runs: replayed spill files)."""
        batch = {document_id: list(updates) for document_id, updates in self._buffer.items()}
        if batch:
            with self.backend.thread_scope():
                self.backend.write_batch(batch)
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
        telemetry.current.store_failure()
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
            share = stats.bytes >= config.COMPACT_LOG_SHARE * self._snapshot_bytes[document_id]
            if (stats.count > config.COMPACT_LOG_COUNT and share) or stats.bytes > config.COMPACT_LOG_BYTES:
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
        def call() -> T:
            with self.backend.thread_scope():
                return func(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


_default_store: DocumentStore | None = None


def get_store() -> DocumentStore:
    """The process's store (on the configured backend), created on first use with the updates of earlier spill
    files."""
    global _default_store
    if _default_store is None:
        _default_store = DocumentStore(get_backend())
        _default_store.recover_spill(spill_dir())
    return _default_store


def loaded_store() -> DocumentStore | None:
    """The process's store if it was created (a served process creates it at start), else None."""
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
    """Where a stop that cannot reach the database writes what it holds (``var/spill`` in the project by default)."""
    configured = get_config().SPILL_DIR
    return Path(configured) if configured else Path(settings.BASE_DIR) / "var" / "spill"
