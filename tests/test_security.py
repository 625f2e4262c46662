"""Cross-site WebSocket hijacking, tokens kept out of URLs, password guessing and the Content-Security-Policy.

Everything about WebSockets runs over a real daphne socket; the throttling tests run against servers started with
small limits (the suite's own settings raise the per-address rates, see tests/settings.py).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets
from django.test import Client
from pycrdt import Doc
from rest_framework.authtoken.models import Token

from documents.engine.protocol import SyncStep2, decode_message, encode_sync_step1
from documents.ws.middleware import BrowserOriginValidator, normalize_origin, origin_allowed
from tests.conftest import PASSWORD
from tests.services import node_available, require

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any, dave: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol, dave)}


@pytest.fixture
def session_cookie(alice: Any) -> str:
    """``Cookie`` header value of a logged-in session of alice (the session lives in the shared test database)."""
    client = Client()
    client.force_login(alice)
    return f"sessionid={client.cookies['sessionid'].value}"


async def connect(url: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return await websockets.connect(url, additional_headers=headers or {}, open_timeout=10, **kwargs)


async def synced(ws: Any) -> bool:
    """Whether the server answers our SyncStep1 with its SyncStep2, as it does to an authorised client."""
    await ws.send(encode_sync_step1(Doc().get_state()))
    async with asyncio.timeout(10):
        async for message in ws:
            if isinstance(message, bytes) and isinstance(decode_message(message), SyncStep2):
                return True
    return False


async def refused(url: str, **kwargs: Any) -> int:
    """The HTTP status of a handshake the server must refuse."""
    with pytest.raises(websockets.InvalidStatus) as info:
        ws = await connect(url, **kwargs)
        await ws.close()
    return info.value.response.status_code


def refusal_lines(server: Any) -> list[str]:
    return [line for line in server.log().splitlines() if "ws refused" in line]


# --- Origin ---------------------------------------------------------------------------------------------------------
async def test_session_handshake_needs_the_served_origin(live_server_url: Any, document: Any, session_cookie: str):
    server = live_server_url
    url = f"{server.ws_url}/{document.pk}"
    port = server.port
    bad_origins = [
        "http://127.0.0.1:31337",  # another port of an allowed host
        f"https://127.0.0.1:{port}",  # another scheme
        "http://localhost:31337",
        f"http://localhost:{port}",  # another allowed host than the one the socket reached
        "http://evil.example",
        "null",  # sandboxed frames, file:// pages
        f"http://127.0.0.1:{port}/path",
    ]
    for origin in bad_origins:
        status = await refused(url, headers={"Cookie": session_cookie, "Origin": origin})
        assert status == 403, origin
    assert len(refusal_lines(server)) == len(bad_origins)  # one log line each
    assert all("not allowed" in line for line in refusal_lines(server))
    # autobahn already answers 400 to an Origin it cannot parse
    assert await refused(url, headers={"Cookie": session_cookie, "Origin": f"http://127.0.0.1:{port}.x"}) in (400, 403)

    ws = await connect(url, headers={"Cookie": session_cookie}, origin=server.http_url)
    assert await synced(ws)
    await ws.close()


async def test_session_handshake_without_origin_refused(live_server_url: Any, document: Any, session_cookie: str):
    url = f"{live_server_url.ws_url}/{document.pk}"
    assert await refused(url, headers={"Cookie": session_cookie}) == 403
    [line] = refusal_lines(live_server_url)
    assert "no Origin" in line and "session cookie" in line


async def test_token_clients_need_no_origin(live_server_url: Any, document: Any, tokens: dict, session_cookie: str):
    url = f"{live_server_url.ws_url}/{document.pk}"
    for kwargs in (
        {"headers": {"Authorization": f"Token {tokens['bob']}"}},
        {"headers": {"Authorization": f"Token {tokens['bob']}", "Cookie": session_cookie}},  # the token decides
        {"subprotocols": [f"collab.token.{tokens['bob']}"]},
    ):
        ws = await connect(url, **kwargs)
        assert await synced(ws)
        await ws.close()
    # ?token= still works (compatibility), and a token never makes a foreign Origin acceptable
    ws = await connect(f"{url}?token={tokens['bob']}")
    assert await synced(ws)
    await ws.close()
    headers = {"Authorization": f"Token {tokens['bob']}"}
    assert await refused(url, headers=headers, origin="http://127.0.0.1:31337") == 403


async def test_trusted_origins_and_forwarded_https(start_server: Any, document: Any, session_cookie: str) -> None:
    """CSRF_TRUSTED_ORIGINS entries are allowed whole; behind HTTPS (SECURE_HTTPS=1) X-Forwarded-Proto is honoured."""
    server = start_server(CSRF_TRUSTED_ORIGINS="http://localhost:31337,https://*.example.com")
    url = f"{server.ws_url}/{document.pk}"
    for origin in ("http://localhost:31337", "https://docs.example.com", "https://example.com"):
        ws = await connect(url, headers={"Cookie": session_cookie}, origin=origin)
        assert await synced(ws), origin
        await ws.close()
    for origin in (
        "http://localhost:31338",
        "https://localhost:31337",
        "http://docs.example.com",
        "https://example.co",
    ):
        assert await refused(url, headers={"Cookie": session_cookie, "Origin": origin}) == 403, origin
    # Without SECURE_HTTPS the header is anybody's to write: it does not make an https origin the served one.
    https_origin = f"https://127.0.0.1:{server.port}"
    forwarded = {"Cookie": session_cookie, "Origin": https_origin, "X-Forwarded-Proto": "https"}
    assert await refused(url, headers=forwarded) == 403

    secure = start_server(SECURE_HTTPS="1")
    url = f"{secure.ws_url}/{document.pk}"
    https_origin = f"https://127.0.0.1:{secure.port}"
    forwarded = {"Cookie": session_cookie, "Origin": https_origin, "X-Forwarded-Proto": "https"}
    ws = await connect(url, headers=forwarded)
    assert await synced(ws)
    await ws.close()
    assert await refused(url, headers={"Cookie": session_cookie, "Origin": https_origin}) == 403
    plain = {"Cookie": session_cookie, "Origin": secure.http_url, "X-Forwarded-Proto": "https"}
    assert await refused(url, headers=plain) == 403


async def test_host_must_be_allowed(live_server_url: Any, document: Any, session_cookie: str) -> None:
    """DNS rebinding: a page of evil.example resolving to the server sends a matching Host and Origin."""
    port = live_server_url.port
    url = f"ws://evil.example:{port}/ws/documents/{document.pk}"  # the Host header; the socket goes to loopback
    headers = {"Cookie": session_cookie}
    assert await refused(url, headers=headers, origin=f"http://evil.example:{port}", host="127.0.0.1", port=port) == 403
    [line] = refusal_lines(live_server_url)
    assert "evil.example" in line


def test_origin_matching_rules(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["docs.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.org/", "https://*.example.net"]
    scope = {"type": "websocket", "headers": [(b"host", b"docs.example.com")]}
    assert normalize_origin("HTTPS://Docs.Example.com:443") == "https://docs.example.com"
    assert normalize_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalize_origin("http://user@docs.example.com") is None
    assert normalize_origin("ftp://docs.example.com") is None
    assert origin_allowed("http://docs.example.com", scope)
    assert origin_allowed("http://docs.example.com:80", scope)
    assert not origin_allowed("https://docs.example.com", scope)
    assert not origin_allowed("http://docs.example.com:8080", scope)
    assert origin_allowed("https://app.example.org", scope)
    assert not origin_allowed("http://app.example.org", scope)
    assert origin_allowed("https://a.b.example.net", scope)
    assert not origin_allowed("https://example.net.evil", scope)
    assert origin_allowed("https://docs.example.com", dict(scope, scheme="wss"))
    # a Host outside ALLOWED_HOSTS is no served origin
    assert not origin_allowed("http://evil.example", {"type": "websocket", "headers": [(b"host", b"evil.example")]})
    two = {"type": "websocket", "headers": [(b"origin", b"http://docs.example.com")] * 2 + scope["headers"]}
    assert BrowserOriginValidator.refusal(two) == "several Origin headers"


# --- Tokens in Sec-WebSocket-Protocol -------------------------------------------------------------------------------
async def test_token_subprotocol_is_never_echoed(live_server_url: Any, document: Any, tokens: dict) -> None:
    url = f"{live_server_url.ws_url}/{document.pk}"
    token_protocol = f"collab.token.{tokens['carol']}"

    ws = await connect(url, subprotocols=[token_protocol])
    assert ws.subprotocol is None
    assert "Sec-WebSocket-Protocol" not in ws.response.headers
    assert await synced(ws)
    await ws.close()

    ws = await connect(url, subprotocols=[token_protocol, "y-websocket"])
    assert ws.subprotocol == "y-websocket"
    assert ws.response.headers["Sec-WebSocket-Protocol"] == "y-websocket"
    assert await synced(ws)
    await ws.close()

    # An unknown protocol is not claimed; a wrong token is refused like any other
    ws = await connect(url, subprotocols=["chat.v9", token_protocol])
    assert ws.subprotocol is None
    await ws.close()
    assert await refused(url, subprotocols=["y-websocket", "collab.token.0000"]) == 403
    assert tokens["carol"] not in live_server_url.log()


@pytest.mark.node
async def test_y_websocket_client_passes_token_as_subprotocol(live_server_url: Any, document: Any, tokens: dict):
    """The npm y-websocket WebsocketProvider (``protocols`` option, over ``ws``) connects and syncs."""
    require(node_available(), "Node.js is not installed")
    require((NODE_DIR / "node_modules" / "y-websocket").is_dir(), "tests/node is not installed (npm ci)")
    script = """
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
let protocol = null
class Recording extends WebSocket {
  constructor (...args) { super(...args); this.addEventListener('open', () => { protocol = this.protocol }) }
}
const provider = new WebsocketProvider(process.env.WS_URL, process.env.ROOM, new Y.Doc(), {
  protocols: ['y-websocket', 'collab.token.' + process.env.TOKEN], WebSocketPolyfill: Recording, disableBc: true
})
const done = (result) => {
  console.log(JSON.stringify(result)); provider.destroy(); process.exit(result.synced ? 0 : 2)
}
provider.on('sync', (isSynced) => { if (isSynced) done({ synced: true, protocol }) })
setTimeout(() => done({ synced: false, protocol }), 15000)
"""
    env = dict(os.environ, WS_URL=live_server_url.ws_url, ROOM=str(document.pk), TOKEN=tokens["bob"])
    node = shutil.which("node") or "node"
    result = await asyncio.to_thread(
        subprocess.run,
        [node, "--input-type=module", "-e", script],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"synced": True, "protocol": "y-websocket"}


# --- Password guessing ----------------------------------------------------------------------------------------------
def post_token(server: Any, username: str, password: str, source: str = "127.0.0.1") -> tuple[int, dict, Any]:
    """POST /api/token/ from the loopback address ``source`` (127.0.0.0/8 is all this machine)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(source, 0))
    body = json.dumps({"username": username, "password": password})
    connection.request("POST", "/api/token/", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read() or b"null")
    headers = dict(response.getheaders())
    connection.close()
    return response.status, headers, data


