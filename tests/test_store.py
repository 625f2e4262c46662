"""One contract, run against both stores: what is appended comes back, compaction keeps everything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Doc, Text

from documents.engine.live_doc import build_doc, compact_rows
from documents.engine.storage import DjangoStorage, MemoryStorage, StoredRows
from documents.engine.store import DocumentStore
from documents.models import Document

pytestmark = pytest.mark.django_db(transaction=True)


def history(count: int) -> list[bytes]:
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    for i in range(count):
        text.insert(len(text), str(i % 10))
        if i % 7 == 6:
            del text[len(text) - 3 : len(text) - 1]
    return updates


def content(updates: list[bytes] | StoredRows) -> str:
    doc = updates.doc() if isinstance(updates, StoredRows) else build_doc(updates)
    return str(doc.get("t", type=Text))


@pytest.fixture(params=["memory", "django"])
def store_and_id(request: Any, alice: Any) -> tuple[Any, uuid.UUID]:
    if request.param == "memory":
        return DocumentStore(MemoryStorage()), uuid.uuid4()
    return DocumentStore(DjangoStorage()), Document.objects.create(title="t", owner=alice).pk


async def test_appended_updates_come_back(store_and_id: tuple[Any, uuid.UUID]) -> None:
    store, doc_id = store_and_id
    updates = history(50)
    for update in updates:
        store.append(doc_id, update)
    await store.flush()
    assert content(await store.load(doc_id)) == content(updates)


async def test_compaction_keeps_content_and_shrinks_log(store_and_id: tuple[Any, uuid.UUID]) -> None:
    store, doc_id = store_and_id
    updates = history(300)
    for update in updates:
        store.append(doc_id, update)
    await store.flush()
    await store.compact(doc_id)
    loaded = await store.load(doc_id)
    assert len(loaded.segments) == 1 and not loaded.log
    assert content(loaded) == content(updates)


def test_compaction_keeps_pending_updates() -> None:
    updates = history(20)
    compacted = compact_rows([], updates[5:], 1024)  # the first five are missing: the rest waits for them
    assert compacted.held  # kept as log rows, not folded into the snapshot
    assert content(updates[:5] + compacted.segments + compacted.held) == content(updates)


def test_compaction_splits_large_documents() -> None:
    docs = []
    for _ in range(6):
        doc = Doc()
        docs.append(doc)
    updates = []
    for i, doc in enumerate(docs):
        doc.observe(lambda event: updates.append(event.update))
        doc.get("t", type=Text).insert(0, str(i) * 40_000)
    pieces = compact_rows([], updates, 100_000).segments
    assert len(pieces) > 1
    assert all(len(piece) <= 100_000 for piece in pieces)
    assert sorted(content(pieces)) == sorted(content(updates))


async def test_a_large_open_document_compacts_once_its_log_is_a_share_of_its_snapshot(
    settings: Any, alice: Any
) -> None:
    """Past the log count, an open document compacts only once its log holds COMPACT_LOG_SHARE of the snapshot's
    bytes: a rebuild of a large document every few hundred keystrokes would cost more than the edits."""
    settings.COLLAB = {**settings.COLLAB, "COMPACT_LOG_COUNT": 20, "COMPACT_LOG_SHARE": 0.25}
    store = DocumentStore(MemoryStorage())
    doc_id = uuid.uuid4()
    big = Doc()
    updates: list[bytes] = []
    big.observe(lambda event: updates.append(event.update))
    text = big.get("t", type=Text)
    text.insert(0, "x" * 40_000)
    store.backend.segments[doc_id] = list(updates)
    updates.clear()
    await store.load(doc_id)
    for i in range(400):
        text.insert(len(text), str(i % 10))
    snapshot = sum(map(len, store.backend.segments[doc_id]))
    logged = 0
    compacted_at = None
    for update in updates:
        store.append(doc_id, update)
        logged += len(update)
        await store.flush()
        if compacted_at is None and not store.backend.log[doc_id]:
            compacted_at = logged
    # Compacted, and not before the log reached a quarter of the snapshot (it would have after 20 updates)
    assert compacted_at is not None and 0.25 * snapshot <= compacted_at < 0.25 * snapshot + 100, (logged, snapshot)
    assert content(await store.load(doc_id)) == str(text)


async def test_a_document_rewritten_as_it_is_typed_keeps_compacting(
    settings: Any, store_and_id: tuple[DocumentStore, uuid.UUID]
) -> None:
    """A document whose paragraphs are replaced as they are written keeps a small snapshot; its log is folded
    again every COMPACT_LOG_COUNT updates, however many compactions came before (the log, and the database, do
    not grow with the document's history)."""
    settings.COLLAB = {**settings.COLLAB, "COMPACT_LOG_COUNT": 50, "COMPACT_LOG_SHARE": 0.25}
    store, doc_id = store_and_id
    await store.load(doc_id)
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    longest_log = 0
    for round_ in range(20):
        for i in range(60):
            text.insert(len(text), str(i % 10))
        del text[:]  # the paragraph is done and goes: the snapshot stays small
        text.insert(0, f"round {round_}")
        for update in updates:
            store.append(doc_id, update)
        updates.clear()
        await store.flush()
        rows, stats = await store._run(store.backend.read, doc_id)
        longest_log = max(longest_log, stats.count)
    assert longest_log <= 62, longest_log  # one round's updates at most: each round's flush compacted
    assert sum(map(len, rows.segments)) < 1_000
    assert content(await store.load(doc_id)) == str(text) == "round 19"
