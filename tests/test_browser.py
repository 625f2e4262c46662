"""Browser tests: headless Chromium (Playwright) against a real daphne server started by each test.

Every test saves screenshots of its open pages under test-artifacts/ (see tests/browser_support.py).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import (
    DESKTOP,
    PHONE,
    Editors,
    api_token,
    artifact_path,
    click_end_of_text,
    editor_text,
    export_markdown,
    launch_browser,
    open_editor,
    open_editors,
    put_markdown,
    rest_text,
    shared_blocks,
    top_blocks,
    wait_for_blocks,
    wait_for_editor_text,
    wait_for_selection,
    wait_for_text,
    wait_for_top_blocks,
    wait_live,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def token(carol: Any) -> str:
    """Carol's (the viewer's) API token, for reading the document over REST.

    Made before the browser starts: Playwright's sync API runs an event loop in the test's thread, where Django
    then refuses ORM calls.
    """
    return api_token(carol)


@pytest.fixture
def writer_token(bob: Any) -> str:
    """Bob's (an editor's) API token, for replacing the content over REST; like ``token``, list it before
    ``editors``."""
    return api_token(bob)


@pytest.fixture
def editors(token: str, request: pytest.FixtureRequest) -> Iterator[Editors]:
    """Opens logged-in editor pages on a fresh Chromium; screenshots them into test-artifacts/ at the end."""
    with open_editors(request) as opened:
        yield opened
        assert not opened.page_errors, f"uncaught errors in the pages: {opened.page_errors}"


def presence_names(page: Page) -> list[str]:
    return page.locator("#presence-list > li.presence__user").evaluate_all("els => els.map((el) => el.dataset.name)")


def test_concurrent_typing_in_one_paragraph_converges(
    start_server: Any, document: Any, token: str, editors: Editors, request: pytest.FixtureRequest
) -> None:
    """Alice and bob type into the same paragraph at the same time; both end with the same text as the server."""
    server = start_server()
    alice = editors.open(server, document, "alice")
    click_end_of_text(alice)
    alice.keyboard.type("START ")
    seed = "START "
    alice_keys = "abcdefghij" * 3
    bob_keys = "0123456789" * 3
    total = len(seed) + len(alice_keys) + len(bob_keys)
    start_typing = threading.Barrier(2, timeout=30)
    typing_times: dict[str, tuple[float, float]] = {}

    def type_keys(page: Page, name: str, keys: str) -> None:
        started = time.monotonic()
        page.keyboard.type(keys, delay=10)
        typing_times[name] = (started, time.monotonic())

    bob_errors: list[str] = []

    def bob_session() -> str:
        # Playwright's sync API belongs to one thread: bob's browser is driven from this thread only.
        with launch_browser() as browser:
            try:
                bob = open_editor(browser, server, document, "bob", on_error=bob_errors.append)
                wait_for_text(bob, seed)
                click_end_of_text(bob)
            except BaseException:
                start_typing.abort()  # Do not keep alice waiting for a bob who will never type.
                raise
            try:
                start_typing.wait()
                type_keys(bob, "bob", bob_keys)
                return wait_for_editor_text(bob, "(text, total) => text.length === total", total)
            finally:
                bob.screenshot(path=str(artifact_path(request, "--bob")))
                bob.context.close()

    with ThreadPoolExecutor(1) as pool:
        bob_future = pool.submit(bob_session)
        try:
            start_typing.wait()
        except threading.BrokenBarrierError:
            bob_future.result()  # Raises what went wrong for bob.
            raise
        type_keys(alice, "alice", alice_keys)
        alice_text = wait_for_editor_text(alice, "(text, total) => text.length === total", total)
        bob_text = bob_future.result(timeout=60)

    assert not bob_errors, bob_errors
    # The two users really typed at the same time.
    assert max(start for start, _ in typing_times.values()) < min(end for _, end in typing_times.values())
    assert alice_text == bob_text
    assert alice_text.startswith(seed)
    typed = alice_text[len(seed) :]
    # However the two runs of keystrokes were merged, each user's keys are in the order typed.
    assert "".join(ch for ch in typed if ch.isalpha()) == alice_keys
    assert "".join(ch for ch in typed if ch.isdigit()) == bob_keys
    wait_until(lambda: rest_text(server, document, token) == alice_text, message="REST text == the editors' text")


def test_remote_caret_is_labelled_with_the_username(start_server: Any, document: Any, editors: Editors) -> None:
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    click_end_of_text(alice)
    alice.keyboard.type("Alice was here")
    wait_for_text(bob, "Alice was here")

    label = bob.locator(".collaboration-carets__label")
    expect(label).to_have_count(1)
    expect(label).to_have_text("alice")
    expect(bob.locator(".ProseMirror .collaboration-carets__caret")).to_have_count(1)

    click_end_of_text(bob)
    expect(alice.locator(".collaboration-carets__label")).to_have_text("bob")
    # The carets are decorations, not text.
    assert editor_text(alice) == editor_text(bob) == "Alice was here"


def test_viewer_cannot_change_the_text(start_server: Any, document: Any, token: str, editors: Editors) -> None:
    server = start_server()
    alice = editors.open(server, document, "alice")
    click_end_of_text(alice)
    alice.keyboard.type("Read only for carol")
    carol_page = editors.open(server, document, "carol")
    wait_for_text(carol_page, "Read only for carol")
    wait_until(lambda: rest_text(server, document, token) == "Read only for carol", message="alice's text saved")

    editor = carol_page.locator(".ProseMirror")
    expect(editor).to_have_attribute("contenteditable", "false")
    buttons = carol_page.locator("#editor-toolbar button")
    assert buttons.count() > 5
    for index in range(buttons.count()):
        expect(buttons.nth(index)).to_be_disabled()
    expect(carol_page.locator("#share-button")).to_have_count(0)

    editor.click()
    carol_page.keyboard.press("End")
    carol_page.keyboard.type("HACKED")
    carol_page.keyboard.press("Enter")
    carol_page.keyboard.press("Backspace")
    carol_page.keyboard.press("Control+a")
    carol_page.keyboard.press("Delete")
    assert editor_text(carol_page) == "Read only for carol"
    carol_page.evaluate("() => window.getSelection().removeAllRanges()")

    # Bypass the read-only UI: a change made through the editor API reaches carol's Y.Doc and goes to the server,
    # which must drop it.
    carol_page.evaluate("() => window.collab.editor.commands.insertContentAt(0, 'INJECTED ')")
    assert editor_text(carol_page).startswith("INJECTED ")
    # Messages of one connection are handled in order: once alice sees carol's next awareness update, the server
    # has already dealt with carol's document update.
    carol_page.evaluate("() => window.collab.provider.awareness.setLocalStateField('probe', 1)")
    alice.wait_for_function(
        "() => [...window.collab.provider.awareness.getStates().values()].some((state) => state.probe === 1)"
    )
    assert editor_text(alice) == "Read only for carol"
    assert rest_text(server, document, token) == "Read only for carol"
    # A late joiner gets the server's state, without carol's change.
    late = editors.open(server, document, "bob")
    assert editor_text(late) == "Read only for carol"


def test_presence_shows_both_users_and_drops_a_closed_tab(start_server: Any, document: Any, editors: Editors) -> None:
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    users = alice.locator("#presence-list > li.presence__user")
    expect(users).to_have_count(2)
    assert presence_names(alice) == ["alice", "bob"]
    expect(alice.locator('#presence-list > li.presence__user[data-name="alice"]')).to_have_attribute(
        "data-self", "true"
    )
    expect(alice.locator('#presence-list > li.presence__user[data-name="bob"]')).to_have_attribute("data-self", "false")
    expect(bob.locator("#presence-list > li.presence__user")).to_have_count(2)
    assert presence_names(bob) == ["bob", "alice"]

    closed_at = time.monotonic()
    bob.close()
    expect(users).to_have_count(1, timeout=3000)
    elapsed = time.monotonic() - closed_at
    assert presence_names(alice) == ["alice"]
    assert elapsed < 3, elapsed


def test_presence_drops_a_user_whose_browser_goes_away(start_server: Any, document: Any, editors: Editors) -> None:
    """Closing the whole browser context (no chance to say goodbye) also drops the user within 3 s."""
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    expect(alice.locator("#presence-list > li.presence__user")).to_have_count(2)
    # Mute bob's socket so the goodbye the page sends on pagehide never leaves: only the server can tell alice.
    bob.evaluate("() => { window.collab.provider.ws.send = () => {} }")
    bob.context.close()
    expect(alice.locator("#presence-list > li.presence__user")).to_have_count(1, timeout=3000)


def test_server_restart_keeps_offline_edits(start_server: Any, document: Any, token: str, editors: Editors) -> None:
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    click_end_of_text(alice)
    alice.keyboard.type("Before the restart.")
    wait_for_text(bob, "Before the restart.")

    server.stop(signal.SIGTERM)
    for page in (alice, bob):
        expect(page.locator("#doc-status")).to_have_attribute("data-connection", "offline")
        expect(page.locator("#doc-status")).to_have_attribute("data-state", "offline")
    click_end_of_text(alice)
    alice.keyboard.type(" Typed by alice while offline.")
    bob.locator(".ProseMirror").click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.type("Bob offline: ")
    assert editor_text(alice) == "Before the restart. Typed by alice while offline."
    assert editor_text(bob) == "Bob offline: Before the restart."

    restarted = start_server(port=server.port)
    expected = "Bob offline: Before the restart. Typed by alice while offline."
    for page in (alice, bob):
        wait_live(page, timeout=20_000)
        wait_for_text(page, expected)
        expect(page.locator("#doc-status")).to_have_attribute("data-state", "saved")
    wait_until(lambda: rest_text(restarted, document, token) == expected, message="offline edits reach the server")


def test_formatting_reaches_the_other_user_and_markdown(
    start_server: Any, document: Any, token: str, editors: Editors
) -> None:
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    toolbar = alice.locator("#editor-toolbar")

    click_end_of_text(alice)
    toolbar.get_by_role("button", name="Heading 1", exact=True).click()
    alice.keyboard.type("Quarterly plan")
    alice.keyboard.press("Enter")
    alice.keyboard.type("We ship ")
    toolbar.get_by_role("button", name="Bold", exact=True).click()
    alice.keyboard.type("on Friday")
    toolbar.get_by_role("button", name="Bold", exact=True).click()
    alice.keyboard.type(" at noon.")
    alice.keyboard.press("Enter")
    toolbar.get_by_role("button", name="Bullet list", exact=True).click()
    alice.keyboard.type("Write the tests")
    alice.keyboard.press("Enter")
    alice.keyboard.type("Fix the bugs")

    wait_for_blocks(bob, "ul > li", ["Write the tests", "Fix the bugs"])
    wait_for_blocks(bob, "h1", ["Quarterly plan"])
    wait_for_blocks(bob, "p strong", ["on Friday"])
    expect(toolbar.get_by_role("button", name="Bullet list", exact=True)).to_have_attribute("aria-pressed", "true")

    expected = [
        "# Quarterly plan",
        "We ship **on Friday** at noon.",
        "- Write the tests",
        "- Fix the bugs",
    ]

    def markdown_has_everything() -> str | None:
        markdown = export_markdown(server, document, token)
        return markdown if all(line in markdown.splitlines() for line in expected) else None

    try:
        wait_until(markdown_has_everything, message="Markdown export has the formatting")
    except AssertionError as exc:
        raise AssertionError(f"Markdown export:\n{export_markdown(server, document, token)}") from exc


def test_document_typed_by_two_users_is_the_same_everywhere(
    start_server: Any, document: Any, token: str, editors: Editors, request: pytest.FixtureRequest
) -> None:
    """Alice and bob type a document of many kinds of block with the keyboard, as people do (Markdown input rules,
    Ctrl+B, the toolbar's link button): both editors, the REST text, the Markdown export and a reloaded editor
    show the same blocks, and no editor shows a block the shared document does not hold (such as Tiptap's
    trailing paragraph after a final code block)."""
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")

    click_end_of_text(alice)
    alice.keyboard.type("# Release notes")
    alice.keyboard.press("Enter")
    alice.keyboard.type("This release was typed by ")
    alice.keyboard.press("Control+b")
    alice.keyboard.type("two people")
    alice.keyboard.press("Control+b")
    alice.keyboard.type(" at once.")
    alice.keyboard.press("Enter")
    alice.keyboard.type("- Faster sync")
    alice.keyboard.press("Enter")
    alice.keyboard.type("Fewer conflicts")
    alice.keyboard.press("Enter")
    alice.keyboard.press("Enter")  # An empty item leaves the list.
    alice.keyboard.type("``` npm ci")
    alice.keyboard.press("Enter")
    alice.keyboard.type("npm test")
    for _ in range(3):
        alice.keyboard.press("Enter")  # The third Enter at the end of a code block leaves it.
    alice.keyboard.type("Typed by alice.")
    by_alice = [
        ("h1", "Release notes"),
        ("p", "This release was typed by two people at once."),
        ("ul", "Faster sync\nFewer conflicts"),
        ("pre", "npm ci\nnpm test"),
        ("p", "Typed by alice."),
    ]
    for page in (alice, bob):
        wait_for_top_blocks(page, by_alice)

    click_end_of_text(bob)
    bob.keyboard.press("Enter")
    bob.keyboard.type("## Upgrade")
    bob.keyboard.press("Enter")
    bob.keyboard.type("1. Stop the server")
    bob.keyboard.press("Enter")
    bob.keyboard.type("Run the migrations")
    bob.keyboard.press("Enter")
    bob.keyboard.press("Enter")
    bob.keyboard.type("> Back up first.")
    bob.keyboard.press("Enter")
    bob.keyboard.press("Enter")  # An empty paragraph leaves the quote.
    bob.keyboard.type("Read the docs before upgrading.")
    # Select "docs" and link it with the toolbar's button, which asks for the address in the link popover.
    bob.keyboard.press("Home")
    for _ in range(len("Read the ")):
        bob.keyboard.press("ArrowRight")
    for _ in range(len("docs")):
        bob.keyboard.press("Shift+ArrowRight")
    wait_for_selection(bob, text="docs")
    bob.locator("#editor-toolbar").get_by_role("button", name="Link", exact=True).click()
    address = bob.locator("#link-popover input")
    expect(address).to_be_focused()
    address.fill("example.com/docs")  # a bare domain gets https://
    address.press("Enter")
    expect(bob.locator(".ProseMirror a[href='https://example.com/docs']")).to_have_text("docs")
    expect(bob.locator("#link-popover")).to_have_count(0)
    bob.keyboard.press("End")
    wait_for_selection(bob, text="", block_end=True)
    bob.keyboard.press("Enter")
    bob.keyboard.type("``` make migrate")
    bob.keyboard.press("Enter")
    bob.keyboard.type("make restart")
    with_final_code_block = [
        *by_alice,
        ("h2", "Upgrade"),
        ("ol", "Stop the server\nRun the migrations"),
        ("blockquote", "Back up first."),
        ("p", "Read the docs before upgrading."),
        ("pre", "make migrate\nmake restart"),
    ]
    # The document ends with a code block, and so do both editors: no view-only paragraph after it.
    for page in (bob, alice):
        wait_for_top_blocks(page, with_final_code_block)
    expected_text = "\n".join(text for _tag, text in with_final_code_block)
    wait_until(lambda: rest_text(server, document, token) == expected_text, message="REST text == the blocks")

    # ArrowDown at the end of the final code block leaves it for a new paragraph, which everyone gets.
    bob.keyboard.press("ArrowDown")
    bob.keyboard.type("Done.")
    blocks = [*with_final_code_block, ("p", "Done.")]
    for page in (bob, alice):
        wait_for_top_blocks(page, blocks)
    assert top_blocks(alice) == top_blocks(bob) == blocks
    assert shared_blocks(alice) == shared_blocks(bob) == [
        "heading", "paragraph", "bulletList", "codeBlock", "paragraph",
        "heading", "orderedList", "blockquote", "paragraph", "codeBlock", "paragraph",
    ]  # fmt: skip

    expected_text = "\n".join(text for _tag, text in blocks)
    try:
        wait_until(lambda: rest_text(server, document, token) == expected_text, message="REST text == the blocks")
    except AssertionError as exc:
        raise AssertionError(f"REST text: {rest_text(server, document, token)!r}, blocks: {blocks!r}") from exc
    expected_markdown = """# Release notes

This release was typed by **two people** at once.

- Faster sync
- Fewer conflicts

```
npm ci
npm test
```

Typed by alice.

## Upgrade

1. Stop the server
2. Run the migrations

> Back up first.

Read the [docs](https://example.com/docs) before upgrading.

```
make migrate
make restart
```

Done.
"""
    assert export_markdown(server, document, token) == expected_markdown

    alice.reload()
    wait_live(alice)
    wait_for_top_blocks(alice, blocks)
    assert shared_blocks(alice) == shared_blocks(bob)
    alice.screenshot(path=str(artifact_path(request, "--reloaded")), full_page=True)


def test_content_replaced_over_rest_shows_no_block_of_the_editors_own(
    start_server: Any, document: Any, token: str, writer_token: str, editors: Editors
) -> None:
    """Content put over REST that ends with a code block reaches both open editors as one change from outside: they
    show its blocks and no more, and typing at the end afterwards adds no block of an editor's own (none pile up)."""
    server = start_server()
    alice = editors.open(server, document, "alice")
    bob = editors.open(server, document, "bob")
    put_markdown(server, document, writer_token, "# Setup\n\n```\nmake install\n```\n")
    for page in (alice, bob):
        wait_for_top_blocks(page, [("h1", "Setup"), ("pre", "make install")])

    click_end_of_text(alice)
    alice.keyboard.type(" --user")
    wait_for_top_blocks(bob, [("h1", "Setup"), ("pre", "make install --user")])
    click_end_of_text(bob)
    bob.keyboard.type(" --quiet")
    blocks = [("h1", "Setup"), ("pre", "make install --user --quiet")]
    for page in (alice, bob):
        wait_for_top_blocks(page, blocks)
    assert shared_blocks(alice) == shared_blocks(bob) == ["heading", "codeBlock"]
    expected_text = "Setup\nmake install --user --quiet"
    try:
        wait_until(lambda: rest_text(server, document, token) == expected_text, message="REST text == the blocks")
    except AssertionError as exc:
        raise AssertionError(f"REST text: {rest_text(server, document, token)!r}") from exc
    assert export_markdown(server, document, token) == "# Setup\n\n```\nmake install --user --quiet\n```\n"
    bob.reload()
    wait_live(bob)
    wait_for_top_blocks(bob, blocks)


def test_document_page_has_one_header(
    start_server: Any, document: Any, editors: Editors, request: pytest.FixtureRequest
) -> None:
    """The page shows the app's header only, plus a quiet line of links; it fits a phone without side-scrolling."""
    server = start_server()
    page = editors.open(server, document, "alice")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1#doc-title")).to_have_text("Plans")
    expect(page.locator(".doc-header")).to_have_count(0)
    links = page.get_by_role("navigation", name="Document links")
    expect(links.get_by_role("link", name="My documents")).to_have_attribute("href", "/")
    expect(links.get_by_role("link", name="Markdown")).to_have_attribute(
        "href", f"/api/documents/{document.pk}/export?format=markdown"
    )
    expect(links.get_by_role("link", name="HTML")).to_have_attribute(
        "href", f"/api/documents/{document.pk}/export?format=html"
    )
    page.screenshot(path=str(artifact_path(request, "--desktop")))

    page.set_viewport_size(PHONE)
    expect(page.locator("#share-button")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifact_path(request, "--phone")), full_page=True)
    page.set_viewport_size(DESKTOP)
