"""The documents admin's pages: live counts from Redis in a constant number of round trips, their labels, the
sandboxed content preview (also in a real browser), autocomplete for users and the links to the editor.

Tests that need Redis skip without it (tests/services.py); the browser test needs Chromium.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import redis
from django.test import Client

from documents.bridge import replace_content
from documents.engine.livecount import KEY_TTL_SECONDS, LiveCounts, alive_key, document_key
from documents.models import Document
from tests.live_server import free_port
from tests.services import redis_url

CHANGELIST = "/admin/documents/document/"
PREVIEW_HTML = (
    '<h1>Heading</h1><ul><li>one</li><li>two</li></ul><p>He said "hi" &amp; left</p><script>alert(1)</script>'
)


@pytest.fixture
def admin(client: Client, staff: Any) -> Client:
    client.force_login(staff)
    return client


class LiveRedis:
    """Redis as the admin reads it; publishes counts like a server process and removes what the test wrote."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url)
        self.keys: set[str] = set()

    def publish(self, instance: str, counts: dict[uuid.UUID, int]) -> None:
        """Write ``counts`` as the process ``instance`` does."""
        self.keys.add(alive_key(instance))
        self.keys.update(document_key(document_id) for document_id in counts)

        async def run() -> None:
            live = LiveCounts(self.url, instance)
            for document_id, count in counts.items():
                live.changed(document_id, count)
            await live.refresh()
            await asyncio.gather(*(task for task in asyncio.all_tasks() if task is not asyncio.current_task()))
            await live.aclose()

        asyncio.run(run())

    def close(self) -> None:
        if self.keys:
            self.client.delete(*self.keys)
        self.client.close()


@pytest.fixture
def live_redis(settings: Any) -> Iterator[LiveRedis]:
    live = LiveRedis(redis_url())
    settings.REDIS_URL = live.url
    yield live
    live.close()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every request sent to Redis by a synchronous client from now on (a pipeline is one)."""
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def make_documents(owner: Any, count: int) -> list[Document]:
    return Document.objects.bulk_create(Document(title=f"Doc {i:03}", owner=owner) for i in range(count))


def page_counts(response: Any) -> dict[uuid.UUID, str]:
    """The live connections cell of each row of a changelist response."""
    return {row.pk: row.live_connections_display for row in response.context["cl"].result_list}


class Iframes(HTMLParser):
    """The attributes of every iframe of a page, unescaped as a browser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))


# -- live connection counts ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_changelist_sums_counts_of_every_process_in_two_round_trips(
    admin: Client, alice: Any, live_redis: LiveRedis, round_trips: list[bytes]
) -> None:
    documents = make_documents(alice, 100)
    one, two = uuid.uuid4().hex, uuid.uuid4().hex
    live_redis.publish(one, {documents[0].pk: 2, documents[1].pk: 1})
    live_redis.publish(two, {documents[0].pk: 3, documents[5].pk: 4})
    # Other documents open in other processes: the admin must not scan the keyspace.
    with live_redis.client.pipeline(transaction=False) as pipe:
        for _ in range(300):
            instance, key = uuid.uuid4().hex, document_key(uuid.uuid4())
            pipe.hset(key, instance, 1)
            pipe.set(alive_key(instance), 1, ex=KEY_TTL_SECONDS)
            live_redis.keys.update((key, alive_key(instance)))
        pipe.execute()

    admin.get(CHANGELIST)  # opens the pooled connection (its handshake is no round trip of the page)
    round_trips.clear()
    response = admin.get(CHANGELIST)
    assert response.status_code == 200
    assert len(round_trips) == 2, round_trips  # the page's hashes, then the liveness of the processes they name
    counts = page_counts(response)
    assert len(counts) == 100
    assert counts[documents[0].pk] == "5"
    assert counts[documents[1].pk] == "1"
    assert counts[documents[5].pk] == "4"
    assert {counts[d.pk] for d in documents if d.pk not in {documents[i].pk for i in (0, 1, 5)}} == {"0"}
    assert "Live connections (all processes)" in response.content.decode()
    assert "(this process)" not in response.content.decode()


