"""Authority ends with access: within 2 s, across processes, and by periodic re-validation for what no event says.

Real daphne servers and real clients. Every change is made the way an operator or user makes it, through the
server's own HTTP endpoints (the admin's change, password and delete forms, POST /accounts/logout/, the REST API),
except in the re-validation tests, which change rows behind the server's back with queryset ``update()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from html.parser import HTMLParser
from typing import Any

import pytest
import redis
import requests
import websockets
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from rest_framework.authtoken.models import Token

from documents.engine.credentials import (
    SESSION,
    TOKEN,
    Credential,
    credential_digest,
    invalid_credentials,
    session_credential,
    token_credential,
)
from documents.engine.protocol import encode_sync_step1, encode_update
from documents.models import Document, Membership
from tests.conftest import PASSWORD
from tests.services import redis_url
from tests.yclient import YClient, open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

DEADLINE = 2.0  # the contract: authority ends within 2 seconds
NEW_PASSWORD = "an-entirely-new-passphrase-42"


# -- helpers: a browser's forms, sessions and sockets ------------------------------------------------------------
class FormReader(HTMLParser):
    """The fields a browser would submit for each ``<form>`` of a page (checked boxes, selected options...)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[dict[str, str | None], list[tuple[str, str]]]] = []
        self._select: tuple[str, bool, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append((a, []))
            return
        if not self.forms:
            return
        fields = self.forms[-1][1]
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            fields.append((name, a.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name:
            self._select = (name, "multiple" in a, [])
        elif tag == "option" and self._select is not None:
            self._select[2].append((a.get("value") or "", "selected" in a))
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            name, multiple, options = self._select
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]
            self.forms[-1][1].extend((name, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.forms[-1][1].append((self._textarea[0], "".join(self._textarea[1]).lstrip("\n")))
            self._textarea = None


def submit_form(
    session: requests.Session, url: str, changes: dict[str, str | None], form_id: str | None = None
) -> requests.Response:
    """GET a page and POST its form back as a browser would, with ``changes`` (None: leave the field out)."""
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text[:500]
    reader = FormReader()
    reader.feed(page.text)
    forms = [fields for attrs, fields in reader.forms if attrs.get("id") != "logout-form"]
    if form_id is not None:
        forms = [fields for attrs, fields in reader.forms if attrs.get("id") == form_id]
    assert forms, f"no form on {url}"
    fields = [(name, value) for name, value in forms[0] if name not in changes]
    fields += [(name, value) for name, value in changes.items() if value is not None]
    return session.post(url, data=fields, timeout=10, allow_redirects=False)


def log_in(server: Any, username: str, path: str = "/accounts/login/") -> requests.Session:
    """A browser session signed in through the login page (``/admin/login/`` for the admin)."""
    session = requests.Session()
    next_url = "/admin/" if path.startswith("/admin/") else "/"
    response = submit_form(
        session, f"{server.http_url}{path}", {"username": username, "password": PASSWORD, "next": next_url}
    )
    assert response.status_code == 302, response.text[:500]
    assert "sessionid" in session.cookies
    return session


class BrowserClient(YClient):
    """A y-websocket client authenticated by a browser session's cookie, sending the page's Origin."""

    def __init__(self, url: str, session: requests.Session, origin: str) -> None:
        super().__init__(url, origin=origin)
        self.cookie = f"sessionid={session.cookies['sessionid']}"

    async def connect(self) -> BrowserClient:
        self.ws = await websockets.connect(
            self.url, additional_headers={"Cookie": self.cookie}, origin=self.origin, max_size=None, open_timeout=10
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.ws.send(encode_sync_step1(self.doc.get_state()))
        return self


async def open_browser(server: Any, document: Any, session: requests.Session) -> BrowserClient:
    client = await BrowserClient(f"{server.ws_url}/{document.pk}", session, server.http_url).connect()
    await asyncio.wait_for(client.synced.wait(), 10)
    return client


async def http(func: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(func, *args, **kwargs)


def token_for(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def rest_text(server: Any, document: Any, token: str) -> str:
    response = requests.get(
        f"{server.http_url}/api/documents/{document.pk}/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["text"]


async def closes_with(client: YClient, code: int, deadline: float = DEADLINE) -> None:
    """The server closes ``client`` with ``code`` within ``deadline`` seconds."""
    await asyncio.wait_for(client.closed.wait(), deadline)
    assert client.close_code == code


async def still_open(client: YClient) -> None:
    """The connection still answers: a SyncStep1 gets its SyncStep2 back."""
    client.synced.clear()
    await client.send_raw(encode_sync_step1(client.doc.get_state()))
    await asyncio.wait_for(client.synced.wait(), 5)
    assert not client.closed.is_set()


async def sends_nothing_more(client: YClient, server: Any, document: Any, reader_token: str) -> None:
    """A closed client's edits change nothing: its socket takes no more frames and the document is as it was."""
    before = await http(rest_text, server, document, reader_token)
    client.add_paragraph("typed after the close")  # what the client would send...
    with pytest.raises(websockets.ConnectionClosed):
        await client.send_raw(encode_update(client.doc.get_update()))  # ...and sending it fails
    assert await http(rest_text, server, document, reader_token) == before
    assert "typed after the close" not in before


async def refused(url: str, **kwargs: Any) -> None:
    """A new handshake with the same credential is refused (HTTP 403)."""
    with pytest.raises(websockets.InvalidStatus) as info:
        await YClient(url, **kwargs).connect()
    assert info.value.response.status_code == 403


async def close_all(*clients: YClient) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any, dave: Any, staff: Any) -> dict[str, str]:
    return {user.username: token_for(user) for user in (alice, bob, carol, dave, staff)}


# -- owner change -------------------------------------------------------------------------------------------------
async def test_owner_change_in_admin_closes_the_former_owner(
    live_server_url: Any, document: Any, tokens: dict[str, str], dave: Any
) -> None:
    server = live_server_url
    owner = await open_client(server.ws_url, document.pk, tokens["alice"])
    editor = await open_client(server.ws_url, document.pk, tokens["bob"])
    owner.add_paragraph("before")
    await editor.wait_for(lambda: editor.paragraph_texts() == ["before"])
    admin = await http(log_in, server, "staff", "/admin/login/")
    url = f"{server.http_url}/admin/documents/document/{document.pk}/change/"
    response = await http(submit_form, admin, url, {"owner": str(dave.pk)}, "document_form")
    assert response.status_code == 302, response.text[:2000]
    await closes_with(owner, 4403)
    await sends_nothing_more(owner, server, document, tokens["dave"])
    await refused(f"{server.ws_url}/{document.pk}", token=tokens["alice"])
    # Everyone else goes on; the new owner may edit at once.
    await still_open(editor)
    new_owner = await open_client(server.ws_url, document.pk, tokens["dave"])
    new_owner.add_paragraph("new owner")
    await editor.wait_for(lambda: editor.paragraph_texts() == ["before", "new owner"])
    await close_all(editor, new_owner)


async def test_former_owner_with_a_membership_becomes_read_only(
    live_server_url: Any, document: Any, tokens: dict[str, str], alice: Any, bob: Any
) -> None:
    """A downgrade keeps the socket open but read-only: what the former owner types is dropped."""
    server = live_server_url
    await sync_to_async(Membership.objects.create)(document=document, user=alice, role="viewer")
    former = await open_client(server.ws_url, document.pk, tokens["alice"])
    viewer = await open_client(server.ws_url, document.pk, tokens["carol"])
    admin = await http(log_in, server, "staff", "/admin/login/")
    url = f"{server.http_url}/admin/documents/document/{document.pk}/change/"
    response = await http(submit_form, admin, url, {"owner": str(bob.pk)}, "document_form")
    assert response.status_code == 302, response.text[:2000]
    # A later change of the same document is handled after the owner change: once carol's removal has closed her
    # socket, alice's new role applies. (Control events of a document are handled in order.)
    removal = await http(
        requests.delete,
        f"{server.http_url}/api/documents/{document.pk}/members/carol/",
        headers={"Authorization": f"Token {tokens['bob']}"},
        timeout=10,
    )
    assert removal.status_code == 204
    await closes_with(viewer, 4403)
    former.add_paragraph("former owner typing")
    await former.send_raw(encode_update(former.doc.get_update()))
    await still_open(former)  # a socket's frames are handled in order: the edit was handled before this answer
    assert await http(rest_text, server, document, tokens["bob"]) == ""
    await close_all(former)


# -- per-user credentials -----------------------------------------------------------------------------------------
async def test_deleting_the_api_token_in_admin_closes_only_its_connections(
    live_server_url: Any, document: Any, tokens: dict[str, str], alice: Any
) -> None:
    server = live_server_url
    by_token = await open_client(server.ws_url, document.pk, tokens["alice"])
    second_by_token = await open_client(server.ws_url, document.pk, tokens["alice"])
    browser = await http(log_in, server, "alice")
    by_session = await open_browser(server, document, browser)
    other_user = await open_client(server.ws_url, document.pk, tokens["bob"])
    admin = await http(log_in, server, "staff", "/admin/login/")
    response = await http(
        submit_form, admin, f"{server.http_url}/admin/authtoken/tokenproxy/{alice.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302, response.text[:2000]
    assert not await sync_to_async(Token.objects.filter(user=alice).exists)()
    await closes_with(by_token, 4401)
    await closes_with(second_by_token, 4401)
    await sends_nothing_more(by_token, server, document, tokens["bob"])
    await refused(f"{server.ws_url}/{document.pk}", token=tokens["alice"])
    await still_open(by_session)
    await still_open(other_user)
    await close_all(by_session, other_user)


async def test_deactivating_the_user_in_admin_closes_all_their_connections(
    live_server_url: Any, document: Any, tokens: dict[str, str], bob: Any
) -> None:
    server = live_server_url
    by_token = await open_client(server.ws_url, document.pk, tokens["bob"])
    browser = await http(log_in, server, "bob")
    by_session = await open_browser(server, document, browser)
    other_user = await open_client(server.ws_url, document.pk, tokens["carol"])
    admin = await http(log_in, server, "staff", "/admin/login/")
    url = f"{server.http_url}/admin/auth/user/{bob.pk}/change/"
    response = await http(submit_form, admin, url, {"is_active": None}, "user_form")
    assert response.status_code == 302, response.text[:2000]
    await closes_with(by_token, 4401)
    await closes_with(by_session, 4401)
    await sends_nothing_more(by_token, server, document, tokens["alice"])
    await refused(f"{server.ws_url}/{document.pk}", token=tokens["bob"])
    await still_open(other_user)
    await close_all(other_user)


async def test_changing_the_password_in_admin_closes_all_their_connections(
    live_server_url: Any, document: Any, tokens: dict[str, str], bob: Any
) -> None:
    """Sessions and API tokens alike (docs/security.md): the new password may be because the old one leaked."""
    server = live_server_url
    by_token = await open_client(server.ws_url, document.pk, tokens["bob"])
    browser = await http(log_in, server, "bob")
    by_session = await open_browser(server, document, browser)
    admin = await http(log_in, server, "staff", "/admin/login/")
    url = f"{server.http_url}/admin/auth/user/{bob.pk}/password/"
    changes = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    response = await http(submit_form, admin, url, changes, "user_form")
    assert response.status_code == 302, response.text[:2000]
    await closes_with(by_token, 4401)
    await closes_with(by_session, 4401)
    await sends_nothing_more(by_session, server, document, tokens["alice"])
    # The session no longer signs bob in; the token (unchanged by a password change) opens a new connection.
    with pytest.raises(websockets.InvalidStatus):
        await BrowserClient(f"{server.ws_url}/{document.pk}", browser, server.http_url).connect()
    again = await open_client(server.ws_url, document.pk, tokens["bob"])
    await close_all(again)


async def test_logging_out_closes_that_sessions_connections_only(
    live_server_url: Any, document: Any, tokens: dict[str, str]
) -> None:
    server = live_server_url
    first, second = await http(log_in, server, "bob"), await http(log_in, server, "bob")
    tab = await open_browser(server, document, first)
    other_tab = await open_browser(server, document, first)
    other_session = await open_browser(server, document, second)
    by_token = await open_client(server.ws_url, document.pk, tokens["bob"])
    response = await http(
        first.post,
        f"{server.http_url}/accounts/logout/",
        data={"csrfmiddlewaretoken": first.cookies["csrftoken"]},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:2000]
    await closes_with(tab, 4401)
    await closes_with(other_tab, 4401)
    await sends_nothing_more(tab, server, document, tokens["alice"])
    await still_open(other_session)
    await still_open(by_token)
    await close_all(other_session, by_token)


async def test_deleting_the_document_closes_everyone_with_4404(
    live_server_url: Any, document: Any, tokens: dict[str, str]
) -> None:
    """Members too: the memberships go with the document, but their sockets learn it was deleted, not revoked."""
    server = live_server_url
    clients = [await open_client(server.ws_url, document.pk, tokens[name]) for name in ("alice", "bob", "carol")]
    response = await http(
        requests.delete,
        f"{server.http_url}/api/documents/{document.pk}/",
        headers={"Authorization": f"Token {tokens['alice']}"},
        timeout=10,
    )
    assert response.status_code == 204
    for client in clients:
        await closes_with(client, 4404)
    assert not await sync_to_async(Document.objects.filter(pk=document.pk).exists)()


async def test_deleting_the_owners_account_in_admin_closes_her_sockets_and_her_documents(
    live_server_url: Any, document: Any, tokens: dict[str, str], alice: Any
) -> None:
    """Her connections end with 4401; her documents go with the account (a cascade, not the API), so 4404."""
    server = live_server_url
    owner = await open_client(server.ws_url, document.pk, tokens["alice"])
    members = [await open_client(server.ws_url, document.pk, tokens[name]) for name in ("bob", "carol")]
    admin = await http(log_in, server, "staff", "/admin/login/")
    url = f"{server.http_url}/admin/auth/user/{alice.pk}/delete/"
    response = await http(submit_form, admin, url, {"post": "yes"})
    assert response.status_code == 302, response.text[:2000]
    await closes_with(owner, 4401)
    for member in members:
        await closes_with(member, 4404)


# -- across processes ---------------------------------------------------------------------------------------------
@pytest.fixture
def two_servers(start_server: Any) -> tuple[Any, Any]:
    url = redis_url().rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(url).flushdb()
    env = {"REDIS_URL": url, "COLLAB_FLUSH_INTERVAL": "0.2", "COLLAB_REPLICA_CHECK_SECONDS": "1"}
    return start_server(**env), start_server(**env)


@pytest.mark.redis
@pytest.mark.parametrize("change", ["token deleted", "logged out", "owner changed"])
async def test_a_change_made_in_one_process_closes_sockets_in_another(
    two_servers: Any, document: Any, tokens: dict[str, str], alice: Any, dave: Any, change: str
) -> None:
    one, two = two_servers
    admin = await http(log_in, one, "staff", "/admin/login/")
    browser = await http(log_in, one, "alice")  # the session works in every process (it is in the database)
    by_token = await open_client(two.ws_url, document.pk, tokens["alice"])
    by_session = await open_browser(two, document, browser)
    bystander = await open_client(two.ws_url, document.pk, tokens["bob"])
    if change == "token deleted":
        url = f"{one.http_url}/admin/authtoken/tokenproxy/{alice.pk}/delete/"
        response = await http(submit_form, admin, url, {"post": "yes"})
        closed, kept, code = [by_token], [by_session], 4401
    elif change == "logged out":
        data = {"csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        response = await http(
            browser.post, f"{one.http_url}/accounts/logout/", data=data, timeout=10, allow_redirects=False
        )
        closed, kept, code = [by_session], [by_token], 4401
    else:
        url = f"{one.http_url}/admin/documents/document/{document.pk}/change/"
        response = await http(submit_form, admin, url, {"owner": str(dave.pk)}, "document_form")
        closed, kept, code = [by_token, by_session], [], 4403
    assert response.status_code == 302, response.text[:2000]
    for client in closed:
        await closes_with(client, code)
    await sends_nothing_more(closed[0], two, document, tokens["bob"])
    for client in [*kept, bystander]:
        await still_open(client)
    await close_all(*kept, bystander)


# -- periodic re-validation ---------------------------------------------------------------------------------------
def _silently(change: str, alice: Any, document: Any, dave: Any, session_key: str) -> None:
    """Change a row the way no signal sees (queryset update or delete of a table nobody watches)."""
    users = get_user_model().objects.filter(pk=alice.pk)
    if change == "deactivated":
        users.update(is_active=False)
    elif change == "password":
        users.update(password=make_password(NEW_PASSWORD))
    elif change == "token":
        Token.objects.filter(user=alice).update(key="f" * 40)
    elif change == "session":
        Session.objects.filter(session_key=session_key).delete()
    elif change == "owner":
        Document.objects.filter(pk=document.pk).update(owner=dave)


@pytest.mark.parametrize(
    ("change", "code", "closed_kinds"),
    [
        ("deactivated", 4401, {"token", "session"}),
        ("password", 4401, {"token", "session"}),
        ("token", 4401, {"token"}),
        ("session", 4401, {"session"}),
        ("owner", 4403, {"token", "session"}),
    ],
)
async def test_periodic_revalidation_ends_what_no_event_announced(
    start_server: Any,
    document: Any,
    tokens: dict[str, str],
    alice: Any,
    dave: Any,
    change: str,
    code: int,
    closed_kinds: set[str],
) -> None:
    server = start_server(COLLAB_REVALIDATE_SECONDS="1")
    browser = await http(log_in, server, "alice")
    clients = {
        "token": await open_client(server.ws_url, document.pk, tokens["alice"]),
        "session": await open_browser(server, document, browser),
    }
    bystander = await open_client(server.ws_url, document.pk, tokens["bob"])
    await sync_to_async(_silently)(change, alice, document, dave, browser.cookies["sessionid"])
    for kind in closed_kinds:
        await closes_with(clients[kind], code, deadline=2.5)  # one period (1 s), the checks, and some slack
    await sends_nothing_more(clients[next(iter(closed_kinds))], server, document, tokens["bob"])
    for kind in clients.keys() - closed_kinds:
        await still_open(clients[kind])
    await still_open(bystander)
    await close_all(bystander, *clients.values())


# -- the credential check itself ------------------------------------------------------------------------------------
class StubConnection:
    def __init__(self, user: Any, credential: Credential | None) -> None:
        self.user = user
        self.user_id = user.pk
        self.credential = credential


def test_credentials_hold_until_their_token_session_account_or_password_changes(
    alice: Any, bob: Any, client: Any
) -> None:
    token = Token.objects.create(user=alice)
    client.force_login(bob)
    session_key = client.session.session_key
    connections = [
        StubConnection(alice, token_credential(token.key)),
        StubConnection(bob, session_credential(session_key)),
        StubConnection(alice, token_credential("not-a-token")),
        StubConnection(bob, session_credential("not-a-session")),
        StubConnection(alice, None),
    ]
    assert invalid_credentials(connections) == {2, 3}
    Token.objects.filter(pk=token.pk).delete()
    assert invalid_credentials(connections) == {0, 2, 3}
    get_user_model().objects.filter(pk=bob.pk).update(password=make_password(NEW_PASSWORD))
    assert invalid_credentials(connections) == {0, 1, 2, 3}
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    assert invalid_credentials(connections) == {0, 1, 2, 3, 4}


def test_events_name_credentials_by_digest() -> None:
    digest = credential_digest(TOKEN, "secret-key")
    assert "secret-key" not in digest
    assert digest != credential_digest(SESSION, "secret-key")
    assert token_credential("secret-key") == Credential(TOKEN, digest)


class FakeConnection:
    def __init__(self, name: str, user_id: int, credential: Credential | None) -> None:
        self.id = name
        self.user_id = user_id
        self.credential = credential
        self.codes: list[int] = []

    async def close(self, code: int, reason: str = "") -> None:
        self.codes.append(code)


class FakeRoom:
    def __init__(self, *connections: FakeConnection) -> None:
        self.document_id = "doc"
        self.members = {connection: None for connection in connections}

    def connections_of(self, user_id: int) -> list[FakeConnection]:
        return [connection for connection in self.members if connection.user_id == user_id]


class FakeRegistry:
    def __init__(self, *rooms: FakeRoom) -> None:
        self.rooms = dict(enumerate(rooms))

    async def leave(self, room: FakeRoom, connection: FakeConnection) -> None:
        room.members.pop(connection, None)


async def test_revocations_match_the_credential_and_cover_handshakes_under_way() -> None:
    from documents.engine.revocation import Revocations

    token, session = token_credential("key-1"), session_credential("session-1")
    by_token, by_session, other = (
        FakeConnection("t", 1, token),
        FakeConnection("s", 1, session),
        FakeConnection("o", 2, token_credential("key-2")),
    )
    room = FakeRoom(by_token, by_session, other)
    service = Revocations(FakeRegistry(room))  # type: ignore[arg-type]
    assert await service.revoke_user(1, 4401, "API token deleted", token.digest) == 1
    assert (by_token.codes, by_session.codes, other.codes) == ([4401], [], [])
    assert list(room.members) == [by_session, other]
    # A handshake that looked its token up before the revocation came, and joins after it, is closed on joining...
    late = FakeConnection("late", 1, token)
    room.members[late] = None
    assert not await service.admitted(room, late)  # type: ignore[arg-type]
    assert late.codes == [4401] and late not in room.members
    # ...one that looked it up afterwards (it was valid then) stays, and so do other credentials.
    fresh = FakeConnection("fresh", 1, token_credential("key-1"))
    room.members[fresh] = None
    assert await service.admitted(room, fresh)  # type: ignore[arg-type]
    assert await service.admitted(room, by_session)  # type: ignore[arg-type]
    # None: every connection of the user.
    assert await service.revoke_user(1, 4401, "account deactivated", None) == 2
    assert by_session.codes == [4401] and fresh.codes == [4401] and other.codes == []
