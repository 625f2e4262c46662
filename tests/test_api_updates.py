"""Whole-state exports (``export?format=yjs|json``) and raw Yjs updates (``POST .../update``) over the REST API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pycrdt
import pytest
import requests
from asgiref.sync import sync_to_async
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from documents.bridge import document_text, replace_content
from documents.models import Document, DocumentUpdate
from documents.richtext import fragment_of, to_markdown, to_text, write_markdown
from documents.richtext.prosemirror_json import to_prosemirror_json
from tests.test_prosemirror import CANONICAL_MARKDOWN
from tests.tiptap_json import skip_without_editor, tiptap_json
from tests.waiting import until_server_text, until_value
from tests.yclient import open_client

pytestmark = pytest.mark.django_db
# Paragraphs and headings carry their alignment, null unless set (as the editor's getJSON() gives them)
ALIGN_NONE = {"textAlign": None}
EXPORT = "/api/documents/{id}/export"
UPDATE = "/api/documents/{id}/update"
OCTETS = "application/octet-stream"


def exported_doc(client: APIClient, document: Document) -> pycrdt.Doc:
    """An empty Doc with the ``yjs`` export applied."""
    response = client.get(EXPORT.format(id=document.pk), {"format": "yjs"})
    assert response.status_code == 200
    assert response["Content-Type"] == OCTETS
    doc: pycrdt.Doc = pycrdt.Doc()
    doc.apply_update(response.content)
    return doc


def paragraph_update(base: pycrdt.Doc, text: str, client_id: int | None = None) -> bytes:
    """The update appending a paragraph holding ``text`` to a copy of ``base``'s state."""
    doc: pycrdt.Doc = pycrdt.Doc(client_id=client_id) if client_id is not None else pycrdt.Doc()
    doc.apply_update(base.get_update())
    before = doc.get_state()
    paragraph = fragment_of(doc).children.append(pycrdt.XmlElement("paragraph"))
    paragraph.children.append(pycrdt.XmlText(text))
    return doc.get_update(before)


def post_update(client: APIClient, document: Document, body: bytes, content_type: str = OCTETS) -> Any:
    return client.post(UPDATE.format(id=document.pk), body, content_type=content_type)


def stored() -> list[bytes]:
    return [bytes(row) for row in DocumentUpdate.objects.order_by("id").values_list("data", flat=True)]


# -- exports -----------------------------------------------------------------------------------------------------------
def test_yjs_export_round_trips(callers: dict[str, APIClient], document: Document) -> None:
    replace_content(document, "markdown", "# Plans\n\nSome **bold** text\n\n- one\n- two\n")
    doc = exported_doc(callers["viewer"], document)
    assert to_markdown(fragment_of(doc)) == "# Plans\n\nSome **bold** text\n\n- one\n- two\n"
    response = callers["viewer"].get(EXPORT.format(id=document.pk), {"format": "yjs"})
    assert response["Content-Disposition"] == 'attachment; filename="Plans.yjs"'


def test_yjs_export_of_an_empty_document_is_an_empty_doc(callers: dict[str, APIClient], document: Document) -> None:
    doc = exported_doc(callers["viewer"], document)
    assert str(fragment_of(doc)) == ""


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    """A ProseMirror text node."""
    return {"type": "text", "text": value, **({"marks": list(marks)} if marks else {})}


def test_json_export_shape(callers: dict[str, APIClient], document: Document) -> None:
    markdown = "# Title\n\nSome **bold** and [a link](https://example.com/)\n\n- one\n\n```py\nx = 1\n```\n\n---\n"
    replace_content(document, "markdown", markdown)
    response = callers["viewer"].get(EXPORT.format(id=document.pk), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    link = {"href": "https://example.com/", "target": "_blank", "rel": "noopener noreferrer nofollow"}
    assert json.loads(response.content) == {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 1, "textAlign": None}, "content": [text("Title")]},
            {
                "type": "paragraph",
                "attrs": ALIGN_NONE,
                "content": [
                    text("Some "),
                    text("bold", {"type": "bold"}),
                    text(" and "),
                    text("a link", {"type": "link", "attrs": {**link, "class": None, "title": None}}),
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "attrs": ALIGN_NONE, "content": [text("one")]}],
                    }
                ],
            },
            {"type": "codeBlock", "attrs": {"language": "py"}, "content": [text("x = 1")]},
            {"type": "horizontalRule"},
        ],
    }


