"""The documents admin: changelist columns, change page preview and inlines, and each action (logged)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from documents.bridge import document_text, replace_content
from documents.models import Document, DocumentUpdate, SnapshotSegment, Version
from documents.versions import create_version

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/documents/document/"


@pytest.fixture
def admin(client: Client, staff: Any) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def filled(document: Document) -> Document:
    replace_content(document, "html", "<h1>Heading</h1><p>Body <em>text</em></p><script>alert(1)</script>")
    return document


def act(admin: Client, action: str, *documents: Document) -> Any:
    return admin.post(CHANGELIST, {"action": action, "_selected_action": [str(d.pk) for d in documents]})


def test_changelist_shows_columns(admin: Client, filled: Document) -> None:
    response = admin.get(CHANGELIST)
    assert response.status_code == 200
    body = response.content.decode()
    for heading in ("Members", "Stored updates", "Live connections", "Size bytes"):
        assert heading in body
    row = response.context["cl"].result_list[0]
    assert row.member_total == 2
    assert row.update_total == 1


def test_change_page_renders_preview_and_inlines(admin: Client, filled: Document, alice: Any) -> None:
    create_version(filled, "saved one", alice)
    response = admin.get(f"{CHANGELIST}{filled.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    # The preview is the srcdoc of an iframe (tests/test_admin_pages.py): its HTML is attribute-escaped.
    assert "&lt;h1&gt;Heading&lt;/h1&gt;" in body
    assert "&lt;em&gt;text&lt;/em&gt;" in body
    assert "alert(1)" not in body
    assert "saved one" in body
    assert "bob" in body


def test_create_version_action(admin: Client, filled: Document) -> None:
    response = act(admin, "create_version_action", filled)
    assert response.status_code == 302
    version = Version.objects.get(document=filled)
    assert version.author.username == "staff"
    assert LogEntry.objects.filter(object_id=str(filled.pk), change_message__contains="Created version").exists()


def test_restore_latest_version_action(admin: Client, filled: Document, alice: Any) -> None:
    create_version(filled, "good", alice)
    replace_content(filled, "markdown", "vandalised")
    assert act(admin, "restore_latest_version", filled).status_code == 302
    assert document_text(filled) == "Heading\nBody text"
    assert Version.objects.filter(document=filled, name="Before restoring good").exists()
    assert LogEntry.objects.filter(object_id=str(filled.pk), change_message__contains="Restored").exists()


def test_restore_without_versions_warns(admin: Client, filled: Document) -> None:
    response = act(admin, "restore_latest_version", filled)
    assert response.status_code == 302
    assert document_text(filled) == "Heading\nBody text"


def test_compact_action(admin: Client, filled: Document) -> None:
    replace_content(filled, "markdown", "second")
    assert act(admin, "compact_storage", filled).status_code == 302
    assert not DocumentUpdate.objects.filter(document=filled).exists()
    assert SnapshotSegment.objects.filter(document=filled).exists()
    assert document_text(filled) == "second"
    assert LogEntry.objects.filter(object_id=str(filled.pk), change_message__contains="Compacted").exists()


@pytest.mark.parametrize(
    ("action", "expected"), [("export_markdown", "# Heading"), ("export_html", "<h1>Heading</h1>")]
)
def test_export_actions(admin: Client, filled: Document, action: str, expected: str) -> None:
    response = act(admin, action, filled)
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert "attachment" in response["Content-Disposition"]


def test_export_needs_one_document(admin: Client, filled: Document, alice: Any) -> None:
    other = Document.objects.create(title="Other", owner=alice)
    assert act(admin, "export_html", filled, other).status_code == 302


def test_close_connections_action(admin: Client, filled: Document, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[Any] = []
    monkeypatch.setattr("documents.bridge.close_all_connections", closed.append)
    assert act(admin, "close_connections", filled).status_code == 302
    assert closed == [filled.pk]
    assert LogEntry.objects.filter(object_id=str(filled.pk), change_message__contains="Closed").exists()


def test_restore_a_chosen_version_from_the_versions_admin(admin: Client, filled: Document, alice: Any) -> None:
    chosen = create_version(filled, "the one", alice)
    replace_content(filled, "markdown", "second draft")
    create_version(filled, "newer", alice)
    replace_content(filled, "markdown", "third draft")
    response = admin.post("/admin/documents/version/", {"action": "restore_selected", "_selected_action": [chosen.pk]})
    assert response.status_code == 302
    assert document_text(filled) == "Heading\nBody text"
    assert LogEntry.objects.filter(object_id=str(filled.pk), change_message__contains="'the one'").exists()


def test_restoring_two_versions_of_one_document_is_refused(admin: Client, filled: Document, alice: Any) -> None:
    first, second = create_version(filled, "a", alice), create_version(filled, "b", alice)
    replace_content(filled, "markdown", "current")
    admin.post("/admin/documents/version/", {"action": "restore_selected", "_selected_action": [first.pk, second.pk]})
    assert document_text(filled) == "current"