def post_login(server: Any, session: requests.Session, username: str, password: str) -> requests.Response:
    page = session.get(f"{server.http_url}/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    return session.post(
        f"{server.http_url}/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf.group(1)},
        allow_redirects=False,
        timeout=10,
    )


def test_token_endpoint_locks_out_repeated_failures(start_server: Any, alice: Any, bob: Any) -> None:
    server = start_server(LOGIN_FAILURE_LIMIT="5", LOGIN_LOCKOUT_SECONDS="600")
    statuses = [post_token(server, "alice", f"wrong-{n}")[0] for n in range(4)]
    assert statuses == [401] * 4
    status, headers, data = post_token(server, "alice", "wrong-5")
    assert status == 429
    assert headers["Retry-After"] == "600"
    assert headers["Content-Type"] == "application/json"
    assert "try again later" in data["detail"]
    # Locked: even the right password is refused, before it is checked
    status, headers, _ = post_token(server, "alice", PASSWORD)
    assert (status, headers["Retry-After"]) == (429, "600")
    # Only that username from that address: bob here, and alice from another address, still get their tokens
    assert post_token(server, "bob", PASSWORD)[0] == 200
    assert post_token(server, "alice", PASSWORD, source="127.0.0.2")[0] == 200


def test_login_form_locks_out_repeated_failures(start_server: Any, alice: Any) -> None:
    server = start_server(LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_SECONDS="120")
    session = requests.Session()
    assert [post_login(server, session, "alice", "nope").status_code for _ in range(2)] == [200, 200]
    locked = post_login(server, session, "alice", "nope")
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "120"
    assert locked.headers["Content-Type"].startswith("text/html")
    assert "Too many attempts" in locked.text and "2 minutes" in locked.text
    assert post_login(server, session, "alice", PASSWORD).status_code == 429
    # The failures count on the token endpoint too: it is the same password check
    status, headers, _ = post_token(server, "alice", PASSWORD)
    assert (status, headers["Retry-After"]) == (429, "120")


