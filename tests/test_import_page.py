"""Importing a Markdown file from the "My documents" page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from documents.bridge import export_document
from documents.models import Document

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def upload(client: Client, name: str, data: bytes) -> Any:
    return client.post("/documents/import/", {"file": SimpleUploadedFile(name, data, content_type="text/markdown")})


def test_import_creates_a_document_with_the_content(signed_in: Client, alice: Any) -> None:
    response = upload(signed_in, "Meeting notes.md", b"# Agenda\n\n- **budget**\n- hiring\n")
    document = Document.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == f"/documents/{document.pk}/"
    assert document.title == "Meeting notes"
    assert export_document(document, "markdown") == "# Agenda\n\n- **budget**\n- hiring\n"


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [("binary.md", b"\xff\xfe\x00", "not UTF-8"), ("deep.md", b">" * 200 + b" deep", "Could not import")],
)
def test_bad_files_are_refused_and_nothing_is_created(signed_in: Client, name: str, data: bytes, error: str) -> None:
    response = upload(signed_in, name, data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Document.objects.exists()


def test_oversized_file_is_refused(signed_in: Client, settings: Any) -> None:
    settings.COLLAB = {**settings.COLLAB, "MAX_IMPORT_BYTES": 100}
    response = upload(signed_in, "big.md", b"x" * 500)
    assert response.status_code == 400
    assert not Document.objects.exists()


def test_import_needs_a_login() -> None:
    response = Client().post("/documents/import/", {})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
