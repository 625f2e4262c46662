"""API conventions: the schema (valid, warning-free, and declaring exactly what input is refused), its pages under the
Content-Security-Policy, and the paginated, searchable, sortable document list."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command
from rest_framework.test import APIClient

from documents.models import Document, Membership
from documents.web.api import ORDERINGS
from tests.test_api import DETAIL, EXPORT, LIST, MEMBERS, state

pytestmark = pytest.mark.django_db
CONTENT = "/api/documents/{id}/content"
VERSIONS = "/api/documents/{id}/versions/"
TOKEN = "/api/token/"


def openapi(client: APIClient | None = None) -> dict[str, Any]:
    """The served schema, as JSON."""
    response = (client or APIClient()).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


# -- the schema -------------------------------------------------------------------------------------------------------
def test_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    """What ``manage.py spectacular --validate --fail-on-warn`` checks: no generator warning or error, and the
    result valid against the OpenAPI 3 JSON schema."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/documents/{document_id}/update" in out.read_text()


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


def test_schema_declares_text_rules() -> None:
    schemas = openapi()["components"]["schemas"]
    title = {"type": "string", "minLength": 1, "maxLength": Document.TITLE_MAX_LENGTH, "pattern": "\\S"}
    assert schemas["PatchedTitle"]["properties"]["title"] == title
    assert schemas["DocumentCreate"]["properties"]["title"] == title
    assert schemas["DocumentCreate"]["required"] == ["title"]
    assert schemas["MemberWrite"]["properties"]["username"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 150,
        "pattern": "\\S",
    }
    password = schemas["TokenRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"], "pattern" in password) == (1, 4096, False)
    assert schemas["VersionCreate"]["properties"]["name"]["minLength"] == 1
    content = schemas["Content"]["properties"]["content"]
    assert content["type"] == "string" and "minLength" not in content  # may be empty
    assert "COLLAB_MAX_IMPORT_BYTES" in content["description"]  # a limit in bytes, which JSON Schema cannot say
    assert schemas["FormatEnum"]["enum"] == ["markdown", "html"]
    assert schemas["MemberRoleEnum"]["enum"] == ["viewer", "editor"]


def test_schema_declares_list_parameters_and_envelope() -> None:
    schema = openapi()
    operation = schema["paths"]["/api/documents/"]["get"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1}
    assert parameters["search"] == {"type": "string", "pattern": "^[^\\u0000]*$"}
    assert sorted(parameters["ordering"]["enum"]) == sorted(ORDERINGS)
    envelope_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    envelope = component(schema, envelope_ref.rsplit("/", 1)[1])
    assert envelope["required"] == ["count", "results"]
    assert set(envelope["properties"]) == {"count", "next", "previous", "results"}