def test_rate_throttles_per_address(start_server: Any, alice: Any) -> None:
    """Guessing across many usernames from one address meets the per-address rates."""
    server = start_server(TOKEN_THROTTLE_RATE="4/min", LOGIN_THROTTLE_RATE="3/min")
    assert [post_token(server, f"user{n}", "x")[0] for n in range(4)] == [401] * 4
    status, headers, data = post_token(server, "alice", PASSWORD)
    assert status == 429
    assert 0 < int(headers["Retry-After"]) <= 60
    assert "throttled" in data["detail"].lower()
    assert post_token(server, "alice", PASSWORD, source="127.0.0.3")[0] == 200

    session = requests.Session()
    assert [post_login(server, session, f"user{n}", "x").status_code for n in range(3)] == [200] * 3
    throttled = post_login(server, session, "alice", PASSWORD)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert "Too many attempts" in throttled.text
    assert session.get(f"{server.http_url}/accounts/login/", timeout=10).status_code == 200  # GETs are not counted
    # The admin's login form shares the rate
    page = session.get(f"{server.http_url}/admin/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    form = {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": csrf.group(1)}
    admin = session.post(f"{server.http_url}/admin/login/", form, allow_redirects=False, timeout=10)
    assert admin.status_code == 429 and "Retry-After" in admin.headers