def test_json_export_of_an_empty_document(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["viewer"].get(EXPORT.format(id=document.pk), {"format": "json"})
    assert json.loads(response.content) == {"type": "doc", "content": [{"type": "paragraph", "attrs": ALIGN_NONE}]}


def test_json_drops_what_the_table_does_not_trust() -> None:
    doc: pycrdt.Doc = pycrdt.Doc()
    fragment = fragment_of(doc)
    heading = fragment.children.append(pycrdt.XmlElement("heading", {"level": 9}))
    heading.children.append(pycrdt.XmlText("deep"))
    unknown = fragment.children.append(pycrdt.XmlElement("mystery"))
    text = unknown.children.append(pycrdt.XmlText())
    text.insert(0, "click", {"link": {"href": "javascript:alert(1)"}, "sparkle": {}})
    assert to_prosemirror_json(fragment)["content"] == [
        {"type": "heading", "attrs": {"level": 6, "textAlign": None}, "content": [{"type": "text", "text": "deep"}]},
        {"type": "paragraph", "attrs": ALIGN_NONE, "content": [{"type": "text", "text": "click"}]},
    ]


@pytest.mark.node
def test_json_export_is_what_tiptap_gets() -> None:
    """The real editor's ``getJSON()`` of the same Yjs documents."""
    skip_without_editor()
    sources = [*CANONICAL_MARKDOWN, "# T\n\n[x](https://example.com/ 'a title') `code` ~~gone~~\n", ""]
    docs = []
    for markdown in sources:
        doc: pycrdt.Doc = pycrdt.Doc()
        write_markdown(fragment_of(doc), markdown)
        docs.append(doc)
    expected_json = tiptap_json([doc.get_update() for doc in docs])
    for markdown, doc, expected in zip(sources, docs, expected_json, strict=True):
        assert to_prosemirror_json(fragment_of(doc)) == expected, markdown


# -- raw updates -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("nonmember", 404), ("staff", 404), ("viewer", 403), ("editor", 204), ("owner", 204)],
)
def test_update_permissions(callers: dict[str, APIClient], document: Document, caller: str, expected: int) -> None:
    update = paragraph_update(pycrdt.Doc(), "from a script")
    response = post_update(callers[caller], document, update)
    assert response.status_code == expected, response.content
    assert document_text(document) == ("from a script" if expected == 204 else "")
    assert len(stored()) == (1 if expected == 204 else 0)


def test_update_builds_on_the_current_state(callers: dict[str, APIClient], document: Document) -> None:
    replace_content(document, "markdown", "first")
    base = exported_doc(callers["editor"], document)
    assert post_update(callers["editor"], document, paragraph_update(base, "second")).status_code == 204
    assert document_text(document) == "first\nsecond"
    again = post_update(callers["editor"], document, paragraph_update(base, "second"))
    assert again.status_code == 204  # a new paragraph again: another client id wrote it
    assert document_text(document) == "first\nsecond\nsecond"
    same = paragraph_update(base, "third", client_id=4242)
    assert post_update(callers["editor"], document, same).status_code == 204
    rows = len(stored())
    assert post_update(callers["editor"], document, same).status_code == 204  # already held: nothing changes
    assert len(stored()) == rows


def corrupt_updates() -> list[tuple[str, bytes]]:
    valid = paragraph_update(pycrdt.Doc(), "hello")
    base: pycrdt.Doc = pycrdt.Doc()
    base.apply_update(valid)
    later = paragraph_update(base, "needs hello first")
    return [
        ("random", bytes(range(7, 64))),
        ("truncated", valid[:-3]),
        ("trailing-garbage", valid + b"\x01\x02"),
        ("one-byte", b"\x01"),
        ("not-ready", later),  # builds on items the document does not have
    ]


@pytest.mark.parametrize(("name", "update"), corrupt_updates(), ids=[name for name, _ in corrupt_updates()])
def test_corrupt_update_is_refused_and_changes_nothing(
    callers: dict[str, APIClient], document: Document, name: str, update: bytes
) -> None:
    replace_content(document, "markdown", "kept")
    before = stored()
    response = post_update(callers["editor"], document, update)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert stored() == before
    assert document_text(document) == "kept"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"", OCTETS), (b'{"update": "AAA="}', "application/json"), (b"x", "text/plain")],
)
def test_update_body_must_be_octets(
    callers: dict[str, APIClient], document: Document, body: bytes, content_type: str
) -> None:
    response = post_update(callers["editor"], document, body, content_type)
    assert response.status_code == 400
    assert OCTETS in response.json()["detail"]
    assert stored() == []