@pytest.mark.django_db
def test_a_page_without_open_documents_costs_one_round_trip(
    admin: Client, alice: Any, live_redis: LiveRedis, round_trips: list[bytes]
) -> None:
    make_documents(alice, 100)
    admin.get(CHANGELIST)
    round_trips.clear()
    response = admin.get(CHANGELIST)
    assert len(round_trips) == 1
    assert set(page_counts(response).values()) == {"0"}


@pytest.mark.django_db
def test_counts_of_a_dead_process_are_ignored_and_removed(
    admin: Client, document: Document, live_redis: LiveRedis
) -> None:
    alive, dead = uuid.uuid4().hex, uuid.uuid4().hex
    live_redis.publish(alive, {document.pk: 1})
    live_redis.publish(dead, {document.pk: 7})
    key = document_key(document.pk)
    assert 0 < live_redis.client.ttl(key) <= KEY_TTL_SECONDS
    assert 0 < live_redis.client.ttl(alive_key(dead)) <= KEY_TTL_SECONDS
    assert page_counts(admin.get(CHANGELIST))[document.pk] == "8"

    live_redis.client.delete(alive_key(dead))  # what its expiry does once the process stops refreshing
    assert page_counts(admin.get(CHANGELIST))[document.pk] == "1"
    assert live_redis.client.hkeys(key) == [alive.encode()]


@pytest.mark.django_db
def test_a_closed_document_leaves_no_field(admin: Client, document: Document, live_redis: LiveRedis) -> None:
    instance = uuid.uuid4().hex
    live_redis.publish(instance, {document.pk: 2})
    live_redis.publish(instance, {document.pk: 0})
    assert not live_redis.client.exists(document_key(document.pk))
    assert page_counts(admin.get(CHANGELIST))[document.pk] == "0"


@pytest.mark.django_db
def test_change_page_shows_the_count_of_every_process(admin: Client, document: Document, live_redis: LiveRedis) -> None:
    live_redis.publish(uuid.uuid4().hex, {document.pk: 3})
    body = admin.get(f"{CHANGELIST}{document.pk}/change/").content.decode()
    assert "Live connections (all processes)" in body
    assert '<div class="readonly">3</div>' in body


@pytest.mark.django_db
def test_without_redis_the_counts_are_labelled_this_process(admin: Client, document: Document, settings: Any) -> None:
    settings.REDIS_URL = ""
    response = admin.get(CHANGELIST)
    body = response.content.decode()
    assert "Live connections (this process)" in body
    assert "all processes" not in body
    assert page_counts(response)[document.pk] == "0"


