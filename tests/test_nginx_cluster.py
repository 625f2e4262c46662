"""The deployment as shipped: two daphne processes behind a real nginx running deploy/nginx.conf.

The cluster is deploy/cluster.py's (what ``make cluster`` runs): it renders the shipped site config with only the
upstream ports and the listen address replaced, starts a private nginx and a private Redis (or uses the one on
6379 when ``redis-server`` is not installed), migrates a SQLite file of its own and starts daphne with the
production settings behind one proxy (``PROXY_COUNT=1``). Clients are real: ``requests``/``http.client`` for HTTP,
pycrdt y-websocket clients (tests/yclient.py, tests/faultkit/typists.py) for the sockets, through nginx and, to put
editors of one document on both processes, straight to an upstream as well.

What nginx itself sends upstream (HTTP/1.1, the forwarded headers, ``Connection: upgrade`` only on upgrade
requests) is checked against a recording HTTP server in place of daphne.

Which process nginx chose is read from the private nginx's access log (``upstream=`` of each request; a WebSocket's
line is written when it closes), never guessed. Durability uses the fault tests' oracle: unique tokens typed, one
process SIGKILLed while typing, every token read back from fresh processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import http.server
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import websockets

from deploy.cluster import Cluster, nginx_binary, redis_binary
from tests.faultkit.oracle import ReadBack, Tally, settle
from tests.faultkit.rig import Answer
from tests.faultkit.typists import Typists
from tests.services import port_open, require
from tests.waiting import until, until_value
from tests.yclient import YClient, open_client

pytestmark = [pytest.mark.nginx, pytest.mark.timeout(300)]

SECRET_KEY = "nginx-cluster-tests-secret-key-not-for-production"
IMPORT_LIMIT = 2 * 1024 * 1024  # COLLAB_MAX_IMPORT_BYTES' default (documents/conf.py)
TOKEN_RATE = 3  # POST /api/token/ per minute and client address, in this cluster


# -- the cluster -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two daphne processes behind nginx on a private SQLite file, sharing a Redis; stopped after the module."""
    require(nginx_binary() is not None, "nginx is not installed (apt-get install nginx)")
    redis_env: dict[str, str] = {}
    if redis_binary() is None:
        require(port_open("127.0.0.1", 6379), "Redis: redis-server is not installed and nothing answers on 6379")
        import redis

        redis_env["REDIS_URL"] = "redis://127.0.0.1:6379/8"
        redis.Redis.from_url(redis_env["REDIS_URL"]).flushdb()
    directory = tmp_path_factory.mktemp("nginx-cluster")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COLLAB_")
        and key not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE", "PROXY_COUNT"}
    }
    env.update(
        redis_env,
        DJANGO_SETTINGS_MODULE="collab.settings",
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        SECRET_KEY=SECRET_KEY,
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PROXY_COUNT="1",
        TOKEN_THROTTLE_RATE=f"{TOKEN_RATE}/min",
        PYTHONUNBUFFERED="1",
        COLLAB_SPILL_DIR=str(directory / "spill"),
    )
    cluster = Cluster(directory, 2, env=env)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def token(cluster: Cluster) -> str:
    key = cluster.manage("create_api_token", "owner", "--create-user").strip()
    assert re.fullmatch(r"[0-9a-f]{40}", key), key
    return key


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def create_document(cluster: Cluster, token: str, title: str = "Behind nginx") -> str:
    def post() -> str:
        response = requests.post(
            f"{cluster.url}/api/documents/", json={"title": title}, headers=headers(token), timeout=30
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    return await asyncio.to_thread(post)


async def served_by(cluster: Cluster, path: str, token: str | None = None) -> int:
    """GET ``path`` through nginx with a unique query; the port of the upstream that answered (from the access log)."""
    probe = uuid.uuid4().hex
    separator = "&" if "?" in path else "?"
    url = f"{cluster.url}{path}{separator}probe={probe}"
    await asyncio.to_thread(
        requests.get, url, headers=headers(token) if token else {}, timeout=30, allow_redirects=False
    )
    line = await until_value(
        lambda: asyncio.to_thread(lambda: next((x for x in cluster.access_log().splitlines() if probe in x), "")),
        bool,
        f"the access log line of {path}",
    )
    return upstream_port(line)


def upstream_port(line: str) -> int:
    match = re.search(r"upstream=(?:[\d.]+:\d+, )*[\d.]+:(\d+) ", line)
    assert match, f"no upstream in the access log line {line!r}"
    return int(match.group(1))


async def socket_lines(cluster: Cluster, document_id: str, count: int) -> list[str]:
    """The access log lines of ``count`` closed WebSockets of the document (written when each one closes)."""
    needle = f"GET /ws/documents/{document_id} "

    def lines() -> list[str]:
        return [line for line in cluster.access_log().splitlines() if needle in line]

    return await until_value(
        lambda: asyncio.to_thread(lines), lambda found: len(found) >= count, f"{count} socket lines in the access log"
    )


def other(cluster: Cluster, port: int) -> int:
    return next(p for p in cluster.upstream_ports if p != port)


def raw_request(
    port: int, method: str, path: str, body: bytes = b"", source: str = "127.0.0.1", **extra: str
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request from a chosen loopback source address (so nginx sees a client other than itself)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        head = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", **extra}
        connection.request(method, path, body=body, headers=head)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# -- what nginx sends upstream -----------------------------------------------------------------------------------------
class RecordingUpstream(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 upstream that records the request line and headers of every request it gets."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, dict[str, str]]] = {}
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                seen[self.path] = (self.request_version, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def recording_proxy(tmp_path: Path) -> Iterator[tuple[Cluster, RecordingUpstream]]:
    """The shipped site config in a private nginx in front of a recording upstream (no daphne)."""
    require(nginx_binary() is not None, "nginx is not installed (apt-get install nginx)")
    upstream = RecordingUpstream()
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    proxy = Cluster(tmp_path, upstream_ports=[upstream.port])
    try:
        proxy.start_nginx()
        yield proxy, upstream
    finally:
        proxy.stop()
        upstream.shutdown()
        upstream.server_close()


def test_nginx_sends_http11_forwarded_headers_and_upgrade_only_when_asked(
    recording_proxy: tuple[Cluster, RecordingUpstream],
) -> None:
    proxy, upstream = recording_proxy
    raw_request(proxy.nginx_port, "GET", "/plain", source="127.0.0.2", **{"X-Forwarded-For": "203.0.113.7"})
    raw_request(proxy.nginx_port, "GET", "/ws/documents/x", Upgrade="websocket", Connection="Upgrade")
    version, plain = upstream.seen["/plain"]
    assert version == "HTTP/1.1"
    assert plain["host"] == f"127.0.0.1:{proxy.nginx_port}"  # with the port: origin checks compare against it
    assert plain["x-forwarded-for"] == "203.0.113.7, 127.0.0.2"  # appended: PROXY_COUNT=1 takes the last
    assert plain["x-real-ip"] == "127.0.0.2"
    assert plain["x-forwarded-proto"] == "http"
    assert plain["connection"] == "close"
    assert "upgrade" not in plain
    version, upgrade = upstream.seen["/ws/documents/x"]
    assert version == "HTTP/1.1"
    assert upgrade["connection"] == "upgrade"
    assert upgrade["upgrade"] == "websocket"


# -- the tests ---------------------------------------------------------------------------------------------------------
async def test_proxy_passes_health_host_and_keeps_document_affinity(cluster: Cluster, token: str) -> None:
    # Liveness and readiness pass through unchanged (whatever this version of the application answers).
    for path in ("/healthz", "/readyz"):
        direct = await asyncio.to_thread(
            requests.get, f"{cluster.upstream_url(cluster.upstream_ports[0])}{path}", timeout=10
        )
        proxied = await asyncio.to_thread(requests.get, f"{cluster.url}{path}", timeout=10)
        assert proxied.status_code == direct.status_code, (path, proxied.status_code, proxied.text[:200])
        if direct.status_code == 200:
            assert proxied.headers["Content-Type"].startswith("application/json")
    healthz = await asyncio.to_thread(requests.get, f"{cluster.url}/healthz", timeout=10)
    if healthz.status_code == 200:
        assert healthz.json()["status"] == "ok"
    # Metrics are per process: scraped at each upstream, not served by the public site.
    metrics = await asyncio.to_thread(requests.get, f"{cluster.url}/metrics", timeout=10)
    assert metrics.status_code == 404

    # The page, the API and the socket of one document go to one process; so does the id without dashes.
    document = await create_document(cluster, token)
    port = await served_by(cluster, f"/api/documents/{document}/", token)
    assert await served_by(cluster, f"/documents/{document}/") == port
    assert await served_by(cluster, f"/documents/{document.replace('-', '')}/") == port
    clients = [await open_client(cluster.ws_url, document, token) for _ in range(3)]
    for client in clients:
        await client.close()
    assert {upstream_port(line) for line in await socket_lines(cluster, document, 3)} == {port}

    # Documents spread over both processes.
    seen = {port}
    for _ in range(40):
        if seen == set(cluster.upstream_ports):
            break
        seen.add(await served_by(cluster, f"/api/documents/{await create_document(cluster, token)}/", token))
    assert seen == set(cluster.upstream_ports)

    # Host reaches the application with nginx's port: a browser's Origin for the proxied site is the served one,
    # another port of the same host is not.
    served = f"http://127.0.0.1:{cluster.nginx_port}"
    client = await open_client(cluster.ws_url, document, token, origin=served)
    await client.close()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await YClient(f"{cluster.ws_url}/{document}", token=token, origin=f"http://127.0.0.1:{port}").connect()
    assert refused.value.response.status_code == 403


async def test_editors_on_both_processes_converge(cluster: Cluster, token: str) -> None:
    document = await create_document(cluster, token)
    home = await served_by(cluster, f"/api/documents/{document}/", token)
    away = other(cluster, home)
    # One editor through nginx (on the document's process), one straight at that process, one at the other.
    editors = {
        "proxied": await open_client(cluster.ws_url, document, token),
        "home": await open_client(cluster.upstream_ws_url(home), document, token),
        "away": await open_client(cluster.upstream_ws_url(away), document, token),
    }
    try:
        expected: set[str] = set()
        for round_ in range(10):
            for name, client in editors.items():
                text = f"{name}-{round_:02d}-{uuid.uuid4().hex[:6]}"
                client.add_paragraph(text)
                expected.add(text)
        for name, client in editors.items():
            await client.wait_for(lambda c=client: set(c.paragraph_texts()) == expected, timeout=15)
            assert len(client.paragraph_texts()) == len(expected), name
        orders = {tuple(client.paragraph_texts()) for client in editors.values()}
        assert len(orders) == 1, "the editors converged to different orders"

        def rest_text() -> str:
            response = requests.get(f"{cluster.url}/api/documents/{document}/", headers=headers(token), timeout=30)
            return str(response.json()["text"])

        await until_value(
            lambda: asyncio.to_thread(rest_text),
            lambda text: set(text.split("\n")) == expected,
            "the REST text through nginx to hold every paragraph",
        )
    finally:
        for client in editors.values():
            await client.close()
    # Only the proxied editor went through nginx, to the document's process.
    (line,) = await socket_lines(cluster, document, 1)
    assert upstream_port(line) == home


async def test_imports_up_to_the_limit_pass_the_proxy(cluster: Cluster, token: str) -> None:
    document = await create_document(cluster, token)
    url = f"{cluster.url}/api/documents/{document}/content"
    marker = f"end-{uuid.uuid4().hex}"

    def paragraphs(unit: str, size: int) -> str:
        """Markdown paragraphs of ``unit`` repeated, ``size`` bytes of UTF-8 in all, ending with the marker."""
        line = unit * (2000 // len(unit.encode())) + "\n\n"
        body = line * ((size - len(marker.encode())) // len(line.encode()))
        text = body + marker
        return text + "x" * (size - len(text.encode()))

    def put(content: str) -> requests.Response:
        # requests escapes non-ASCII in JSON (ensure_ascii), as many clients do: the body is up to 3x the content.
        return requests.put(url, json={"format": "markdown", "content": content}, headers=headers(token), timeout=120)

    ascii_text = paragraphs("word ", IMPORT_LIMIT)
    assert len(ascii_text.encode()) == IMPORT_LIMIT
    response = await asyncio.to_thread(put, ascii_text)
    assert response.status_code == 204, (response.status_code, response.text[:300])

    accented = paragraphs("é", IMPORT_LIMIT)
    assert len(accented.encode()) == IMPORT_LIMIT
    assert len(json.dumps({"format": "markdown", "content": accented})) > 5 * 1024 * 1024
    response = await asyncio.to_thread(put, accented)
    assert response.status_code == 204, (response.status_code, response.text[:300])

    def text() -> str:
        got = requests.get(f"{cluster.url}/api/documents/{document}/", headers=headers(token), timeout=60)
        return str(got.json()["text"])

    assert (await asyncio.to_thread(text)).rstrip("x").endswith(marker)

    # One byte over the import limit reaches the application, which names the field.
    response = await asyncio.to_thread(put, ascii_text + "y")
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "content" in response.json()
    # Only bodies past client_max_body_size (7 MiB) are refused by nginx itself, before it reads them.
    status, _, _ = await asyncio.to_thread(
        raw_request,
        cluster.nginx_port,
        "PUT",
        f"/api/documents/{document}/content",
        b"",
        **{"Content-Length": str(8 * 1024 * 1024), "Authorization": f"Token {token}"},
    )
    assert status == 413


async def test_forwarded_for_reaches_the_application(cluster: Cluster) -> None:
    # The token throttle keys on the client address: with PROXY_COUNT=1, the one nginx appended to X-Forwarded-For.
    # Every request reaches daphne from nginx's own address; only X-Forwarded-For tells these clients apart.
    body = json.dumps({"username": f"nobody-{uuid.uuid4().hex[:8]}", "password": "wrong"}).encode()

    def attempt(source: str, **extra: str) -> int:
        return raw_request(cluster.nginx_port, "POST", "/api/token/", body, source=source, **extra)[0]

    statuses = [await asyncio.to_thread(attempt, "127.0.0.2") for _ in range(TOKEN_RATE)]
    assert 429 not in statuses, statuses
    assert await asyncio.to_thread(attempt, "127.0.0.2") == 429
    # A client cannot pass for another one by writing the header itself: nginx appends the address it saw.
    assert await asyncio.to_thread(attempt, "127.0.0.2", **{"X-Forwarded-For": "203.0.113.7"}) == 429
    assert await asyncio.to_thread(attempt, "127.0.0.3") != 429


async def until_every_upstream_serves(cluster: Cluster, token: str, documents: int = 16) -> None:
    """Wait until nginx sends requests to every process again: one that refused a connection is skipped for its
    fail_timeout (10 s) even after it restarted. Probes a few documents until each process answered one."""
    ids = [await create_document(cluster, token, "probe") for _ in range(documents)]

    async def serving() -> set[int]:
        return {await served_by(cluster, f"/api/documents/{document}/", token) for document in ids}

    await until_value(serving, lambda ports: ports == set(cluster.upstream_ports), "nginx to use every process", 30)


def sockets_by_process(cluster: Cluster, document_id: str) -> dict[int, int]:
    """How many WebSockets of the document each process accepted so far (daphne's own access log)."""
    needle = f'"WSCONNECT /ws/documents/{document_id}"'
    return {port: process.log().count(needle) for port, process in cluster.daphnes.items()}


# With one editor connected straight to the survivor, the survivor holds a replica of the room when the victim dies:
# the clients reconnecting to it re-send nothing (it has everything), so what the victim had not written must be
# in the survivor's own rows. Through nginx alone the survivor loads the document from storage and gets it re-sent.
@pytest.mark.parametrize(
    "editor_on_survivor",
    [
        pytest.param(False, id="all-through-nginx"),
        pytest.param(True, id="one-editor-on-survivor"),
    ],
)
async def test_sigkill_of_a_process_behind_nginx_loses_nothing(
    cluster: Cluster, token: str, editor_on_survivor: bool
) -> None:
    await until_every_upstream_serves(cluster, token)
    document = await create_document(cluster, token, "SIGKILL behind nginx")
    names = ("c1", "c2", "c3")
    proxied = Typists(f"{cluster.ws_url}/{document}", token, names, deadline=200)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(proxied)
        # Which process nginx gave the document: every proxied client is there (affinity), as daphne's log says.
        accepted = await until_value(
            lambda: asyncio.to_thread(sockets_by_process, cluster, document),
            lambda counts: sum(counts.values()) >= len(names),
            "the proxied clients' sockets in the daphne logs",
        )
        (victim,) = [port for port, count in accepted.items() if count]
        assert accepted[victim] == len(names), accepted
        survivor = other(cluster, victim)
        members = list(proxied.members)
        if editor_on_survivor:
            # An editor straight at the other process: it holds a replica of the document when the victim dies.
            direct = Typists(f"{cluster.upstream_ws_url(survivor)}/{document}", token, ("c4",), deadline=200)
            await stack.enter_async_context(direct)
            members += direct.members
        for typist in members:
            typist.start_typing()
        await until(lambda: all(len(t.typed) >= 40 for t in members), "40 tokens typed each", timeout=20)
        killed_at = time.monotonic()
        assert await asyncio.to_thread(cluster.daphnes[victim].stop, signal.SIGKILL) == -signal.SIGKILL
        # Through nginx, each proxied client reconnects to the survivor and re-syncs what it holds.
        await until(
            lambda: all(
                t.synced and t.sessions[-1].opened and t.sessions[-1].started > killed_at for t in proxied.members
            ),
            "every proxied client to reconnect and re-sync through nginx",
            timeout=30,
        )
        typed_at_reconnect = {t.name: len(t.typed) for t in members}
        await until(
            lambda: all(len(t.typed) >= typed_at_reconnect[t.name] + 40 for t in members),
            "40 more tokens typed each after the reconnect",
            timeout=20,
        )
        for typist in members:
            await typist.stop_typing()
        # A fresh joiner through nginx (so on the survivor) holds everything every client holds.
        behind = await settle(SimpleNamespace(ws_url=cluster.ws_url), document, token, members, timeout=60)
        assert not behind, behind
        typed = {t.name: set(t.typed) for t in members}
        summary = "; ".join(t.summary() for t in members)

    # A restart: the survivor stops gracefully (writing what it buffers), then fresh processes read the document.
    assert await asyncio.to_thread(cluster.daphnes[survivor].stop, signal.SIGTERM) == 0, cluster.logs()
    for port in cluster.upstream_ports:
        await asyncio.to_thread(cluster.start_daphne, port)

    def get() -> requests.Response:
        return requests.get(f"{cluster.url}/api/documents/{document}/", headers=headers(token), timeout=30)

    rest = await until_value(
        lambda: asyncio.to_thread(get), lambda r: r.status_code == 200, "the document through the restarted cluster"
    )
    joiner = await open_client(cluster.ws_url, document, token)
    back = ReadBack(Answer(rest.status_code, None, 0.0), str(rest.json()["text"]), str(joiner.fragment))
    await joiner.close()
    tally = Tally.of(typed, back)
    where = "with an editor on the survivor" if editor_on_survivor else "all editors through nginx"
    print(f"\nSIGKILL behind nginx ({where}): {tally}; {summary}")
    assert tally.complete, f"tokens lost: {tally}; {summary}\n{cluster.logs()}"