def test_updates_are_throttled_per_user(
    callers: dict[str, APIClient], document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache
    from rest_framework.throttling import ScopedRateThrottle

    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"updates": "2/min"})
    base: pycrdt.Doc = pycrdt.Doc()
    for text in ("one", "two"):
        assert post_update(callers["editor"], document, paragraph_update(base, text)).status_code == 204
    refused = post_update(callers["editor"], document, paragraph_update(base, "three"))
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert document_text(document) in ("one\ntwo", "two\none")  # the refused one changed nothing
    # Per user: the owner still has the whole allowance.
    assert post_update(callers["owner"], document, paragraph_update(base, "four")).status_code == 204
    cache.clear()


@override_settings(COLLAB={"MAX_MESSAGE_BYTES": 64})
def test_update_over_the_message_limit_is_413(callers: dict[str, APIClient], document: Document) -> None:
    update = paragraph_update(pycrdt.Doc(), "x" * 100)
    response = post_update(callers["editor"], document, update)
    assert response.status_code == 413
    assert "COLLAB_MAX_MESSAGE_BYTES" in response.json()["detail"]
    assert stored() == []
    assert post_update(callers["editor"], document, paragraph_update(pycrdt.Doc(), "short")).status_code == 204


# -- against a real server -------------------------------------------------------------------------------------------
async def token_of(user: Any) -> str:
    return (await sync_to_async(Token.objects.get_or_create)(user=user))[0].key


async def http(method: str, url: str, token: str, body: bytes | None = None, **params: str) -> requests.Response:
    """One request from a thread (``requests`` blocks); a body is sent as a raw Yjs update."""
    headers = {"Authorization": f"Token {token}"}
    if body is not None:
        headers["Content-Type"] = OCTETS
    return await asyncio.to_thread(requests.request, method, url, headers=headers, data=body, params=params, timeout=10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_live_client_sees_posted_update_and_exports_are_live(
    start_server: Any, document: Document, alice: Any, bob: Any
) -> None:
    # A long flush window: what the exports show can only come from the live room, not from storage.
    server = start_server(COLLAB_FLUSH_INTERVAL="30")
    bob_token, alice_token = await token_of(bob), await token_of(alice)
    client = await open_client(server.ws_url, document.pk, bob_token)
    client.add_paragraph("typed by bob")
    await until_server_text(server.http_url, document.pk, alice_token, "typed by bob")
    export = f"{server.http_url}/api/documents/{document.pk}/export"
    state = await http("GET", export, alice_token, format="yjs")
    assert state.headers["Content-Type"] == OCTETS
    base: pycrdt.Doc = pycrdt.Doc()
    base.apply_update(state.content)
    assert to_text(fragment_of(base)) == "typed by bob"
    prosemirror = (await http("GET", export, alice_token, format="json")).json()
    assert prosemirror["content"] == [
        {"type": "paragraph", "attrs": ALIGN_NONE, "content": [{"type": "text", "text": "typed by bob"}]}
    ]

    url = f"{server.http_url}/api/documents/{document.pk}/update"
    posted = paragraph_update(base, "posted by alice")
    response = await http("POST", url, alice_token, posted)
    assert response.status_code == 204, response.text
    await client.wait_for(lambda: client.paragraph_texts() == ["typed by bob", "posted by alice"], timeout=5)

    # Bob's client id is bob's: an update adding to it from alice is refused; a corrupt one too.
    forged = await http("POST", url, alice_token, paragraph_update(base, "forged", client_id=client.doc.client_id))
    assert forged.status_code == 400 and "another user" in forged.json()["detail"], forged.text
    corrupt = await http("POST", url, alice_token, paragraph_update(base, "x")[:-2] + b"\xff\xff")
    assert corrupt.status_code == 400, corrupt.text
    # Updates reach the client in order: once the next good one arrived, nothing of the refused ones came before it.
    base.apply_update(posted)
    assert (await http("POST", url, alice_token, paragraph_update(base, "last"))).status_code == 204
    await client.wait_for(lambda: len(client.paragraph_texts()) == 3, timeout=5)
    assert client.paragraph_texts() == ["typed by bob", "posted by alice", "last"]
    await client.close()

    # Stored like a connection's updates: in the database once the room unloads (it flushes then).
    async def stored_text() -> str:
        return await sync_to_async(document_text)(document)

    await until_value(stored_text, lambda text: text == "typed by bob\nposted by alice\nlast", "the stored text")