def test_schema_declares_exports_and_updates() -> None:
    paths = openapi()["paths"]
    export = paths["/api/documents/{document_id}/export"]["get"]
    fmt = next(parameter for parameter in export["parameters"] if parameter["name"] == "format")
    assert sorted(fmt["schema"]["enum"]) == ["docx", "html", "json", "markdown", "odt", "text", "yjs", "zip"]
    assert export["responses"]["200"]["content"]["application/octet-stream"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert export["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["type"]["enum"] == ["doc"]
    update = paths["/api/documents/{document_id}/update"]["post"]
    assert list(update["requestBody"]["content"]) == ["application/octet-stream"]
    assert set(update["responses"]) == {"204", "400", "401", "403", "404", "413", "429"}


# -- what the schema declares is what the API enforces ------------------------------------------------------------
# operation, component, field, a valid body the probes change one field of.
FIELDS = [
    ("post", LIST, "DocumentCreate", "title", {"title": "ok"}),
    ("patch", DETAIL, "PatchedTitle", "title", {"title": "ok"}),
    ("post", MEMBERS, "MemberWrite", "username", {"username": "dave", "role": "viewer"}),
    ("post", MEMBERS, "MemberWrite", "role", {"username": "dave", "role": "viewer"}),
    ("put", CONTENT, "Content", "format", {"format": "markdown", "content": "x"}),
    ("put", CONTENT, "Content", "content", {"format": "markdown", "content": "x"}),
    ("post", VERSIONS, "VersionCreate", "name", {"name": "ok"}),
    ("post", TOKEN, "TokenRequest", "username", {"username": "alice", "password": "x"}),
    ("post", TOKEN, "TokenRequest", "password", {"username": "alice", "password": "x"}),
]
NOT_STRINGS = [5, 0, 1.5, True, False, None, [], ["x"], {}, {"a": "b"}]


def resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """A property with its enum component (``allOf: [{$ref}]`` or a plain ``$ref``) resolved."""
    ref = prop.get("$ref") or next((part["$ref"] for part in prop.get("allOf", []) if "$ref" in part), None)
    return {**prop, **component(schema, ref.rsplit("/", 1)[1])} if ref else prop


def probes(prop: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Values the declared property allows, and values it forbids."""
    allowed: list[Any] = []
    forbidden: list[Any] = list(NOT_STRINGS)
    if "enum" in prop:
        return list(prop["enum"]), [*forbidden, "nope", "", prop["enum"][0].upper()]
    low, high = prop.get("minLength", 0), prop.get("maxLength")
    allowed.append("a" * max(low, 1))
    (forbidden if low >= 1 else allowed).append("")
    if high is not None:
        allowed.append("a" * high)
        forbidden.append("a" * (high + 1))
    (forbidden if prop.get("pattern") == "\\S" else allowed).append(" \t\n ")
    return allowed, forbidden


@pytest.mark.parametrize(("method", "path", "name", "field", "body"), FIELDS, ids=[f"{f[2]}.{f[3]}" for f in FIELDS])
def test_declared_constraints_are_the_enforced_ones(
    callers: dict[str, APIClient],
    document: Document,
    dave: Any,
    make_user: Callable[..., Any],
    method: str,
    path: str,
    name: str,
    field: str,
    body: dict[str, Any],
) -> None:
    schema = openapi()
    prop = resolve(schema, component(schema, name)["properties"][field])
    assert prop["type"] == "string"
    allowed, forbidden = probes(prop)
    if field == "username" and name == "MemberWrite":
        for value in allowed:  # a member's username must name a user: make one for each allowed value
            if value.strip() and value.strip() != "dave":
                make_user(value.strip())
    client = callers["owner"]
    url = path.format(id=document.pk)
    for value in forbidden:
        before = state()
        response = getattr(client, method)(url, {**body, field: value}, format="json")
        assert response.status_code == 400, (field, value, response.content)
        assert field in response.json(), (field, value, response.json())
        assert state() == before
    for value in allowed:
        response = getattr(client, method)(url, {**body, field: value}, format="json")
        refused = response.status_code == 400 and field in response.json()
        assert not refused, (field, value, response.content)


def test_numbers_are_not_turned_into_text(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["owner"].post(LIST, {"title": 5}, format="json")
    assert (response.status_code, response.json()) == (400, {"title": ["Not a valid string."]})
    response = callers["owner"].patch(DETAIL.format(id=document.pk), {"title": 12.5}, format="json")
    assert (response.status_code, response.json()) == (400, {"title": ["Not a valid string."]})
    document.refresh_from_db()
    assert document.title == "Plans"


@pytest.mark.parametrize("fmt", ["markdown", "html", "text", "json", "yjs"])
def test_every_declared_export_format_is_served(callers: dict[str, APIClient], document: Document, fmt: str) -> None:
    response = callers["viewer"].get(EXPORT.format(id=document.pk), {"format": fmt})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")


# -- the document list ------------------------------------------------------------------------------------------------
def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


@pytest.fixture
def many(alice: Any, bob: Any) -> list[Document]:
    """Seven documents alice can see: five her own, two of bob's shared with her (one as editor, one as viewer)."""
    own = [Document.objects.create(title=f"Alpha {n}", owner=alice) for n in range(5)]
    shared = [Document.objects.create(title=f"Beta {n}", owner=bob) for n in range(2)]
    Document.objects.create(title="Beta hidden", owner=bob)  # not shared: never listed for alice
    for doc, role in zip(shared, ["editor", "viewer"], strict=True):
        Membership.objects.create(document=doc, user=alice, role=role)
    return own + shared


def test_list_is_paginated(callers: dict[str, APIClient], many: list[Document]) -> None:
    client = callers["owner"]
    first = client.get(LIST, {"page_size": 3, "ordering": "title"}).json()
    assert first["count"] == 8  # the fixture's document too
    assert first["previous"] is None and first["next"].endswith("?ordering=title&page=2&page_size=3")
    assert [row["title"] for row in first["results"]] == ["Alpha 0", "Alpha 1", "Alpha 2"]
    last = client.get(LIST, {"page_size": 3, "ordering": "title", "page": 3}).json()
    assert [row["title"] for row in last["results"]] == ["Beta 1", "Plans"]
    assert last["next"] is None and "page=2" in last["previous"]
    seen = [
        row["id"] for page in (1, 2, 3) for row in client.get(LIST, {"page_size": 3, "page": page}).json()["results"]
    ]
    assert len(seen) == len(set(seen)) == 8  # the default order is total: pages neither overlap nor skip
    for page in ("4", "0", "-1", "x"):
        response = client.get(LIST, {"page_size": 3, "page": page})
        assert (response.status_code, response.json()) == (404, {"detail": "Invalid page."}), page


def test_page_size_is_capped(callers: dict[str, APIClient], alice: Any) -> None:
    Document.objects.bulk_create([Document(title=f"d{n}", owner=alice) for n in range(205)])
    body = callers["owner"].get(LIST, {"page_size": 1000}).json()
    assert (body["count"], len(body["results"])) == (206, 200)  # with the fixture's document
    assert len(callers["owner"].get(LIST).json()["results"]) == 50
    assert len(callers["owner"].get(LIST, {"page_size": "nonsense"}).json()["results"]) == 50


def test_search_matches_title_and_owner(callers: dict[str, APIClient], many: list[Document]) -> None:
    client = callers["owner"]
    assert sorted(titles(client.get(LIST, {"search": "alpha 3"}))) == ["Alpha 3"]
    assert sorted(titles(client.get(LIST, {"search": "BETA"}))) == ["Beta 0", "Beta 1"]  # never the unshared one
    assert sorted(titles(client.get(LIST, {"search": "bob"}))) == ["Beta 0", "Beta 1"]  # the owner's username
    assert sorted(titles(client.get(LIST, {"search": "bob 1"}))) == ["Beta 1"]  # every word must match
    assert titles(client.get(LIST, {"search": "nothing like it"})) == []
    refused = client.get(LIST, {"search": "alpha\x00"})  # what the declared pattern forbids
    assert (refused.status_code, refused.json()) == (400, {"search": ["Null characters are not allowed."]})
    rows = client.get(LIST, {"search": "Beta"}).json()["results"]
    assert {row["title"]: row["role"] for row in rows} == {"Beta 0": "editor", "Beta 1": "viewer"}


def test_ordering(callers: dict[str, APIClient], many: list[Document]) -> None:
    client = callers["owner"]
    names = titles(client.get(LIST, {"ordering": "-title"}))
    assert names == sorted(names, reverse=True)
    Document.objects.filter(pk=many[2].pk).update(title="Alpha 2 touched")
    many[2].refresh_from_db()
    many[2].save()  # the most recently updated
    assert titles(client.get(LIST))[0] == "Alpha 2 touched"
    assert titles(client.get(LIST, {"ordering": "nonsense"}))[0] == "Alpha 2 touched"  # unknown: the default


# -- the schema's pages -----------------------------------------------------------------------------------------------
def test_docs_pages_use_local_assets(db: Any) -> None:
    client = APIClient()
    swagger = client.get("/api/docs/")
    assert swagger.status_code == 200
    page = swagger.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "<script>" not in page  # no inline script: its start script is a file of its own
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
    redoc = client.get("/api/redoc/").content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc
    for html in (page, redoc):
        assert "https://" not in html and "<script>" not in html


# Redoc's sidebar always shows its maker's logo from their CDN; the policy blocks it, and Redoc then leaves it out.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_docs_pages_render_under_the_csp(start_server: Any, request: pytest.FixtureRequest) -> None:
    """Swagger UI lists the operations, and Redoc renders them, under the policy: nothing fetched from elsewhere, no
    violation (but Redoc's logo), no error."""
    from tests.browser_support import artifact_path, launch_browser, require_browser

    require_browser()
    server = start_server()
    for path in ("/api/docs/", "/api/redoc/"):
        header = requests.get(f"{server.http_url}{path}", timeout=10).headers["Content-Security-Policy"]
        assert "script-src 'self'" in header
    problems: dict[str, list[str]] = {"/api/docs/": [], "/api/redoc/": []}
    with launch_browser() as browser:
        for path, ready in [
            ("/api/docs/", ".opblock-summary-path[data-path='/api/documents/{document_id}/update']"),
            ("/api/redoc/", "[data-section-id='tag/documents']"),
        ]:
            context = browser.new_context()
            page = context.new_page()
            seen = problems[path]
            page.on("console", lambda msg, seen=seen: seen.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error, seen=seen: seen.append(str(error)))
            page.on("response", lambda r, seen=seen: seen.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on(
                "request",
                lambda r, seen=seen: None if r.url.startswith(server.http_url) else seen.append(f"fetched {r.url}"),
            )
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', (e) => "
                "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
            )
            page.goto(f"{server.http_url}{path}")
            page.locator(ready).first.wait_for()
            page.screenshot(path=str(artifact_path(request, "--" + path.strip("/").replace("/", "-"))))
            if path == "/api/docs/":
                assert page.locator(".opblock").count() >= 15
            context.close()
    assert problems["/api/docs/"] == []
    blocked_logo = [p for p in problems["/api/redoc/"] if REDOC_LOGO in p]
    assert [p for p in problems["/api/redoc/"] if p not in blocked_logo] == []
