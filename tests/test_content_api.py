"""PUT /api/documents/ID/content and import on create: permissions, bad input, storage, live editors."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from documents.bridge import document_text, export_document, replace_content
from documents.models import Document, DocumentUpdate
from tests.waiting import until_server_text
from tests.yclient import open_client

pytestmark = pytest.mark.django_db


def url(document: Document) -> str:
    return f"/api/documents/{document.pk}/content"


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("nonmember", 404), ("viewer", 403), ("editor", 204), ("owner", 204)],
)
def test_put_content_permissions(callers: dict[str, APIClient], document: Document, caller: str, expected: int) -> None:
    response = callers[caller].put(url(document), {"format": "markdown", "content": "# Hi\n\nthere"}, format="json")
    assert response.status_code == expected, response.content
    if expected == 204:
        assert document_text(document) == "Hi\nthere"
    else:
        assert document_text(document) == ""


def test_put_html_strips_scripts_and_is_one_stored_update(callers: dict[str, APIClient], document: Document) -> None:
    html = "<p>safe <b>bold</b></p><script>alert(1)</script><p><a href='javascript:x'>link</a></p>"
    response = callers["editor"].put(url(document), {"format": "html", "content": html}, format="json")
    assert response.status_code == 204
    assert DocumentUpdate.objects.filter(document=document).count() == 1
    out = export_document(document, "html")
    assert "alert" not in out and "javascript" not in out
    assert "<strong>bold</strong>" in out
    document.refresh_from_db()
    assert document.size_bytes > 0


def test_replacing_again_replaces(callers: dict[str, APIClient], document: Document) -> None:
    client = callers["owner"]
    client.put(url(document), {"format": "markdown", "content": "first"}, format="json")
    client.put(url(document), {"format": "markdown", "content": "- a\n- b"}, format="json")
    assert export_document(document, "markdown").strip() == "- a\n- b"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "docx", "content": "x"}, "format"),
        ({"content": "x"}, "format"),
        ({"format": "markdown"}, "content"),
        ({"format": "markdown", "content": 5 * ["x"]}, "content"),
    ],
)
def test_bad_input_is_400_and_leaves_document(
    callers: dict[str, APIClient], document: Document, body: dict[str, Any], field: str
) -> None:
    replace_content(document, "markdown", "original")
    response = callers["editor"].put(url(document), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert document_text(document) == "original"


@override_settings(COLLAB={"MAX_IMPORT_BYTES": 100})
def test_oversized_content_is_400(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["editor"].put(url(document), {"format": "markdown", "content": "x" * 101}, format="json")
    assert response.status_code == 400
    assert "content" in response.json()
    assert document_text(document) == ""


def test_too_deep_content_is_400(callers: dict[str, APIClient], document: Document) -> None:
    replace_content(document, "markdown", "original")
    body = {"format": "markdown", "content": ">" * 200 + " deep"}
    response = callers["editor"].put(url(document), body, format="json")
    assert response.status_code == 400
    assert document_text(document) == "original"


def test_create_with_content(callers: dict[str, APIClient]) -> None:
    response = callers["owner"].post(
        "/api/documents/", {"title": "Imported", "format": "markdown", "content": "# T\n\nbody"}, format="json"
    )
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert document_text(document) == "T\nbody"


@pytest.mark.parametrize("body", [{"format": "pdf", "content": "x"}, {"content": "x"}, {"format": "html"}])
def test_create_with_bad_content_creates_nothing(callers: dict[str, APIClient], body: dict[str, Any]) -> None:
    before = Document.objects.count()
    response = callers["owner"].post("/api/documents/", {"title": "Imported", **body}, format="json")
    assert response.status_code == 400
    assert Document.objects.count() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_live_editor_sees_replacement(live_server_url: Any, document: Document, bob: Any) -> None:
    token = (await sync_to_async(Token.objects.get_or_create)(user=bob))[0].key
    client = await open_client(live_server_url.ws_url, document.pk, token)
    client.add_paragraph("typed live")
    # The server has the live edit before the replacement is computed against its room.
    await until_server_text(live_server_url.http_url, document.pk, token, "typed live")

    def put() -> requests.Response:
        return requests.put(
            f"{live_server_url.http_url}/api/documents/{document.pk}/content",
            json={"format": "markdown", "content": "replaced now"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )

    response = await sync_to_async(put)()
    assert response.status_code == 204, response.text
    await client.wait_for(lambda: client.paragraph_texts() == ["replaced now"], timeout=5)
    await client.close()
