"""``manage.py check_documents``, the 503 answer while the database is unavailable, and spill files."""

from __future__ import annotations

import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from pycrdt import Doc, Text

from documents.engine.spill import SpillFile, read_spill_files
from documents.engine.storage import DjangoStorage, MemoryStorage
from documents.engine.store import DocumentStore
from documents.models import Document, DocumentUpdate
from tests.test_integrity import nested_update
from tests.test_rooms import edit

pytestmark = pytest.mark.django_db


def check(*ids: str) -> str:
    out = StringIO()
    call_command("check_documents", *ids, stdout=out)
    return out.getvalue()


def test_healthy_documents_pass(document: Document) -> None:
    DocumentUpdate.objects.create(document=document, data=edit("hello"))
    assert check() == "checked 1 documents: 0 failing, 0 with warnings\n"


def test_reports_held_updates_and_too_deep_documents(document: Document, alice: Any) -> None:
    source: Doc[Any] = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text = source.get("t", type=Text)
    text += "a"
    text += "b"
    DocumentUpdate.objects.create(document=document, data=updates[1])  # waits for the first, never stored
    deep = Document.objects.create(title="deep", owner=alice)
    DocumentUpdate.objects.create(document=deep, data=nested_update(300))  # written before limits existed
    with pytest.raises(CommandError) as failed:
        check()
    assert failed.value.returncode == 1
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_documents", str(deep.pk), stdout=out)
    assert f"FAIL {deep.pk}: nests 300 deep, over the limit of 256" in out.getvalue()
    assert "1 updates" in check(str(document.pk))


def test_unknown_id_is_an_error(document: Document) -> None:
    unknown = uuid.uuid4()
    with pytest.raises(CommandError, match=f"unknown document id: {unknown}$"):  # only the unknown one is named
        check(str(document.pk), str(unknown))
    with pytest.raises(CommandError, match="not a document id \\(a UUID\\): plans"):
        check("plans")


def test_api_answers_503_with_retry_after_while_the_database_fails(
    callers: dict, document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("database is locked")

    monkeypatch.setattr("documents.web.api.document_text", locked)
    response = callers["owner"].get(f"/api/documents/{document.pk}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "unavailable" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_spill_file_round_trip_and_replay(tmp_path: Path, document: Document) -> None:
    updates = {document.pk: [edit("one"), edit("two")]}
    path = SpillFile.write(tmp_path, updates)
    assert [(p, u) for p, u in read_spill_files(tmp_path)] == [(path, updates)]
    store = DocumentStore(DjangoStorage())
    assert store.recover_spill(tmp_path) == 2
    assert path.exists()  # until written
    store.write_buffer_sync()
    assert not path.exists()
    assert [bytes(row) for row in DocumentUpdate.objects.values_list("data", flat=True)] == updates[document.pk]


def test_truncated_spill_file_is_kept_aside(tmp_path: Path) -> None:
    path = SpillFile.write(tmp_path, {uuid.uuid4(): [edit("one")]})
    path.write_bytes(path.read_bytes()[:-3])
    assert list(read_spill_files(tmp_path)) == []
    assert path.with_suffix(".bad").exists()


async def test_shutdown_during_an_outage_spills_what_it_holds(tmp_path: Path) -> None:
    store = DocumentStore(MemoryStorage())
    document_id = uuid.uuid4()
    update = edit("kept")
    store.backend.unavailable = ConnectionError("database is down")
    store.append(document_id, update)
    await store.close(wait_seconds=0.3, spill_dir=tmp_path)
    [(_, spilled)] = list(read_spill_files(tmp_path))
    assert spilled == {document_id: [update]}
    # The next start puts it back in the buffer; the first successful flush writes it and deletes the file.
    restarted = DocumentStore(MemoryStorage())
    restarted.recover_spill(tmp_path)
    await restarted.flush()
    assert restarted.backend.log[document_id] == [update]
    assert list(read_spill_files(tmp_path)) == []