@pytest.mark.django_db
def test_unreachable_redis_says_the_counts_are_this_process_only(
    admin: Client, document: Document, settings: Any
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = admin.get(CHANGELIST)
    assert response.status_code == 200
    assert page_counts(response)[document.pk] == "0 (this process only: Redis unreachable)"


# -- the content preview ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_preview_is_a_sandboxed_iframe_with_the_escaped_export(admin: Client, document: Document) -> None:
    replace_content(document, "html", PREVIEW_HTML)
    body = admin.get(f"{CHANGELIST}{document.pk}/change/").content.decode()
    assert "<h1>Heading" not in body  # nothing of the document is markup of the admin page itself
    parser = Iframes()
    parser.feed(body)
    (frame,) = parser.frames
    assert frame["class"] == "document-preview"
    assert frame["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"  # no scripts, an opaque origin
    srcdoc = frame["srcdoc"] or ""
    assert srcdoc.startswith("<!doctype html>")
    assert "<style>" in srcdoc
    assert "<h1>Heading</h1><ul><li><p>one</p></li><li><p>two</p></li></ul>" in srcdoc
    assert '<p>He said "hi" &amp; left</p>' in srcdoc
    assert "alert(1)" not in srcdoc and "<script" not in srcdoc


@pytest.mark.django_db
def test_preview_escapes_a_hostile_title(admin: Client, alice: Any) -> None:
    document = Document.objects.create(title='x" onload="alert(1)', owner=alice)
    body = admin.get(f"{CHANGELIST}{document.pk}/change/").content.decode()
    parser = Iframes()
    parser.feed(body)
    (frame,) = parser.frames
    assert "onload" not in frame
    assert frame["title"] == 'Content preview of x" onload="alert(1)'


# -- autocomplete and links ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_fields_autocomplete(admin: Client, document: Document) -> None:
    body = admin.get(f"{CHANGELIST}{document.pk}/change/").content.decode()
    assert 'data-field-name="owner"' in body
    assert 'data-field-name="user"' in body  # the membership inline
    assert "admin-autocomplete" in body

    def suggest(model: str, field: str, term: str) -> list[str]:
        query = {"app_label": "documents", "model_name": model, "field_name": field, "term": term}
        response = admin.get("/admin/autocomplete/", query)
        assert response.status_code == 200, response.content
        return [result["text"] for result in response.json()["results"]]

    assert suggest("document", "owner", "ali") == ["alice"]
    assert suggest("membership", "user", "bo") == ["bob"]
    assert suggest("membership", "document", "Pla") == ["Plans"]
    membership_page = admin.get("/admin/documents/membership/add/").content.decode()
    assert 'data-field-name="user"' in membership_page and 'data-field-name="document"' in membership_page


@pytest.mark.django_db
def test_list_and_change_page_link_to_the_editor_in_a_new_tab(admin: Client, document: Document) -> None:
    link = f'<a href="/documents/{document.pk}/" target="_blank" rel="noopener"'
    assert link in admin.get(CHANGELIST).content.decode()
    change_page = admin.get(f"{CHANGELIST}{document.pk}/change/").content.decode()
    assert f'{link} class="open-in-editor">Open in editor</a>' in change_page
    assert "Open in editor" not in admin.get(f"{CHANGELIST}add/").content.decode()


# -- in a browser ----------------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_preview_is_not_styled_by_the_admin(
    start_server: Any, document: Document, staff: Any, request: pytest.FixtureRequest
) -> None:
    from playwright.sync_api import expect

    from tests.browser_support import CHROMIUM, artifact_path, launch_browser
    from tests.conftest import PASSWORD
    from tests.services import require

    require(CHROMIUM.exists(), "Chromium is not installed (apt-get install chromium)")
    replace_content(document, "html", PREVIEW_HTML)
    server = start_server()
    change_url = f"{CHANGELIST}{document.pk}/change/"
    with launch_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors: list[str] = []
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{server.http_url}/admin/login/?next={change_url}")
        page.fill("input[name=username]", staff.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{server.http_url}{change_url}")

        preview = page.frame_locator("iframe.document-preview")
        heading = preview.locator("h1")
        expect(heading).to_have_text("Heading")
        style = heading.evaluate(
            "el => { const s = getComputedStyle(el); return [s.backgroundColor, s.color, parseFloat(s.fontSize)] }"
        )
        assert style[0] == "rgba(0, 0, 0, 0)", style  # not the admin's module bar
        assert style[2] > 20, style
        bullets = preview.locator("li").evaluate_all("els => els.map((el) => getComputedStyle(el).listStyleType)")
        assert bullets == ["disc", "disc"]
        # The admin's own headings keep their bar: its stylesheet is there, it just does not reach the preview.
        bar = page.locator(".inline-group h2").first.evaluate("el => getComputedStyle(el).backgroundColor")
        assert bar != "rgba(0, 0, 0, 0)"
        # The owner field's autocomplete widget came up (its scripts are allowed by the Content-Security-Policy).
        expect(page.locator(".field-owner .select2-container")).to_have_count(1)
        page.screenshot(path=str(artifact_path(request)), full_page=True)
        with page.expect_popup() as popup:
            page.click("a.open-in-editor")
        popup.value.wait_for_url(f"{server.http_url}/documents/{document.pk}/")
        popup.value.close()

        page.goto(f"{server.http_url}{CHANGELIST}")
        expect(page.locator("th.column-live_connections")).to_contain_text("Live connections (this process)")
        expect(page.locator(f'td.field-open_in_editor a[href="/documents/{document.pk}/"]')).to_have_count(1)
        page.screenshot(path=str(artifact_path(request, "--list")), full_page=True)
        assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
