"""The docx and odt exports: pandoc's files opened and read back, who may export, and a server without pandoc.

Tests that convert need Debian's ``pandoc`` and skip without it (fail under ``COLLAB_REQUIRE_SERVICES=1``). A
missing, slow or failing pandoc is a ``PATH`` that holds no pandoc, or a small script of that name.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.test import AsyncClient
from rest_framework.test import APIClient

from documents.bridge import replace_content
from documents.models import Document
from documents.web import office_export
from documents.web.office_export import to_office
from tests.services import require
from tests.test_images import png, stored, upload

pytestmark = pytest.mark.django_db

EXPORT = "/api/documents/{id}/export"
CONTENT = """# Heading

Some **bold** and *italic* text with [a link](https://example.com/page).

## Second level

- first item
- second item

1. one
2. two

```python
print("hi")
```
"""
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT_TYPE = "application/vnd.oasis.opendocument.text"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
DC = "{http://purl.org/dc/elements/1.1/}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"


@pytest.fixture
def pandoc() -> None:
    require(shutil.which("pandoc") is not None, "pandoc is not installed (apt-get install pandoc)")


@pytest.fixture
def filled(document: Document) -> Document:
    replace_content(document, "markdown", CONTENT)
    return document


def export(client: APIClient, document: Document, fmt: str) -> Any:
    return client.get(EXPORT.format(id=document.pk), {"format": fmt})


def part(body: bytes, name: str) -> ElementTree.Element:
    """One XML part of a zipped office file."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return ElementTree.fromstring(archive.read(name))


def docx_paragraphs(body: bytes) -> list[tuple[str, str]]:
    """(style, text) of every paragraph of word/document.xml; a list item's style is "list"."""
    paragraphs = []
    for paragraph in part(body, "word/document.xml").iter(f"{W}p"):
        style = paragraph.find(f"{W}pPr/{W}pStyle")
        listed = paragraph.find(f"{W}pPr/{W}numPr") is not None
        name = "list" if listed else style.get(f"{W}val", "") if style is not None else ""
        paragraphs.append((name, "".join(t.text or "" for t in paragraph.iter(f"{W}t"))))
    return paragraphs


# -- docx and odt read back ----------------------------------------------------------------------------------------
def test_docx_export_has_the_text_headings_marks_lists_link_and_code(
    pandoc: None, callers: dict[str, APIClient], filled: Document
) -> None:
    response = export(callers["viewer"], filled, "docx")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == DOCX_TYPE
    assert response["Content-Disposition"] == 'attachment; filename="Plans.docx"'
    body = response.content
    paragraphs = docx_paragraphs(body)
    assert paragraphs[0] == ("Title", "Plans")
    assert ("Heading1", "Heading") in paragraphs and ("Heading2", "Second level") in paragraphs
    assert ("SourceCode", 'print("hi")') in paragraphs
    assert [text for style, text in paragraphs if style == "list"] == ["first item", "second item", "one", "two"]
    assert any(text == "Some bold and italic text with a link." for _, text in paragraphs)

    document_xml = part(body, "word/document.xml")
    bold = [run for run in document_xml.iter(f"{W}r") if run.find(f"{W}rPr/{W}b") is not None]
    assert ["".join(t.text or "" for t in run.iter(f"{W}t")) for run in bold] == ["bold"]
    (link,) = document_xml.iter(f"{W}hyperlink")
    assert "".join(t.text or "" for t in link.iter(f"{W}t")) == "a link"
    relations = {rel.get("Id"): rel.get("Target") for rel in part(body, "word/_rels/document.xml.rels")}
    assert relations[link.get(f"{R}id")] == "https://example.com/page"
    assert part(body, "docProps/core.xml").findtext(f"{DC}title") == "Plans"


def test_odt_export_has_the_text_headings_marks_lists_link_and_code(
    pandoc: None, callers: dict[str, APIClient], filled: Document
) -> None:
    response = export(callers["viewer"], filled, "odt")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == ODT_TYPE
    assert response["Content-Disposition"] == 'attachment; filename="Plans.odt"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("mimetype") == ODT_TYPE.encode()
    content = part(response.content, "content.xml")
    text = ElementTree.tostring(content, encoding="unicode", method="text")
    for words in ("Plans", "Some ", "bold", "italic", "a link", "first item", "two", 'print("hi")'):
        assert words in text
    headings = {(h.get(f"{TEXT}outline-level"), "".join(h.itertext())) for h in content.iter(f"{TEXT}h")}
    assert headings == {("1", "Heading"), ("2", "Second level")}
    assert {h.get(f"{TEXT}style-name") for h in content.iter(f"{TEXT}h")} == {"Heading_20_1", "Heading_20_2"}
    (link,) = content.iter(f"{TEXT}a")
    assert (link.get(f"{XLINK}href"), "".join(link.itertext())) == ("https://example.com/page", "a link")
    items = ["".join(item.itertext()).strip() for item in content.iter(f"{TEXT}list-item")]
    assert items == ["first item", "second item", "one", "two"]
    assert part(response.content, "meta.xml").findtext(f".//{DC}title") == "Plans"


@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_the_title_is_the_file_title_whatever_it_holds(
    pandoc: None, callers: dict[str, APIClient], alice: Any, fmt: str
) -> None:
    title = 'true: a/b "Q" & <x> --help'
    document = Document.objects.create(title=title, owner=alice)
    response = export(callers["owner"], document, fmt)
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="true_ a_b _Q_ & _x_ --help.{fmt}"'
    meta = part(response.content, "docProps/core.xml" if fmt == "docx" else "meta.xml")
    assert meta.findtext(f".//{DC}title") == title


def test_tags_that_load_resources_never_reach_pandoc(pandoc: None, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    page = f'<p>before<img src="{secret}"><iframe src="file://{secret}"></iframe>after</p>'
    with zipfile.ZipFile(io.BytesIO(to_office(page, "t", "docx"))) as archive:
        assert not [name for name in archive.namelist() if name.startswith("word/media/")]
        assert b"beforeafter" in archive.read("word/document.xml")


# -- the document's own images, and no other -----------------------------------------------------------------------
@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Image files in a fresh directory; throttle counts from nothing."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    cache.clear()
    return tmp_path


@pytest.fixture
def illustrated(media: Path, callers: dict[str, APIClient], document: Document, alice: Any) -> dict[str, bytes]:
    """The document shows one image of its own, one of another document (under both URLs) and an external one."""
    own = stored(upload(callers["editor"], document, png(16, 12)))
    other = Document.objects.create(title="Other", owner=alice)
    theirs = stored(upload(callers["owner"], other, png(30, 20)))
    replace_content(
        document,
        "markdown",
        f"Before\n\n![own](/documents/{document.pk}/images/{own.pk})\n\n"
        f"![theirs](/documents/{other.pk}/images/{theirs.pk})\n\n"
        f"![disguised](/documents/{document.pk}/images/{theirs.pk})\n\n"
        "![far](http://127.0.0.1:9/never.png)\n\nAfter\n",
    )
    with default_storage.open(own.file.name, "rb") as mine, default_storage.open(theirs.file.name, "rb") as other_file:
        return {"own": mine.read(), "theirs": other_file.read()}


def media_files(body: bytes, folder: str) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.startswith(folder)}


def test_docx_carries_the_documents_own_image_only(
    pandoc: None, callers: dict[str, APIClient], document: Document, illustrated: dict[str, bytes]
) -> None:
    response = export(callers["viewer"], document, "docx")
    assert response.status_code == 200, response.content
    files = media_files(response.content, "word/media/")
    assert list(files.values()) == [illustrated["own"]]
    (name,) = files
    relations = {rel.get("Target") for rel in part(response.content, "word/_rels/document.xml.rels")}
    assert name.removeprefix("word/") in relations
    texts = [text for _, text in docx_paragraphs(response.content)]
    assert "Before" in texts and "After" in texts


def test_odt_carries_the_documents_own_image_only(
    pandoc: None, callers: dict[str, APIClient], document: Document, illustrated: dict[str, bytes]
) -> None:
    response = export(callers["viewer"], document, "odt")
    assert response.status_code == 200, response.content
    files = media_files(response.content, "Pictures/")
    assert list(files.values()) == [illustrated["own"]]
    (name,) = files
    frames = [image.get(f"{XLINK}href") for image in part(response.content, "content.xml").iter(f"{DRAW}image")]
    assert frames == [name]


def test_only_the_given_image_files_reach_pandoc(pandoc: None, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(3, 3))
    given = png(7, 7)
    name = "0b7c3f9e-5d41-4c5e-9a0e-6c1f2d3e4a5b.png"
    page = (
        f'<p>a<img src="{name}">b<img src="{secret}">c<img src="file://{secret}">'
        f'd<img src="../{secret.name}">e<img src="http://127.0.0.1:9/x.png"></p>'
    )
    for fmt, folder in (("docx", "word/media/"), ("odt", "Pictures/")):
        assert list(media_files(to_office(page, "t", fmt, {name: given}), folder).values()) == [given]


def test_image_file_names_are_checked() -> None:
    with pytest.raises(ValueError, match="not an image file name"):
        to_office("<p>x</p>", "t", "docx", {"../escape.png": b"x"})


# -- who may export ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("caller", "expected"), [("anonymous", 401), ("nonmember", 404)])
@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_only_members_export(
    callers: dict[str, APIClient], document: Document, caller: str, expected: int, fmt: str
) -> None:
    response = export(callers[caller], document, fmt)
    assert response.status_code == expected
    assert "Content-Disposition" not in response


# -- without pandoc, or when it fails ---------------------------------------------------------------------------
@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the whole ``PATH``: no pandoc anywhere."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


def fake_pandoc(directory: Path, script: str) -> None:
    path = directory / "pandoc"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_without_pandoc_the_export_answers_501_and_says_why(
    bin_dir: Path, callers: dict[str, APIClient], document: Document, fmt: str
) -> None:
    response = export(callers["viewer"], document, fmt)
    assert response.status_code == 501
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f"{fmt} export needs pandoc on the server."}
    assert export(callers["viewer"], document, "markdown").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_without_pandoc_the_server_is_ready(bin_dir: Path) -> None:
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ready"


def test_a_pandoc_that_runs_too_long_is_stopped(
    bin_dir: Path, callers: dict[str, APIClient], document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = shutil.which("sleep", path="/usr/bin:/bin")
    assert sleep is not None
    fake_pandoc(bin_dir, f"exec {sleep} 30")
    monkeypatch.setattr(office_export, "TIMEOUT_SECONDS", 0.5)
    response = export(callers["viewer"], document, "docx")
    assert response.status_code == 500
    assert response.json() == {"detail": "docx export took longer than 0.5 s."}


def test_a_failing_pandoc_answers_500(bin_dir: Path, callers: dict[str, APIClient], document: Document) -> None:
    fake_pandoc(bin_dir, "echo broken >&2; exit 3")
    response = export(callers["viewer"], document, "odt")
    assert response.status_code == 500
    assert response.json() == {"detail": "odt export failed."}
