"""Versions: the REST API, restoring as a new edit, survival across compaction, live editors seeing a restore."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from documents.admin import compact_now
from documents.bridge import document_text, replace_content
from documents.models import Document, DocumentUpdate, Version
from documents.versions import create_version, restore_version, version_text
from tests.waiting import until_server_text
from tests.yclient import open_client

pytestmark = pytest.mark.django_db


def base(document: Document) -> str:
    return f"/api/documents/{document.pk}/versions/"


@pytest.fixture
def version(document: Document, alice: Any) -> Version:
    replace_content(document, "markdown", "version one")
    return create_version(document, "v1", alice)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("nonmember", 404), ("viewer", 200), ("editor", 200), ("owner", 200)],
)
def test_list_and_detail_permissions(
    callers: dict[str, APIClient], document: Document, version: Version, caller: str, expected: int
) -> None:
    listed = callers[caller].get(base(document))
    detail = callers[caller].get(f"{base(document)}{version.pk}/")
    assert listed.status_code == expected
    assert detail.status_code == expected
    if expected == 200:
        assert listed.json() == [
            {
                "id": version.pk,
                "name": "v1",
                "author": "alice",
                "created_at": listed.json()[0]["created_at"],
                "automatic": False,
            }
        ]
        assert detail.json()["text"] == "version one"
        assert detail.json()["html"] == "<p>version one</p>"


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("nonmember", 404), ("viewer", 403), ("editor", 201), ("owner", 201)],
)
def test_create_permissions(callers: dict[str, APIClient], document: Document, caller: str, expected: int) -> None:
    replace_content(document, "markdown", "content")
    response = callers[caller].post(base(document), {"name": "  Draft  "}, format="json")
    assert response.status_code == expected
    if expected == 201:
        assert response.json()["name"] == "Draft"
        version = Version.objects.get(pk=response.json()["id"])
        assert version.automatic is False
        assert version.author.username == ("bob" if caller == "editor" else "alice")
    else:
        assert not Version.objects.exists()


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 201}])
def test_create_bad_name(callers: dict[str, APIClient], document: Document, body: dict[str, Any]) -> None:
    response = callers["editor"].post(base(document), body, format="json")
    assert response.status_code == 400
    assert "name" in response.json()


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("nonmember", 404), ("viewer", 403), ("editor", 200), ("owner", 200)],
)
def test_restore_permissions(
    callers: dict[str, APIClient], document: Document, version: Version, caller: str, expected: int
) -> None:
    replace_content(document, "markdown", "later text")
    response = callers[caller].post(f"{base(document)}{version.pk}/restore")
    assert response.status_code == expected
    if expected == 200:
        assert document_text(document) == "version one"
        assert response.json()["name"] == "Before restoring v1"
    else:
        assert document_text(document) == "later text"


def test_unknown_version_is_404(callers: dict[str, APIClient], document: Document, version: Version) -> None:
    other = Document.objects.create(title="Other", owner=document.owner)
    other_version = create_version(other, "elsewhere", None)
    for path in (f"{base(document)}999999/", f"{base(document)}abc/", f"{base(document)}{other_version.pk}/"):
        assert callers["owner"].get(path).status_code == 404
    assert callers["owner"].post(f"{base(document)}{other_version.pk}/restore").status_code == 404


def test_restore_is_undoable(document: Document, alice: Any) -> None:
    replace_content(document, "markdown", "# Title\n\n- one\n- **two**")
    first = create_version(document, "first", alice)
    replace_content(document, "html", "<p>entirely different</p>")
    backup = restore_version(document, first, alice)
    assert document_text(document) == "Title\none\ntwo"
    assert backup.automatic
    restore_version(document, backup, alice)
    assert document_text(document) == "entirely different"


def test_versions_survive_compaction(document: Document, alice: Any) -> None:
    replace_content(document, "markdown", "one")
    version = create_version(document, "v", alice)
    replace_content(document, "markdown", "two")
    assert compact_now(document.pk) == 2
    assert not DocumentUpdate.objects.filter(document=document).exists()
    assert Version.objects.filter(pk=version.pk).exists()
    assert document_text(document) == "two"
    restore_version(document, version, alice)
    assert document_text(document) == "one"


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_live_editor_sees_restore(live_server_url: Any, document: Document, bob: Any) -> None:
    token = (await sync_to_async(Token.objects.get_or_create)(user=bob))[0].key
    headers = {"Authorization": f"Token {token}"}
    client = await open_client(live_server_url.ws_url, document.pk, token)
    client.add_paragraph("first draft")
    await until_server_text(live_server_url.http_url, document.pk, token, "first draft")  # before it is saved

    def post(path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{live_server_url.http_url}{base(document)}{path}", headers=headers, timeout=10, **kwargs)

    saved = await sync_to_async(post)("", json={"name": "draft"})
    assert saved.status_code == 201, saved.text
    client.insert_text(0, 0, "edited ")
    await until_server_text(live_server_url.http_url, document.pk, token, "edited first draft")  # before the restore
    restored = await sync_to_async(post)(f"{saved.json()['id']}/restore")
    assert restored.status_code == 200, restored.text
    await client.wait_for(lambda: client.paragraph_texts() == ["first draft"], timeout=5)
    await client.close()


@pytest.mark.django_db(transaction=True)
async def test_editing_session_end_keeps_an_automatic_version(start_server: Any, document: Any, alice: Any) -> None:
    token = (await Token.objects.aget_or_create(user=alice))[0].key
    server = start_server(COLLAB_ROOM_GRACE_SECONDS="0.2")
    client = await open_client(server.ws_url, document.pk, token)
    client.add_paragraph("a session's work")
    await until_server_text(server.http_url, document.pk, token, "a session's work")  # the session changed the room
    await client.close()
    async with asyncio.timeout(10):
        while not await Version.objects.filter(document=document, automatic=True).aexists():
            await asyncio.sleep(0.1)
    version = await Version.objects.aget(document=document, automatic=True)
    assert version_text(version) == "a session's work"


@pytest.mark.django_db(transaction=True)
async def test_long_editing_session_keeps_periodic_versions(start_server: Any, document: Any, alice: Any) -> None:
    token = (await Token.objects.aget_or_create(user=alice))[0].key
    server = start_server(COLLAB_AUTO_VERSION_MINUTES="0.01")  # 0.6 s
    client = await open_client(server.ws_url, document.pk, token)
    client.add_paragraph("first")
    async with asyncio.timeout(10):
        while not await Version.objects.filter(document=document, automatic=True).aexists():
            await asyncio.sleep(0.1)
    client.add_paragraph("second")
    async with asyncio.timeout(10):
        while await Version.objects.filter(document=document, automatic=True).acount() < 2:
            await asyncio.sleep(0.1)
    versions = [v async for v in Version.objects.filter(document=document, automatic=True).order_by("created_at")]
    assert [version_text(v) for v in versions[:2]] == ["first", "first\nsecond"]
    await client.close()
