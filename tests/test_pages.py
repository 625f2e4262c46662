"""The server-rendered pages: accounts, my documents, the editor shell, sharing, admin and the Vite tag."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from documents.identity import PALETTE, display_name, user_color
from documents.models import Document, Membership
from tests.conftest import PASSWORD

STRONG = "a-Strong-passphrase-42"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_signup_create_share_flow(bob: Any) -> None:
    client = Client()
    signup = {"username": "erin", "password1": STRONG, "password2": STRONG}
    assert client.post("/accounts/signup/", signup, follow=True).redirect_chain[-1][0] == "/"
    home = client.get("/")
    assert "My documents" in home.content.decode() and "erin" in home.content.decode()

    created = client.post("/documents/new/", {"title": "  Roadmap  "})
    document = Document.objects.get(title="Roadmap", owner__username="erin")
    assert created["Location"] == f"/documents/{document.pk}/"
    page = client.get(created["Location"]).content.decode()
    editor = re.search(r'<div id="editor-app"([^>]*)>', page)
    assert editor is not None
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', editor.group(1)))
    assert attrs["document-id"] == str(document.pk)
    assert (attrs["title"], attrs["role"], attrs["user-name"], attrs["owner"]) == ("Roadmap", "owner", "erin", "erin")
    assert attrs["user-color"] in PALETTE
    assert (attrs["ws-url"], attrs["api-base"]) == ("/ws/documents", "/api")
    assert attrs["csrf-token"]
    assert "<noscript>" in page

    shared = client.post(f"/documents/{document.pk}/share/", {"username": "bob", "role": "viewer"}, follow=True)
    assert "Added bob as viewer" in shared.content.decode()
    bob_home = logged_in(bob).get("/").content.decode()
    shared_section = bob_home.split("Shared with me", 1)[1]
    assert "Roadmap" in shared_section and "erin" in shared_section and "viewer" in shared_section


def test_home_separates_owned_and_shared(alice: Any, bob: Any, document: Document) -> None:
    Document.objects.create(title="Bob's diary", owner=bob)
    page = logged_in(bob).get("/").content.decode()
    owned, shared = page.split("Shared with me", 1)
    assert "Bob&#x27;s diary" in owned and "Plans" not in owned
    assert "Plans" in shared and "alice" in shared


def test_login_and_logout(alice: Any) -> None:
    client = Client()
    assert client.get("/").url.startswith("/accounts/login/")
    login_page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in login_page and 'name="password"' in login_page
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert "Log out?" in client.get("/accounts/logout/").content.decode()
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_wrong_password_stays_on_login(alice: Any) -> None:
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_signup_rejects_mismatched_passwords(db: Any) -> None:
    data = {"username": "erin", "password1": STRONG, "password2": STRONG + "x"}
    response = Client().post("/accounts/signup/", data)
    assert response.status_code == 200
    assert not Document.objects.exists()
    assert "The two password fields didn" in response.content.decode()


def test_csrf_is_enforced(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/documents/new/", {"title": "Forged"}).status_code == 403
    assert not Document.objects.exists()
    page = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post("/documents/new/", {"title": "Real", "csrfmiddlewaretoken": token}).status_code == 302


# page, method, form data, expected status per role (None: no access at all).
PAGE_MATRIX = [
    ("document", "get", None, {"viewer": 200, "editor": 200, "owner": 200, None: 404}),
    ("document-share", "get", None, {"viewer": 200, "editor": 200, "owner": 200, None: 404}),
    ("document-rename", "post", {"title": "Renamed"}, {"viewer": 403, "editor": 302, "owner": 302, None: 404}),
    (
        "document-share",
        "post",
        {"username": "dave", "role": "viewer"},
        {"viewer": 403, "editor": 403, "owner": 302, None: 404},
    ),
    ("document-share-remove", "post", {"username": "carol"}, {"viewer": 403, "editor": 403, "owner": 302, None: 404}),
    ("document-delete", "post", None, {"viewer": 403, "editor": 403, "owner": 302, None: 404}),
]
USERS = {"viewer": "carol", "editor": "bob", "owner": "alice", None: "dave"}


@pytest.mark.parametrize(
    ("name", "method", "data", "role", "status"),
    [(name, method, data, role, statuses[role]) for name, method, data, statuses in PAGE_MATRIX for role in statuses],
)
def test_page_permissions(
    document: Document, dave: Any, name: str, method: str, data: Any, role: str | None, status: int
) -> None:
    client = logged_in(type(dave).objects.get(username=USERS[role]))
    before = (Document.objects.filter(pk=document.pk).values_list("title").first(), Membership.objects.count())
    response = getattr(client, method)(reverse(name, args=[document.pk]), data or {})
    assert response.status_code == status
    if status != 302:
        after = (Document.objects.filter(pk=document.pk).values_list("title").first(), Membership.objects.count())
        assert after == before


@pytest.mark.parametrize("name", ["document", "document-share"])
def test_pages_require_login_and_valid_ids(alice: Any, document: Document, name: str) -> None:
    assert Client().get(reverse(name, args=[document.pk])).status_code == 302
    assert logged_in(alice).get(reverse(name, args=["not-a-uuid"])).status_code == 404


def test_rename_and_delete_through_pages(alice: Any, bob: Any, document: Document) -> None:
    logged_in(bob).post(f"/documents/{document.pk}/rename/", {"title": "  Editor's cut "})
    document.refresh_from_db()
    assert document.title == "Editor's cut"
    home = logged_in(bob).get("/").content.decode()
    assert f"/documents/{document.pk}/rename/" in home and f"/documents/{document.pk}/delete/" not in home
    response = logged_in(alice).post(f"/documents/{document.pk}/delete/", follow=True)
    assert "Deleted" in response.content.decode()
    assert not Document.objects.filter(pk=document.pk).exists()


def test_share_page_errors_and_role_changes(alice: Any, document: Document) -> None:
    client = logged_in(alice)
    url = f"/documents/{document.pk}/share/"
    assert (
        "No user is called" in client.post(url, {"username": "nobody", "role": "viewer"}, follow=True).content.decode()
    )
    assert "owner already" in client.post(url, {"username": "alice", "role": "viewer"}, follow=True).content.decode()
    client.post(url, {"username": "carol", "role": "editor"})
    assert Membership.objects.get(document=document, user__username="carol").role == "editor"
    client.post(f"{url}remove/", {"username": "carol"})
    assert not Membership.objects.filter(document=document, user__username="carol").exists()
    assert "not a member" in client.post(f"{url}remove/", {"username": "carol"}, follow=True).content.decode()


def test_share_page_is_read_only_for_members(bob: Any, document: Document) -> None:
    page = logged_in(bob).get(f"/documents/{document.pk}/share/").content.decode()
    assert "Only the owner" in page and "Change role" not in page
    assert page.index("alice") < page.index("carol")


def test_vite_assets_from_manifest(alice: Any, document: Document, settings: Any, tmp_path: Path) -> None:
    (tmp_path / ".vite").mkdir()
    manifest = {
        "src/main.js": {
            "file": "assets/main-abc123.js",
            "isEntry": True,
            "css": ["assets/main-def.css"],
            "imports": ["_vendor.js"],
        },
        "_vendor.js": {"file": "assets/vendor-999.js", "css": ["assets/vendor-1.css"]},
    }
    (tmp_path / ".vite" / "manifest.json").write_text(json.dumps(manifest))
    settings.FRONTEND_DIST = tmp_path
    page = logged_in(alice).get(f"/documents/{document.pk}/").content.decode()
    assert '<script type="module" src="/static/assets/main-abc123.js"></script>' in page
    assert '<link rel="stylesheet" href="/static/assets/main-def.css">' in page
    assert '<link rel="stylesheet" href="/static/assets/vendor-1.css">' in page
    assert '<link rel="modulepreload" href="/static/assets/vendor-999.js">' in page


def test_missing_frontend_build_shows_notice(alice: Any, document: Document, settings: Any, tmp_path: Path) -> None:
    settings.FRONTEND_DIST = tmp_path / "nothing"
    response = logged_in(alice).get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert "frontend not built: run make run" in response.content.decode()
    assert 'id="editor-app"' in response.content.decode()


def test_identity_is_stable_and_spread(make_user: Any) -> None:
    users = [make_user(f"user{i}") for i in range(24)]
    assert [user_color(u) for u in users] == [user_color(type(u).objects.get(pk=u.pk)) for u in users]
    assert len({user_color(u) for u in users}) >= 6
    assert display_name(users[0]) == "user0"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/documents/document/",
        "/admin/documents/document/?q=Plans",
        "/admin/documents/membership/",
        "/admin/documents/version/",
        "/admin/authtoken/tokenproxy/",
        "/admin/auth/user/",
    ],
)
def test_admin_pages_render(admin_client: Client, document: Document, url: str) -> None:
    assert admin_client.get(url).status_code == 200


def test_admin_change_page_shows_members(admin_client: Client, document: Document) -> None:
    page = admin_client.get(f"/admin/documents/document/{document.pk}/change/").content.decode()
    assert "Plans" in page and "Memberships" in page
