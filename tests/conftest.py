"""Shared fixtures: users alice (owner), bob (editor), carol (viewer), dave (no access), staff; a shared document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from documents.models import Document, Membership

pytest_plugins = ["tests.live_server"]

PASSWORD = "correct-horse-battery-staple"
# Who calls, as named in the permission tables of the tests.
CALLERS = ("anonymous", "nonmember", "staff", "viewer", "editor", "owner")


def pytest_configure(config: pytest.Config) -> None:
    """WhiteNoise warns when STATIC_ROOT does not exist yet (before collectstatic); tests serve no static files."""
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")
    config.addinivalue_line("markers", "real_content: read content from storage instead of the fake_content stub")


@pytest.fixture
def fake_content(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Stub the content layer seen by the API (its own tests cover it); records (function, argument) calls."""
    calls: list[tuple[str, Any]] = []
    if request.node.get_closest_marker("real_content"):
        return calls

    def text(document: Document) -> str:
        calls.append(("text", document.pk))
        return f"{document.title}\nsecond line"

    def export(document: Document, fmt: str) -> str:
        calls.append(("export", fmt))
        return f"{fmt}: {document.title} ✓"

    monkeypatch.setattr("documents.web.api.document_text", text)
    monkeypatch.setattr("documents.web.api.export_document", export)
    return calls


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    """Create a user with the shared test password."""

    def make(username: str, **extra: Any) -> Any:
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def carol(make_user: Callable[..., Any]) -> Any:
    return make_user("carol")


@pytest.fixture
def dave(make_user: Callable[..., Any]) -> Any:
    return make_user("dave")


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    return make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def document(alice: Any, bob: Any, carol: Any) -> Document:
    """Alice's document, with bob as editor and carol as viewer."""
    doc = Document.objects.create(title="Plans", owner=alice)
    Membership.objects.create(document=doc, user=bob, role="editor")
    Membership.objects.create(document=doc, user=carol, role="viewer")
    return doc


@pytest.fixture
def token_client() -> Callable[[Any], APIClient]:
    """An APIClient authenticating as ``user`` with an API token (anonymous when ``user`` is None)."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def callers(
    document: Document, alice: Any, bob: Any, carol: Any, dave: Any, staff: Any, token_client: Callable
) -> dict[str, APIClient]:
    """One token-authenticated client per entry of CALLERS, relative to ``document``."""
    users = {"anonymous": None, "nonmember": dave, "staff": staff, "viewer": carol, "editor": bob, "owner": alice}
    return {name: token_client(user) for name, user in users.items()}
