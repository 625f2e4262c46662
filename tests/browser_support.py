"""Helpers for the browser tests: Chromium through Playwright's sync API, logged-in editor pages, screenshots.

Playwright's sync API is not thread-safe: a thread that drives a browser of its own starts it with
``launch_browser()`` (one Playwright instance per thread); ``open_editors()`` (the tests' ``editors`` fixture) is for
the test's own thread. That API also runs an event loop in its thread, where Django refuses ORM calls: do database
work (API tokens...) before the browser starts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from rest_framework.authtoken.models import Token

from tests.conftest import PASSWORD
from tests.services import require

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
MANIFEST = ROOT / "frontend" / "dist" / ".vite" / "manifest.json"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Default for Playwright's waits and our polls; generous for a loaded CI machine, never reached when all is well.
TIMEOUT_MS = 15_000
# How long a page driven from its own thread may take for one action (opening it included).
THREAD_TIMEOUT_S = 4 * TIMEOUT_MS / 1000

T = TypeVar("T")

# The editor's text as the reader sees it: the innerText of each text block (paragraph, heading, code block), one
# line per block -- the shape of the REST API's ``text`` -- without the remote carets y-prosemirror draws inside the
# text (a caret is a widget holding the user's name, not document text). innerText needs layout, so a caret-free
# clone is rendered off-screen, at the editor's width, for a moment.
EDITOR_TEXT_JS = """() => {
  const editor = document.querySelector('#editor-app .ProseMirror')
  if (!editor) return null
  const clone = editor.cloneNode(true)
  clone.querySelectorAll('.collaboration-carets__caret').forEach((el) => el.remove())
  const holder = document.createElement('div')
  holder.style.cssText = `position:absolute;left:-10000px;top:0;width:${editor.clientWidth}px`
  holder.appendChild(clone)
  editor.parentElement.appendChild(holder)
  const blocks = clone.querySelectorAll('p, h1, h2, h3, h4, h5, h6, pre')
  const text = Array.from(blocks, (block) => block.innerText.replace(/\\n$/, '')).join('\\n')
  holder.remove()
  return text
}"""

BLOCK_TEXTS_JS = """(selector) => {
  const found = document.querySelectorAll(`#editor-app .ProseMirror ${selector}`)
  return Array.from(found, (el) => {
    const clone = el.cloneNode(true)
    clone.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove())
    return clone.textContent
  })
}"""

# The editor's top-level blocks (``.ProseMirror > *``) as ``[tag, text]``, the text being that of the text blocks in
# it (a list's items, a quote's paragraphs) one per line, read like EDITOR_TEXT_JS: joined by newlines, the texts
# give the REST API's ``text``. Cursors are left out: remote carets (widgets in the text) and the gap cursor (a
# ``div`` the view draws between blocks while it holds the selection); nothing else the view shows is.
TOP_BLOCKS_JS = """() => {
  const editor = document.querySelector('#editor-app .ProseMirror')
  if (!editor) return null
  const clone = editor.cloneNode(true)
  clone.querySelectorAll('.collaboration-carets__caret, .ProseMirror-gapcursor').forEach((el) => el.remove())
  const holder = document.createElement('div')
  holder.style.cssText = `position:absolute;left:-10000px;top:0;width:${editor.clientWidth}px`
  holder.appendChild(clone)
  editor.parentElement.appendChild(holder)
  const textBlocks = 'p, h1, h2, h3, h4, h5, h6, pre'
  const lines = (el) => (el.matches(textBlocks) ? [el] : Array.from(el.querySelectorAll(textBlocks)))
    .map((block) => block.innerText.replace(/\\n$/, ''))
  const blocks = Array.from(clone.children, (el) => [el.tagName.toLowerCase(), lines(el).join('\\n')])
  holder.remove()
  return blocks
}"""

# The node names of the top-level elements of the page's shared Y.XmlFragment ``default``, for failure messages.
SHARED_BLOCKS_JS = "() => window.collab.ydoc.getXmlFragment('default').toArray().map((node) => node.nodeName)"

expect.set_options(timeout=TIMEOUT_MS)


def require_browser() -> None:
    """Skip (or fail under COLLAB_REQUIRE_SERVICES=1) when Chromium or the built frontend is missing."""
    require(CHROMIUM.exists(), "Chromium is not installed (apt-get install chromium)")
    require(MANIFEST.exists(), "the frontend is not built (cd frontend && npm run build)")


def artifact_path(request: pytest.FixtureRequest, suffix: str = "") -> Path:
    """``test-artifacts/<test name><suffix>.png``, the test name made safe for a file name."""
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    return ARTIFACTS / f"{name}{suffix}.png"


@contextmanager
def open_editors(request: pytest.FixtureRequest) -> Iterator[Editors]:
    """An ``Editors`` on a browser of its own (the body of the tests' ``editors`` fixture)."""
    require_browser()
    with launch_browser() as browser:
        opened = Editors(browser, request)
        try:
            yield opened
        finally:
            opened.finish()


@contextmanager
def launch_browser() -> Iterator[Browser]:
    """A headless Debian Chromium, driven from the calling thread."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT_MS / 1000, message: str = "") -> T:
    """Poll ``condition`` (for state outside the browser, e.g. the REST API) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message or condition}")
        time.sleep(0.05)


