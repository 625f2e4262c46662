"""The REST API: the permission matrix of every endpoint, response shapes, bad input, tokens and the schema."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from documents.models import Document, Membership
from tests.conftest import CALLERS, PASSWORD

LIST = "/api/documents/"
DETAIL = "/api/documents/{id}/"
MEMBERS = "/api/documents/{id}/members/"
MEMBER = "/api/documents/{id}/members/{username}/"
EXPORT = "/api/documents/{id}/export"
DOCUMENT_KEYS = {"id", "title", "role", "owner", "created_at", "updated_at"}
pytestmark = pytest.mark.usefixtures("fake_content")


def expected(viewer: int, editor: int, owner: int, outsider: int = 404) -> dict[str, int]:
    """A row of the permission matrix: anonymous is always 401; non-members and staff get ``outsider``."""
    return {
        "anonymous": 401,
        "nonmember": outsider,
        "staff": outsider,
        "viewer": viewer,
        "editor": editor,
        "owner": owner,
    }


# method, path, JSON body, expected status per caller.
MATRIX = [
    ("get", LIST, None, expected(200, 200, 200, outsider=200)),
    ("post", LIST, {"title": "New"}, expected(201, 201, 201, outsider=201)),
    ("get", DETAIL, None, expected(200, 200, 200)),
    ("patch", DETAIL, {"title": "Renamed"}, expected(403, 200, 200)),
    ("delete", DETAIL, None, expected(403, 403, 204)),
    ("get", MEMBERS, None, expected(200, 200, 200)),
    ("post", MEMBERS, {"username": "dave", "role": "viewer"}, expected(403, 403, 201)),
    ("delete", MEMBER, None, expected(403, 403, 204)),
    ("get", EXPORT + "?format=markdown", None, expected(200, 200, 200)),
]
CASES = [
    pytest.param(method, path, body, caller, statuses[caller], id=f"{method}-{path}-{caller}")
    for method, path, body, statuses in MATRIX
    for caller in CALLERS
]


def state() -> tuple[Any, ...]:
    """Everything an API call could change, to prove refused calls change nothing."""
    documents = sorted(Document.objects.values_list("id", "title", "owner__username"))
    members = sorted(Membership.objects.values_list("document_id", "user__username", "role"))
    return tuple(documents), tuple(members)


def call(client: APIClient, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    """Send ``body`` as JSON (or nothing) with ``method``."""
    if body is None:
        return getattr(client, method)(path, **extra)
    return getattr(client, method)(path, body, format="json", **extra)


@pytest.mark.parametrize(("method", "path", "body", "caller", "status"), CASES)
def test_permission_matrix(
    callers: dict[str, APIClient], document: Document, method: str, path: str, body: Any, caller: str, status: int
) -> None:
    before = state()
    url = path.format(id=document.pk, username="carol")
    response = call(callers[caller], method, url, body)
    assert response.status_code == status, response.content
    if status >= 400:
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()
        assert state() == before
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path", "body"), [(m, p, b) for m, p, b, _ in MATRIX])
def test_invalid_token_is_401(document: Document, method: str, path: str, body: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = call(client, method, path.format(id=document.pk, username="carol"), body)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path", "body"), [(m, p, b) for m, p, b, _ in MATRIX if "{id}" in p])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1234"])
def test_unknown_or_malformed_document_id_is_404(
    callers: dict[str, APIClient], method: str, path: str, body: Any, bad_id: str
) -> None:
    before = state()
    response = call(callers["owner"], method, path.format(id=bad_id, username="carol"), body)
    assert response.status_code == 404
    assert response.json() == {"detail": "Document not found."}
    assert state() == before


def test_list_shows_owned_and_shared_with_roles(callers: dict[str, APIClient], document: Document, dave: Any) -> None:
    Document.objects.create(title="Dave's own", owner=dave)
    for caller, role in [("owner", "owner"), ("editor", "editor"), ("viewer", "viewer")]:
        rows = callers[caller].get(LIST).json()["results"]
        assert rows == [
            {
                "id": str(document.pk),
                "title": "Plans",
                "role": role,
                "owner": "alice",
                "created_at": rows[0]["created_at"],
                "updated_at": rows[0]["updated_at"],
            }
        ]
    assert [row["title"] for row in callers["nonmember"].get(LIST).json()["results"]] == ["Dave's own"]


def test_create_strips_title_and_makes_caller_owner(callers: dict[str, APIClient], bob: Any) -> None:
    response = callers["editor"].post(LIST, {"title": "  Notes \n"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == DOCUMENT_KEYS
    assert (body["title"], body["role"], body["owner"]) == ("Notes", "owner", "bob")
    assert Document.objects.get(pk=body["id"]).owner == bob


def test_detail_has_text(callers: dict[str, APIClient], document: Document) -> None:
    body = callers["viewer"].get(DETAIL.format(id=document.pk)).json()
    assert set(body) == {*DOCUMENT_KEYS, "text"}
    assert (body["role"], body["owner"], body["text"]) == ("viewer", "alice", "Plans\nsecond line")


@pytest.mark.real_content
def test_detail_text_of_a_new_document_is_empty(callers: dict[str, APIClient], document: Document) -> None:
    body = callers["viewer"].get(DETAIL.format(id=document.pk)).json()
    assert body["text"] == ""


def test_rename_by_editor(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["editor"].patch(DETAIL.format(id=document.pk), {"title": " Better "}, format="json")
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["role"]) == ("Better", "editor")
    document.refresh_from_db()
    assert document.title == "Better"


def test_delete_announces_to_live_rooms(
    callers: dict[str, APIClient],
    document: Document,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
) -> None:
    announced: list[Any] = []
    monkeypatch.setattr("documents.bridge.announce_document_deleted", announced.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = callers["owner"].delete(DETAIL.format(id=document.pk))
    assert response.status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert announced == [document.pk]


def test_members_list_owner_first(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["viewer"].get(MEMBERS.format(id=document.pk))
    assert response.json() == [
        {"username": "alice", "role": "owner"},
        {"username": "bob", "role": "editor"},
        {"username": "carol", "role": "viewer"},
    ]


def test_member_add_then_change_role(callers: dict[str, APIClient], document: Document, dave: Any) -> None:
    url = MEMBERS.format(id=document.pk)
    added = callers["owner"].post(url, {"username": "dave", "role": "viewer"}, format="json")
    assert (added.status_code, added.json()) == (201, {"username": "dave", "role": "viewer"})
    changed = callers["owner"].post(url, {"username": "dave", "role": "editor"}, format="json")
    assert (changed.status_code, changed.json()) == (200, {"username": "dave", "role": "editor"})
    assert Membership.objects.get(document=document, user=dave).role == "editor"
    assert callers["nonmember"].get(DETAIL.format(id=document.pk)).json()["role"] == "editor"


@pytest.mark.parametrize("username", ["dave", "alice", "nobody"])
def test_member_delete_of_non_member_is_404(callers: dict[str, APIClient], document: Document, username: str) -> None:
    before = state()
    response = callers["owner"].delete(MEMBER.format(id=document.pk, username=username))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such member."}
    assert state() == before


def test_member_delete_revokes_access(callers: dict[str, APIClient], document: Document) -> None:
    assert callers["owner"].delete(MEMBER.format(id=document.pk, username="bob")).status_code == 204
    assert callers["editor"].get(DETAIL.format(id=document.pk)).status_code == 404


@pytest.mark.parametrize(
    ("fmt", "content_type", "filename"),
    [
        ("markdown", "text/markdown; charset=utf-8", "Plans.md"),
        ("html", "text/html; charset=utf-8", "Plans.html"),
        ("text", "text/plain; charset=utf-8", "Plans.txt"),
    ],
)
def test_export_formats(
    callers: dict[str, APIClient], document: Document, fmt: str, content_type: str, filename: str, fake_content: list
) -> None:
    response = callers["viewer"].get(EXPORT.format(id=document.pk), {"format": fmt}, HTTP_ACCEPT=content_type)
    assert response.status_code == 200
    assert response.content.decode() == f"{fmt}: Plans ✓"
    assert fake_content == [("export", fmt)]
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'


def test_export_filename_is_sanitised(callers: dict[str, APIClient], alice: Any) -> None:
    document = Document.objects.create(title='a/b\\c"d: Überblick', owner=alice)
    response = callers["owner"].get(EXPORT.format(id=document.pk), {"format": "text"})
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''a_b_c_d_%20%C3%9Cberblick.txt"


def test_token_endpoint(alice: Any, document: Document) -> None:
    client = APIClient()
    first = client.post("/api/token/", {"username": "alice", "password": PASSWORD}, format="json")
    again = client.post("/api/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"token": Token.objects.get(user=alice).key}
    client.credentials(HTTP_AUTHORIZATION=f"Token {first.json()['token']}")
    assert client.get(DETAIL.format(id=document.pk)).json()["role"] == "owner"


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("nobody", PASSWORD), ("alice", "")])
def test_token_endpoint_refuses_bad_credentials(alice: Any, username: str, password: str) -> None:
    response = APIClient().post("/api/token/", {"username": username, "password": password or " "}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Invalid username or password."}
    assert not Token.objects.exists()


def test_session_auth_requires_csrf(alice: Any, document: Document) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(DETAIL.format(id=document.pk)).status_code == 200
    response = client.patch(DETAIL.format(id=document.pk), {"title": "Forged"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    document.refresh_from_db()
    assert document.title == "Plans"


def test_client_errors_are_logged_once(
    callers: dict[str, APIClient], document: Document, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(
        "documents.web.api"
    )  # the "documents" logger does not propagate to caplog's root handler
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="documents.web.api"):
            callers["viewer"].delete(DETAIL.format(id=document.pk))
    finally:
        logger.removeHandler(caplog.handler)
    records = [r for r in caplog.records if r.name == "documents.web.api"]
    assert len(records) == 1
    assert "DELETE" in records[0].getMessage() and "403" in records[0].getMessage()


def test_unknown_api_path_is_json_404(callers: dict[str, APIClient]) -> None:
    response = callers["owner"].get("/api/nothing/here")
    assert response.status_code == 404
    assert json.loads(response.content) == {"detail": "Not found."}


def test_schema_lists_every_endpoint(db: Any) -> None:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {
        "/api/token/",
        "/api/documents/",
        "/api/documents/{document_id}/",
        "/api/documents/{document_id}/members/",
        "/api/documents/{document_id}/members/{username}/",
        "/api/documents/{document_id}/export",
    }
    assert set(schema["paths"]["/api/documents/{document_id}/"]) >= {"get", "patch", "delete"}
    export = schema["paths"]["/api/documents/{document_id}/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {
        "text/markdown",
        "text/html",
        "text/plain",
        "application/json",
        "application/octet-stream",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "application/zip",
    }
