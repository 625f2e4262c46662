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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright
from rest_framework.authtoken.models import Token

from tests.conftest import PASSWORD
from tests.services import require

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
MANIFEST = ROOT / "frontend" / "dist" / ".vite" / "manifest.json"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Default for Playwright's waits and our polls; generous for a loaded CI machine, never reached when all is well.
TIMEOUT_MS = 15_000

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
    viewport: dict[str, int] | None = None,
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


def click_end_of_text(page: Page) -> None:
    """Focus the editor with the cursor at the very end of the document."""
    page.locator(".ProseMirror").click()
    page.keyboard.press("Control+End")


@dataclass
class Editors:
    """Opens editor pages for a test; screenshots the open ones into test-artifacts/ and closes them afterwards."""

    browser: Browser
    request: pytest.FixtureRequest
    pages: list[tuple[str, Page]] = field(default_factory=list)
    # Uncaught exceptions in the pages, as "user: message".
    page_errors: list[str] = field(default_factory=list)

    def open(self, server: Any, document: Any, username: str, viewport: dict[str, int] | None = None) -> Page:
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