# --- Content-Security-Policy ----------------------------------------------------------------------------------------
def csp_directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


def test_csp_header_on_pages_and_api(live_server_url: Any, document: Any, tokens: dict, session_cookie: str) -> None:
    server = live_server_url
    pages = {
        "/accounts/login/": {},
        f"/documents/{document.pk}/": {"Cookie": session_cookie},
        "/api/documents/": {"Authorization": f"Token {tokens['alice']}"},
    }
    for path, headers in pages.items():
        response = requests.get(f"{server.http_url}{path}", headers=headers, timeout=10, allow_redirects=False)
        assert response.status_code == 200, path
        policy = csp_directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["connect-src"] == ["'self'", f"ws://127.0.0.1:{server.port}"]
        assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]


def test_csp_follows_the_request_scheme(start_server: Any) -> None:
    server = start_server(SECURE_HTTPS="1", CSP_REPORT_ONLY="1")
    response = requests.get(f"{server.http_url}/accounts/login/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert "Content-Security-Policy" not in response.headers
    policy = csp_directives(response.headers["Content-Security-Policy-Report-Only"])
    assert policy["connect-src"] == ["'self'", f"wss://127.0.0.1:{server.port}"]


@pytest.mark.browser
def test_editor_and_admin_run_without_csp_violations(
    live_server_url: Any, document: Any, staff: Any, tokens: dict, request: pytest.FixtureRequest
) -> None:
    """The built editor loads, connects and edits (two users, so remote carets are drawn too), and the admin
    works, with no CSP violation reported."""
    from playwright.sync_api import ConsoleMessage, expect

    from tests.browser_support import (
        TIMEOUT_MS,
        artifact_path,
        click_end_of_text,
        launch_browser,
        login,
        require_browser,
        rest_text,
        wait_for_text,
        wait_live,
        wait_until,
    )

    require_browser()
    server = live_server_url
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "CSP violation" in message.text:
            violations.append(message.text)

    with launch_browser() as browser:
        contexts = []

        def new_page() -> Any:
            context = browser.new_context()
            contexts.append(context)
            context.set_default_timeout(TIMEOUT_MS)
            # Every violation fires this event in the page (Chromium also writes a console error of its own).
            context.add_init_script(
                """document.addEventListener('securitypolicyviolation', (e) => {
                     console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)
                   })"""
            )
            page = context.new_page()
            page.on("console", on_console)
            return page

        try:
            alice, bob = new_page(), new_page()
            for page, name in ((alice, "alice"), (bob, "bob")):
                login(page, server, name, f"/documents/{document.pk}/")
                wait_live(page)
            click_end_of_text(alice)
            alice.keyboard.type("typed under a strict policy")
            wait_for_text(bob, "typed under a strict policy")
            click_end_of_text(bob)  # bob's caret is drawn in alice's editor
            bob.keyboard.type("!")
            wait_for_text(alice, "typed under a strict policy!")
            wait_until(lambda: rest_text(server, document, tokens["alice"]) == "typed under a strict policy!")
            alice.screenshot(path=str(artifact_path(request)))

            admin = new_page()
            admin.goto(f"{server.http_url}/admin/login/?next=/admin/")
            admin.fill("input[name=username]", "staff")
            admin.fill("input[name=password]", PASSWORD)
            admin.click("input[type=submit]")
            admin.wait_for_url(f"{server.http_url}/admin/")
            admin.goto(f"{server.http_url}/admin/documents/document/{document.pk}/change/")
            expect(admin.locator("#content h1")).to_be_visible()
            admin.goto(f"{server.http_url}/admin/auth/user/")
            expect(admin.locator("#result_list")).to_be_visible()
            admin.locator("#action-toggle").check()  # the admin's own scripts run
            expect(admin.locator(".action-counter")).to_contain_text("selected")
        finally:
            for context in contexts:
                context.close()
    assert violations == []
