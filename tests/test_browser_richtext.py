"""Browser test of the rich blocks and marks: a table edited with its contextual toolbar, a task list, uploaded
images, highlight, underline, alignment and the link popover, worked on by two users at the same time.

Alice drives her page from the test's thread; bob's page runs on a browser and thread of his own, so that the two
really act at once. Screenshots go to test-artifacts/ (see tests/browser_support.py).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image, ImageDraw
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.browser_support import (
    DESKTOP,
    TIMEOUT_MS,
    Editors,
    api_token,
    artifact_path,
    export_markdown,
    open_editors,
    page_in_thread,
    put_markdown,
    rest_get,
    rest_text,
    wait_for_blocks,
    wait_for_selection,
    wait_live,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.timeout(180)]

# The imported file: a table (header row and two rows), a task list (one done, one not), an image and every mark
# Markdown holds. ``{photo}`` is the URL of an image uploaded to the document beforehand.
IMPORTED = """# Launch checklist

Plain **bold**, *italic*, ~~struck~~, `code`, [a link](https://example.com/docs) and ***both*** marks.

| Task | Owner |
| --- | --- |
| Design | alice |
| Build | bob |

- [x] Write the spec
- [ ] Ship it

![Team photo]({photo})

The end.
"""

# The table's rows as the reader sees them: the text of each cell, row by row, without remote carets.
TABLE_ROWS_JS = """() => Array.from(document.querySelectorAll('#editor-app .ProseMirror table tr'), (row) =>
  Array.from(row.children, (cell) => {
    const clone = cell.cloneNode(true)
    clone.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove())
    return clone.textContent
  }))"""

# The tasks as [text, whether the box shows a tick, whether the item is marked done].
TASKS_JS = """() => Array.from(document.querySelectorAll('#editor-app .ProseMirror ul[data-type="taskList"] > li'),
  (item) => {
  const clone = item.querySelector(':scope > div').cloneNode(true)
  clone.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove())
  return [clone.textContent, item.querySelector(':scope > label input').checked, item.dataset.checked === 'true']
})"""

# Every image in the editor as [src, alt, natural width]: a width of 0 is an image the browser could not load.
IMAGES_JS = """() => Array.from(document.querySelectorAll('#editor-app .ProseMirror img'),
  (img) => [img.getAttribute('src'), img.getAttribute('alt'), img.complete ? img.naturalWidth : 0])"""

EDITOR_JSON_JS = "() => window.collab.editor.getJSON()"

# The header cells' text as rendered (innerText follows CSS such as text-transform).
HEADER_CELLS_JS = "() => Array.from(document.querySelectorAll('#editor-app .ProseMirror th'), (th) => th.innerText)"

# Scrolled to the end of the page, whether the word count rests inside the page's card, clear of the links below.
FOOTER_PLACE_JS = """() => {
  window.scrollTo(0, document.documentElement.scrollHeight)
  const box = (selector) => document.querySelector(selector).getBoundingClientRect()
  const page = box('#doc-page'), count = box('#word-count'), links = box('.doc-links')
  return {
    inside_page: count.top >= page.top && count.bottom <= page.bottom,
    clear_of_links: count.bottom <= links.top || count.top >= links.bottom,
  }
}"""


@pytest.fixture
def token(carol: Any) -> str:
    """Carol's (the viewer's) API token, for reading; made before the browser starts (see test_browser.py)."""
    return api_token(carol)


@pytest.fixture
def owner_token(alice: Any) -> str:
    """Alice's (the owner's) API token, for uploading an image and putting the imported content."""
    return api_token(alice)


@pytest.fixture
def editors(token: str, owner_token: str, request: pytest.FixtureRequest) -> Iterator[Editors]:
    with open_editors(request) as opened:
        yield opened
        assert not opened.page_errors, f"uncaught errors in the pages: {opened.page_errors}"


def png_file(path: Path, size: tuple[int, int], colour: str, label: str) -> Path:
    """A real PNG: a coloured card with a frame and a label."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, size[0] - 9, size[1] - 9), outline="white", width=4)
    draw.text((24, size[1] // 2 - 6), label, fill="white")
    image.save(path, format="PNG")
    return path


def upload_image(server: Any, document: Any, token: str, path: Path) -> str:
    """Upload an image over REST as a script would; its site-relative URL."""
    with path.open("rb") as file:
        response = requests.post(
            f"{server.http_url}/api/documents/{document.pk}/images/",
            files={"file": (path.name, io.BytesIO(file.read()), "image/png")},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
    assert response.status_code == 201, f"upload: {response.status_code} {response.text[:500]}"
    url: str = response.json()["url"]
    return url


def table_rows(page: Page) -> list[list[str]]:
    return page.evaluate(TABLE_ROWS_JS)


def tasks(page: Page) -> list[list[Any]]:
    return page.evaluate(TASKS_JS)


def images(page: Page) -> list[list[Any]]:
    return page.evaluate(IMAGES_JS)


def editor_json(page: Page) -> Any:
    return page.evaluate(EDITOR_JSON_JS)


def wait_for_js(page: Page, js: str, expected: Any, what: str) -> None:
    """Wait until the JS function ``js`` (no argument) gives ``expected``."""
    try:
        page.wait_for_function(
            f"(expected) => JSON.stringify(({js})()) === JSON.stringify(expected)", arg=expected, timeout=TIMEOUT_MS
        )
    except Exception as exc:
        raise AssertionError(f"{what}: {page.evaluate(js)!r}, expected {expected!r}") from exc


def cell(page: Page, row: int, column: int) -> Locator:
    return page.locator("#editor-app .ProseMirror table tr").nth(row).locator("th, td").nth(column)


def task_box(page: Page, text: str) -> Locator:
    items = page.locator('#editor-app .ProseMirror ul[data-type="taskList"] > li')
    return items.filter(has_text=text).locator("label input")


def click_end_of(page: Page, block: Locator) -> None:
    """Put the cursor at the end of ``block``'s text, as a user does: click it, then End."""
    block.click()
    page.keyboard.press("End")
    wait_for_selection(page, text="", block_end=True)


def button(page: Page, name: str) -> Locator:
    return page.locator("#editor-toolbar").get_by_role("button", name=name, exact=True)


def screenshot_whole_page(page: Page, path: Path) -> None:
    """A desktop-wide screenshot of the whole page, saved; the window is made as tall as the page for it, so that
    the word count (which keeps to the window's bottom edge) rests at the page's foot as it does after scrolling."""
    expect(page.locator("#doc-status")).to_have_attribute("data-state", "saved")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size(ViewportSize(width=DESKTOP["width"], height=height))
    try:
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(DESKTOP)


def at_once(barrier: threading.Barrier, other: Future[Any]) -> None:
    """Meet the other thread at ``barrier``; if it failed before getting there, raise what went wrong for it."""
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        other.result(timeout=30)
        raise


def test_two_users_edit_a_table_tasks_and_images_and_every_copy_agrees(
    start_server: Any,
    document: Any,
    token: str,
    owner_token: str,
    editors: Editors,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """A document imported from Markdown with a table, a task list, an image and every Markdown mark is edited by
    alice and bob at once (a new table row and another cell, two task boxes, an uploaded image, alignment,
    underline, highlight, a link); both editors, the server's JSON, REST text and Markdown export, a reloaded
    editor and a viewer all show the same document, and the viewer cannot tick a task."""
    server = start_server()
    photo = upload_image(server, document, owner_token, png_file(tmp_path / "team.png", (480, 200), "#3451b2", "Team"))
    imported = IMPORTED.format(photo=photo)
    put_markdown(server, document, owner_token, imported)
    assert export_markdown(server, document, token) == imported

    alice = editors.open(server, document, "alice")
    with page_in_thread(request, server, document, "bob") as bob:
        rows = [["Task", "Owner"], ["Design", "alice"], ["Build", "bob"]]
        wait_for_js(alice, TABLE_ROWS_JS, rows, "alice's table")
        bob.call(lambda page: wait_for_js(page, TABLE_ROWS_JS, rows, "bob's table"))
        assert tasks(alice) == [["Write the spec", True, True], ["Ship it", False, False]]
        wait_for_js(alice, IMAGES_JS, [[photo, "Team photo", 480]], "the imported image")

        # The table's commands show only while the cursor is in a table.
        expect(button(alice, "Add row below")).to_be_hidden()
        click_end_of(alice, cell(alice, 2, 0))
        expect(button(alice, "Add row below")).to_be_visible()
        expect(button(alice, "Delete table")).to_be_visible()

        # Alice adds a row and fills it in while bob types into another cell of the same table.
        start = threading.Barrier(2, timeout=30)

        def bob_types_in_a_cell(page: Page) -> tuple[float, float]:
            click_end_of(page, cell(page, 1, 1))
            start.wait()
            started = time.monotonic()
            page.keyboard.type(" and bob", delay=60)
            return started, time.monotonic()

        bob_typing = bob.submit(bob_types_in_a_cell)
        at_once(start, bob_typing)
        alice_started = time.monotonic()
        button(alice, "Add row below").click()
        new_cell = cell(alice, 3, 0)
        expect(new_cell).to_have_text("")
        new_cell.click()
        alice.keyboard.type("Launch", delay=20)
        alice.keyboard.press("Tab")  # to the next cell
        alice.keyboard.type("carol", delay=20)
        alice_ended = time.monotonic()
        bob_started, bob_ended = bob_typing.result(timeout=60)
        assert max(alice_started, bob_started) < min(alice_ended, bob_ended), "the two users did not edit at once"

        rows = [["Task", "Owner"], ["Design", "alice and bob"], ["Build", "bob"], ["Launch", "carol"]]
        wait_for_js(alice, TABLE_ROWS_JS, rows, "alice's table")
        bob.call(lambda page: wait_for_js(page, TABLE_ROWS_JS, rows, "bob's table"))

        # Alice links the new row's first cell with the link popover.
        click_end_of(alice, cell(alice, 3, 0))
        alice.keyboard.press("Shift+Home")
        wait_for_selection(alice, text="Launch")
        button(alice, "Link").click()
        address = alice.locator("#link-popover input")
        expect(address).to_be_focused()
        address.fill("example.com/launch")
        address.press("Enter")
        expect(alice.locator("#link-popover")).to_have_count(0)
        alice.screenshot(path=str(artifact_path(request, "--table-toolbar")))
        bob.call(lambda page: wait_for_blocks(page, "td a[href='https://example.com/launch']", ["Launch"]))

        # Bob ticks the open task while alice, at the same moment, unticks the done one.
        tick = threading.Barrier(2, timeout=30)

        def bob_ticks(page: Page) -> None:
            box = task_box(page, "Ship it")
            expect(box).not_to_be_checked()
            tick.wait()
            box.click()

        bob_ticking = bob.submit(bob_ticks)
        done_box = task_box(alice, "Write the spec")
        expect(done_box).to_be_checked()
        at_once(tick, bob_ticking)
        done_box.click()
        bob_ticking.result(timeout=60)
        ticked = [["Write the spec", False, False], ["Ship it", True, True]]
        wait_for_js(alice, TASKS_JS, ticked, "alice's tasks")
        bob.call(lambda page: wait_for_js(page, TASKS_JS, ticked, "bob's tasks"))

        # Alice adds a photo of the whiteboard after the last paragraph with the toolbar's Image button.
        click_end_of(alice, alice.locator(".ProseMirror > p").last)
        whiteboard = png_file(tmp_path / "whiteboard.png", (320, 180), "#0f766e", "Whiteboard")
        with alice.expect_file_chooser() as chooser:
            button(alice, "Image").click()
        chooser.value.set_files(str(whiteboard))
        expect(alice.locator(".ProseMirror img[alt='whiteboard']")).to_have_count(1)

        # Bob centres the heading and underlines and highlights the last paragraph.
        def bob_formats(page: Page) -> None:
            click_end_of(page, page.locator(".ProseMirror h1"))
            button(page, "Align center").click()
            click_end_of(page, page.locator(".ProseMirror > p", has_text="The end."))
            page.keyboard.press("Shift+Home")
            wait_for_selection(page, text="The end.")
            button(page, "Underline").click()
            button(page, "Highlight").click()

        bob.call(bob_formats)
        expect(alice.locator(".ProseMirror h1")).to_have_css("text-align", "center")
        wait_for_blocks(alice, "p u", ["The end."])
        wait_for_blocks(alice, "p mark", ["The end."])

        # Every copy agrees: both editors (their ProseMirror documents and the images they load), the REST text and
        # the server's ProseMirror JSON, the Markdown export, and a reloaded editor.
        def both_images_loaded(page: Page) -> list[list[Any]]:
            page.wait_for_function(f"() => ({IMAGES_JS})().length === 2 && ({IMAGES_JS})().every((i) => i[2] > 0)")
            return images(page)

        shown = both_images_loaded(alice)
        assert bob.call(both_images_loaded) == shown
        (_, _, photo_width), (whiteboard_src, whiteboard_alt, whiteboard_width) = shown
        assert (photo_width, whiteboard_alt, whiteboard_width) == (480, "whiteboard", 320)
        assert whiteboard_src != photo
        assert requests.get(
            f"{server.http_url}{whiteboard_src}", headers={"Authorization": f"Token {token}"}, timeout=10
        ).ok

        def editors_agree() -> Any:
            mine = editor_json(alice)
            return mine if mine == bob.call(editor_json) else None

        document_json = wait_until(editors_agree, message="alice's and bob's editors hold the same document")
        wait_until(
            lambda: rest_get(server, f"/api/documents/{document.pk}/export?format=json", token).json() == document_json,
            message="the server's ProseMirror JSON is the editors' document",
        )

        expected_markdown = (
            imported.replace("| Design | alice |", "| Design | alice and bob |")
            .replace("| Build | bob |\n", "| Build | bob |\n| [Launch](https://example.com/launch) | carol |\n")
            .replace("- [x] Write the spec\n- [ ] Ship it", "- [ ] Write the spec\n- [x] Ship it")
            + f"\n![whiteboard]({whiteboard_src})\n"
        )
        assert export_markdown(server, document, token) == expected_markdown
        assert whiteboard_src.startswith(f"/documents/{document.pk}/images/")
        expected_text = "\n".join(
            [
                "Launch checklist",
                "Plain bold, italic, struck, code, a link and both marks.",
                "Task\tOwner",
                "Design\talice and bob",
                "Build\tbob",
                "Launch\tcarol",
                "[ ] Write the spec",
                "[x] Ship it",
                "Team photo",
                "The end.",
                "whiteboard",
            ]
        )
        assert rest_text(server, document, token) == expected_text

        alice.reload()
        wait_live(alice)
        wait_until(lambda: editor_json(alice) == document_json, message="the reloaded editor shows the same document")
        screenshot_whole_page(alice, artifact_path(request, "--editor"))
        # What alice sees of the layout: the header cells as typed, the word count within the page.
        assert alice.evaluate(HEADER_CELLS_JS) == ["Task", "Owner"]
        assert alice.evaluate(FOOTER_PLACE_JS) == {"inside_page": True, "clear_of_links": True}

        # Carol, a viewer, sees the checklist as it is but cannot tick it.
        carol = editors.open(server, document, "carol")
        wait_for_js(carol, TASKS_JS, ticked, "carol's tasks")
        open_box = task_box(carol, "Write the spec")
        open_box.click()
        expect(open_box).not_to_be_checked()
        assert editor_json(carol) == document_json
        # Once alice has carol's next awareness update, the server has dealt with anything carol's click sent.
        carol.evaluate("() => window.collab.provider.awareness.setLocalStateField('probe', 1)")
        alice.wait_for_function(
            "() => [...window.collab.provider.awareness.getStates().values()].some((state) => state.probe === 1)"
        )
        assert tasks(alice) == ticked
        assert export_markdown(server, document, token) == expected_markdown
        screenshot_whole_page(carol, artifact_path(request, "--viewer"))
        assert not bob.page_errors, bob.page_errors
