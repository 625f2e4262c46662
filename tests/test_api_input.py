"""The REST API refuses bad input with a 400 JSON body naming the field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.test_api import DETAIL, EXPORT, LIST, MEMBERS, state

HUGE = "x" * (10 * 1024 * 1024)
pytestmark = pytest.mark.usefixtures("fake_content")

# id, method, path, JSON body (None: no body), fields the error must name.
BAD_INPUT = [
    ("create-missing-title", "post", LIST, {}, {"title"}),
    ("create-empty-title", "post", LIST, {"title": ""}, {"title"}),
    ("create-blank-title", "post", LIST, {"title": "   \n"}, {"title"}),
    ("create-null-title", "post", LIST, {"title": None}, {"title"}),
    ("create-object-title", "post", LIST, {"title": {"a": 1}}, {"title"}),
    ("create-number-title", "post", LIST, {"title": 5}, {"title"}),
    ("create-boolean-title", "post", LIST, {"title": True}, {"title"}),
    ("rename-number-title", "patch", DETAIL, {"title": 1.5}, {"title"}),
    ("member-number-username", "post", MEMBERS, {"username": 7, "role": "viewer"}, {"username"}),
    ("token-number-fields", "post", "/api/token/", {"username": 1, "password": 2}, {"username", "password"}),
    ("create-201-char-title", "post", LIST, {"title": "t" * 201}, {"title"}),
    ("create-10mb-title", "post", LIST, {"title": HUGE}, {"title"}),
    ("rename-empty-title", "patch", DETAIL, {"title": " "}, {"title"}),
    ("rename-10mb-title", "patch", DETAIL, {"title": HUGE}, {"title"}),
    ("member-unknown-role", "post", MEMBERS, {"username": "dave", "role": "admin"}, {"role"}),
    ("member-owner-role", "post", MEMBERS, {"username": "dave", "role": "owner"}, {"role"}),
    ("member-unknown-username", "post", MEMBERS, {"username": "nobody", "role": "viewer"}, {"username"}),
    ("member-owner-themselves", "post", MEMBERS, {"username": "alice", "role": "editor"}, {"username"}),
    ("member-missing-fields", "post", MEMBERS, {}, {"username", "role"}),
    ("export-unknown-format", "get", EXPORT + "?format=pdf", None, {"format"}),
    ("export-missing-format", "get", EXPORT, None, {"format"}),
    ("export-format-wrong-case", "get", EXPORT + "?format=YJS", None, {"format"}),
    ("token-missing-fields", "post", "/api/token/", {}, {"username", "password"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"), [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT]
)
def test_bad_input_names_the_field(
    callers: dict[str, APIClient], document: Any, dave: Any, method: str, path: str, body: Any, fields: set[str]
) -> None:
    before = state()
    url = path.format(id=document.pk)
    client = callers["owner"]
    response = getattr(client, method)(url) if body is None else getattr(client, method)(url, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == fields
    assert all(isinstance(messages, list) and messages for messages in response.json().values())
    assert len(response.content) < 2000  # the error does not echo a huge value back
    assert state() == before


# id, raw body, content type.
UNUSABLE_BODIES = [
    ("malformed-json", b'{"title": ', "application/json"),
    ("not-utf8-json", b'{"title": "\xff"}', "application/json"),
    ("plain-text", b"title=Hello", "text/plain"),
    ("form-urlencoded", b"title=Hello", "application/x-www-form-urlencoded"),
    (
        "multipart",
        b"--B\r\nContent-Disposition: form-data; name=title\r\n\r\nHi\r\n--B--\r\n",
        "multipart/form-data; boundary=B",
    ),
    ("json-list", b'["title"]', "application/json"),
]


@pytest.mark.parametrize(("raw", "content_type"), [pytest.param(*case[1:], id=case[0]) for case in UNUSABLE_BODIES])
@pytest.mark.parametrize(("method", "path"), [("post", LIST), ("patch", DETAIL), ("post", MEMBERS)])
def test_unusable_body_is_400_json(
    callers: dict[str, APIClient], document: Any, method: str, path: str, raw: bytes, content_type: str
) -> None:
    before = state()
    response = getattr(callers["owner"], method)(path.format(id=document.pk), raw, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict) and body
    assert state() == before


def test_malformed_json_explains(callers: dict[str, APIClient], document: Any) -> None:
    response = callers["owner"].post(LIST, b"{nope", content_type="application/json")
    assert response.json()["detail"].startswith("JSON parse error")


def test_wrong_content_type_explains(callers: dict[str, APIClient], document: Any) -> None:
    response = callers["owner"].post(LIST, b"title=x", content_type="text/plain")
    assert "application/json" in response.json()["detail"]


def test_token_endpoint_rejects_form_data(alice: Any) -> None:
    response = APIClient().post("/api/token/", {"username": "alice", "password": "x"})  # multipart
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert not Token.objects.exists()