def api_token(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def rest_get(server: Any, path: str, token: str) -> requests.Response:
    response = requests.get(f"{server.http_url}{path}", headers={"Authorization": f"Token {token}"}, timeout=10)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:500]}"
    return response


def put_markdown(server: Any, document: Any, token: str, markdown: str) -> None:
    """Replace the document's content with ``markdown`` over REST (``token`` must be an editor's or the owner's)."""
    response = requests.put(
        f"{server.http_url}/api/documents/{document.pk}/content",
        json={"format": "markdown", "content": markdown},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.status_code == 204, f"PUT content: {response.status_code} {response.text[:500]}"


def rest_text(server: Any, document: Any, token: str) -> str:
    """The document's plain text as the REST API reports it."""
    return rest_get(server, f"/api/documents/{document.pk}/", token).json()["text"]


def export_markdown(server: Any, document: Any, token: str) -> str:
    return rest_get(server, f"/api/documents/{document.pk}/export?format=markdown", token).text


def editor_text(page: Page) -> str:
    """The text of the page's editor (innerText of ``.ProseMirror`` without remote carets)."""
    return page.evaluate(EDITOR_TEXT_JS)


def wait_for_editor_text(page: Page, predicate_js: str, arg: Any = None, timeout: float = TIMEOUT_MS) -> str:
    """Wait until ``predicate_js`` -- a JS function ``(text, arg) => bool`` -- holds for the editor text."""
    page.wait_for_function(
        f"([arg]) => {{ const text = ({EDITOR_TEXT_JS})(); return text !== null && ({predicate_js})(text, arg) }}",
        arg=[arg],
        timeout=timeout,
    )
    return editor_text(page)


def block_texts(page: Page, selector: str) -> list[str]:
    """The text of each element matching ``selector`` in the editor, without remote carets."""
    return page.evaluate(f"(selector) => ({BLOCK_TEXTS_JS})(selector)", selector)


def wait_for_blocks(page: Page, selector: str, expected: list[str], timeout: float = TIMEOUT_MS) -> None:
    """Wait until the editor's elements matching ``selector`` hold exactly the texts ``expected``."""
    try:
        page.wait_for_function(
            f"([selector, expected]) => JSON.stringify(({BLOCK_TEXTS_JS})(selector)) === JSON.stringify(expected)",
            arg=[selector, expected],
            timeout=timeout,
        )
    except Exception as exc:
        raise AssertionError(f"{selector}: {block_texts(page, selector)!r}, expected {expected!r}") from exc


def top_blocks(page: Page) -> list[tuple[str, str]]:
    """The editor's top-level blocks as (tag name, text) pairs (see TOP_BLOCKS_JS)."""
    return [(tag, text) for tag, text in page.evaluate(TOP_BLOCKS_JS)]


def shared_blocks(page: Page) -> list[str]:
    """The node names of the top-level elements of the page's Y.XmlFragment ``default``."""
    return page.evaluate(SHARED_BLOCKS_JS)


def wait_for_top_blocks(page: Page, expected: list[tuple[str, str]], timeout: float = TIMEOUT_MS) -> None:
    """Wait until the editor's top-level blocks are exactly ``expected`` (tag name, text) pairs."""
    try:
        page.wait_for_function(
            f"(expected) => JSON.stringify(({TOP_BLOCKS_JS})()) === JSON.stringify(expected)",
            arg=[list(block) for block in expected],
            timeout=timeout,
        )
    except Exception as exc:
        raise AssertionError(
            f"editor blocks: {top_blocks(page)!r}\nshared Y.XmlFragment: {shared_blocks(page)!r}\n"
            f"expected blocks: {expected!r}"
        ) from exc


def wait_for_text(page: Page, expected: str, timeout: float = TIMEOUT_MS) -> str:
    """Wait until the editor shows exactly ``expected``."""
    try:
        return wait_for_editor_text(page, "(text, expected) => text === expected", expected, timeout)
    except Exception as exc:
        raise AssertionError(f"editor text is {editor_text(page)!r}, expected {expected!r}") from exc


def login(page: Page, server: Any, username: str, next_path: str = "/") -> None:
    """Log in through the login form; the browser ends up on ``next_path``."""
    page.goto(f"{server.http_url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    try:
        page.wait_for_url(f"{server.http_url}{next_path}")
    except Exception as exc:
        raise AssertionError(f"login as {username} did not reach {next_path}: {page.url}") from exc


def wait_live(page: Page, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the editor is set up, connected and synced with the server."""
    expect(page.locator('#editor-app[data-ready="true"]')).to_have_count(1, timeout=timeout)
    expect(page.locator("#doc-status")).to_have_attribute("data-connection", "live", timeout=timeout)
    page.wait_for_function("() => window.collab && window.collab.provider.synced === true", timeout=timeout)


def open_editor(
    browser: Browser,
    server: Any,
    document: Any,
    username: str,
    viewport: ViewportSize | None = None,
    on_error: Callable[[str], None] | None = None,
) -> Page:
    """A new browser context logged in as ``username``, showing ``document``'s editor, connected and synced.

    ``on_error`` gets the message of every uncaught exception in the page.
    """
    context = browser.new_context(viewport=viewport or DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    if on_error is not None:
        page.on("pageerror", lambda error: on_error(str(error)))
    path = f"/documents/{document.pk}/"
    login(page, server, username, path)
    wait_live(page)
    return page


# The editor's selection as ProseMirror holds it: the selected text, whether the cursor (head) is at the end of its
# text block, and whether only empty blocks, if anything, follow the selection.
SELECTION_JS = """() => {
  const { state } = window.collab.editor
  const { from, to, $head } = state.selection
  return {
    text: state.doc.textBetween(from, to, '\\n'),
    block_end: $head.parent.isTextblock && $head.parentOffset === $head.parent.content.size,
    doc_end: state.doc.textBetween(to, state.doc.content.size, '\\n', '\\n').trim() === '',
  }
}"""


def wait_for_selection(page: Page, timeout: float = TIMEOUT_MS, **expected: Any) -> None:
    """Wait until the editor's selection has the ``expected`` SELECTION_JS fields (``text="docs"``...).

    Keys that only move the DOM selection (arrows, Home, End) reach ProseMirror with the browser's next
    ``selectionchange``, after the key press has returned: a key that ProseMirror handles itself from its state
    (Enter, ArrowDown in a code block) or a toolbar button pressed before then works on the old selection.
    """
    try:
        page.wait_for_function(
            f"(expected) => {{ const sel = ({SELECTION_JS})(); "
            "return Object.entries(expected).every(([key, value]) => sel[key] === value) }",
            arg=expected,
            timeout=timeout,
        )
    except Exception as exc:
        raise AssertionError(f"selection: {page.evaluate(SELECTION_JS)!r}, expected {expected!r}") from exc


def click_end_of_text(page: Page) -> None:
    """Focus the editor with the cursor at the very end of the document."""
    page.locator(".ProseMirror").click()
    page.keyboard.press("Control+End")
    wait_for_selection(page, text="", block_end=True, doc_end=True)


@dataclass
class Editors:
    """Opens editor pages for a test; screenshots the open ones into test-artifacts/ and closes them afterwards."""

    browser: Browser
    request: pytest.FixtureRequest
    pages: list[tuple[str, Page]] = field(default_factory=list)
    # Uncaught exceptions in the pages, as "user: message".
    page_errors: list[str] = field(default_factory=list)

    def open(self, server: Any, document: Any, username: str, viewport: ViewportSize | None = None) -> Page:
        page = open_editor(
            self.browser,
            server,
            document,
            username,
            viewport,
            on_error=lambda e: self.page_errors.append(f"{username}: {e}"),
        )
        self.pages.append((username, page))
        return page

    def finish(self) -> None:
        """Screenshot every page still open: the first as ``<test>.png``, the others as ``<test>--<user>.png``."""
        open_pages = [(name, page) for name, page in self.pages if not page.is_closed()]
        for index, (name, page) in enumerate(open_pages):
            try:
                page.evaluate("() => window.scrollTo(0, 0)")
                page.screenshot(path=str(artifact_path(self.request, "" if index == 0 else f"--{name}")))
            finally:
                page.context.close()


class PageInThread:
    """An editor page on a browser of its own, driven from a thread of its own: a user who acts at the same time as
    the test's thread drives its pages (Playwright's sync API blocks its thread while it acts).

    ``submit(action)`` runs ``action(page)`` in that thread and returns its Future; ``call(action)`` waits for the
    result. Made with ``page_in_thread()``, which also screenshots the page at the end.
    """

    def __init__(self, server: Any, document: Any, username: str, viewport: ViewportSize | None = None) -> None:
        self.username = username
        # Uncaught exceptions in the page.
        self.page_errors: list[str] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"browser-{username}")
        self._stack = ExitStack()
        self._page: Page | None = None
        try:
            self._pool.submit(self._open, server, document, viewport).result(timeout=THREAD_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _open(self, server: Any, document: Any, viewport: ViewportSize | None) -> None:
        browser = self._stack.enter_context(launch_browser())
        self._page = open_editor(browser, server, document, self.username, viewport, self.page_errors.append)

    def submit(self, action: Callable[[Page], T]) -> Future[T]:
        return self._pool.submit(lambda: action(self._live_page()))

    def call(self, action: Callable[[Page], T], timeout: float = THREAD_TIMEOUT_S) -> T:
        return self.submit(action).result(timeout=timeout)

    def _live_page(self) -> Page:
        assert self._page is not None, f"{self.username}'s page did not open"
        return self._page

    def close(self, screenshot: Path | None = None) -> None:
        def finish() -> None:
            try:
                if screenshot is not None and self._page is not None and not self._page.is_closed():
                    self._page.evaluate("() => window.scrollTo(0, 0)")
                    self._page.screenshot(path=str(screenshot))
            finally:
                self._stack.close()

        try:
            self._pool.submit(finish).result(timeout=THREAD_TIMEOUT_S)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def page_in_thread(
    request: pytest.FixtureRequest, server: Any, document: Any, username: str, viewport: ViewportSize | None = None
) -> Iterator[PageInThread]:
    """A ``PageInThread`` for ``username``, screenshot as ``<test>--<user>.png`` and closed at the end."""
    require_browser()
    opened = PageInThread(server, document, username, viewport)
    try:
        yield opened
    finally:
        opened.close(artifact_path(request, f"--{username}"))
