"""The zip export: Markdown and HTML whose images point into the archive, the document's own images beside them,
who may export, and what is never carried (another document's image, a file the storage lost, too many bytes)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from documents.bridge import export_document, replace_content
from documents.models import Document, DocumentImage
from documents.web import zip_export
from tests.test_images import media, png, stored, upload  # noqa: F401  (media: the autouse storage fixture)

pytestmark = pytest.mark.django_db

EXPORT = "/api/documents/{id}/export"


def export_zip(client: APIClient, document: Document) -> Any:
    return client.get(EXPORT.format(id=document.pk), {"format": "zip"})


def entries(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def saved_bytes(image: DocumentImage) -> bytes:
    with default_storage.open(image.file.name, "rb") as stream:
        return stream.read()


def test_the_archive_holds_markdown_html_and_the_images_they_link(
    callers: dict[str, APIClient], document: Document
) -> None:
    first = stored(upload(callers["editor"], document, png(16, 12)))
    second = stored(upload(callers["editor"], document, png(8, 8)))
    unused = stored(upload(callers["editor"], document, png(4, 4)))
    replace_content(
        document,
        "markdown",
        f"# Trip\n\n![A red square](/documents/{document.pk}/images/{first.pk})\n\n"
        f"Between, the URL as text: `/documents/{document.pk}/images/{first.pk}`\n\n"
        f"![Small](/documents/{document.pk}/images/{second.pk})\n\n"
        f"![Again](/documents/{document.pk}/images/{first.pk})\n",
    )
    response = export_zip(callers["viewer"], document)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="Plans.zip"'
    files = entries(response.content)
    assert sorted(files) == sorted(["Plans.md", "Plans.html", f"images/{first.pk}.png", f"images/{second.pk}.png"])
    assert files[f"images/{first.pk}.png"] == saved_bytes(first)
    assert files[f"images/{second.pk}.png"] == saved_bytes(second)
    assert f"{unused.pk}" not in files["Plans.md"].decode()

    markdown = files["Plans.md"].decode()
    assert f"![A red square](images/{first.pk}.png)" in markdown
    assert f"![Small](images/{second.pk}.png)" in markdown
    assert f"![Again](images/{first.pk}.png)" in markdown
    assert f"`/documents/{document.pk}/images/{first.pk}`" in markdown  # text is text, not a link to rewrite
    assert "/local-" not in markdown
    expected = export_document(document, "markdown")  # otherwise the markdown export as it is
    for image in (first, second):
        expected = expected.replace(f"](/documents/{document.pk}/images/{image.pk})", f"](images/{image.pk}.png)")
    assert markdown == expected

    page = files["Plans.html"].decode()
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page and "<title>Plans</title>" in page
    assert f'src="images/{first.pk}.png"' in page and f'src="images/{second.pk}.png"' in page
    assert f'src="/documents/{document.pk}/images/' not in page
    assert "<h1>Trip</h1>" in page


def test_the_same_document_gives_the_same_archive(callers: dict[str, APIClient], document: Document) -> None:
    image = stored(upload(callers["editor"], document, png()))
    replace_content(document, "markdown", f"![x](/documents/{document.pk}/images/{image.pk})\n")
    assert export_zip(callers["owner"], document).content == export_zip(callers["viewer"], document).content


def test_another_documents_image_is_never_carried(
    callers: dict[str, APIClient], document: Document, alice: Any
) -> None:
    other = Document.objects.create(title="Other", owner=alice)
    theirs = stored(upload(callers["owner"], other, png()))
    foreign = f"/documents/{other.pk}/images/{theirs.pk}"
    disguised = f"/documents/{document.pk}/images/{theirs.pk}"  # their image id under this document's URL
    replace_content(document, "markdown", f"![theirs]({foreign})\n\n![disguised]({disguised})\n")
    files = entries(export_zip(callers["owner"], document).content)
    assert sorted(files) == ["Plans.html", "Plans.md"]
    markdown = files["Plans.md"].decode()
    assert f"![theirs]({foreign})" in markdown and f"![disguised]({disguised})" in markdown
    assert saved_bytes(theirs) not in b"".join(files.values())


def test_external_images_stay_links(callers: dict[str, APIClient], document: Document) -> None:
    replace_content(document, "markdown", "![far](https://example.com/a.png)\n")
    files = entries(export_zip(callers["viewer"], document).content)
    assert sorted(files) == ["Plans.html", "Plans.md"]
    assert "![far](https://example.com/a.png)" in files["Plans.md"].decode()


def test_a_file_missing_from_the_storage_is_skipped(callers: dict[str, APIClient], document: Document) -> None:
    lost = stored(upload(callers["editor"], document, png()))
    kept = stored(upload(callers["editor"], document, png(5, 5)))
    replace_content(
        document,
        "markdown",
        f"![lost](/documents/{document.pk}/images/{lost.pk})\n\n![kept](/documents/{document.pk}/images/{kept.pk})\n",
    )
    default_storage.delete(lost.file.name)
    response = export_zip(callers["viewer"], document)
    assert response.status_code == 200
    files = entries(response.content)
    assert sorted(files) == sorted(["Plans.html", "Plans.md", f"images/{kept.pk}.png"])
    markdown = files["Plans.md"].decode()
    assert f"![lost](/documents/{document.pk}/images/{lost.pk})" in markdown
    assert f"![kept](images/{kept.pk}.png)" in markdown


def test_images_past_the_bound_stay_links(
    callers: dict[str, APIClient], document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = stored(upload(callers["editor"], document, png(16, 12)))
    second = stored(upload(callers["editor"], document, png(8, 8)))
    replace_content(
        document,
        "markdown",
        f"![a](/documents/{document.pk}/images/{first.pk})\n\n![b](/documents/{document.pk}/images/{second.pk})\n",
    )
    monkeypatch.setattr(zip_export, "MAX_IMAGE_BYTES", first.size_bytes + second.size_bytes - 1)
    files = entries(export_zip(callers["viewer"], document).content)
    assert sorted(files) == sorted(["Plans.html", "Plans.md", f"images/{first.pk}.png"])
    assert f"![b](/documents/{document.pk}/images/{second.pk})" in files["Plans.md"].decode()


def test_a_document_without_images_or_content(callers: dict[str, APIClient], alice: Any) -> None:
    document = Document.objects.create(title="../../etc/passwd", owner=alice)
    response = export_zip(callers["owner"], document)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="etc_passwd.zip"'
    files = entries(response.content)
    assert sorted(files) == ["etc_passwd.html", "etc_passwd.md"]
    assert files["etc_passwd.md"] == b""


@pytest.mark.parametrize(("caller", "expected"), [("anonymous", 401), ("nonmember", 404), ("staff", 404)])
def test_only_members_export(callers: dict[str, APIClient], document: Document, caller: str, expected: int) -> None:
    image = stored(upload(callers["editor"], document, png()))
    replace_content(document, "markdown", f"![x](/documents/{document.pk}/images/{image.pk})\n")
    response = export_zip(callers[caller], document)
    assert response.status_code == expected
    assert "Content-Disposition" not in response
    assert response["Content-Type"] == "application/json"
