"""The zip export, and the document's own images for every export that carries files (zip, docx, odt).

A document holds its images as URLs (``/documents/<id>/images/<image id>``), never as bytes. An export meant to be
read away from the server needs the bytes beside the text and the text pointing at them. No library does that for
this model: it takes knowing which image nodes show an image uploaded into this very document, finding those rows
(never another document's image, whatever URL the text holds), reading their bytes through Django's storage (the
one the upload wrote to) within a total bound, and rendering the Markdown and HTML with those sources pointing
into the archive. ``zipfile`` writes the archive and richtext's exporters write the text; this module only joins
them.

Each source is rewritten on the document's tree, not in the rendered text, so that a URL typed as text or shown in
a code block is left alone: the image nodes that will point at a local file get a source under a random prefix
that no text can hold, and that prefix becomes the folder once the text is rendered. An image whose file is
missing, or that would take the images past ``MAX_IMAGE_BYTES``, keeps its server URL.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import re
import secrets
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import PurePosixPath
from typing import Any

from pycrdt import Doc

from documents.bridge import read_document
from documents.models import DocumentImage
from documents.richtext import Node, fragment_of, read_nodes, to_html, to_markdown, write_nodes

logger = logging.getLogger(__name__)

# The archive's folder of images, as the rewritten links name it.
IMAGE_FOLDER = "images/"
# The most image bytes one export carries (each upload is within COLLAB_IMAGE_MAX_BYTES); the rest stay as links.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
_RENDERERS: dict[str, Callable[[Any], str]] = {"markdown": to_markdown, "html": to_html}
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class LocalCopy:
    """A document rendered with its own images as files: each format's text, and the files by name."""

    texts: dict[str, str]
    images: dict[str, bytes] = field(default_factory=dict)


def local_copy(document: Any, formats: Sequence[str], folder: str, max_bytes: int | None = None) -> LocalCopy:
    """``document`` rendered in ``formats`` (markdown, html) with the sources of its own images, when their files
    could be read, as ``folder`` + ``<image id>.<extension>``; ``images`` holds those files' bytes by that name."""
    nodes = read_document(document, lambda doc: read_nodes(fragment_of(doc)))
    own = _own_url(document)
    shown = [(image, _image_id(image, own)) for image in _image_nodes(nodes)]
    wanted = list(dict.fromkeys(image_id for _, image_id in shown if image_id is not None))
    files = _read_files(document, wanted, MAX_IMAGE_BYTES if max_bytes is None else max_bytes)
    prefix = f"/local-{secrets.token_hex(16)}/"
    for image, image_id in shown:
        if image_id in files:
            image.attrs["src"] = prefix + files[image_id][0]
    fragment = fragment_of(Doc())
    write_nodes(fragment, nodes)
    texts = {fmt: _RENDERERS[fmt](fragment).replace(prefix, folder) for fmt in formats}
    return LocalCopy(texts, {name: data for name, data in files.values()})


def to_zip(document: Any, filename: Callable[[str], str]) -> bytes:
    """The zip export: ``filename("md")`` and ``filename("html")`` with their images in ``images/``."""
    copy = local_copy(document, ("markdown", "html"), IMAGE_FOLDER)
    stamp = _zip_time(getattr(document, "updated_at", None))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        _add(archive, filename("md"), copy.texts["markdown"].encode(), stamp, zipfile.ZIP_DEFLATED)
        _add(archive, filename("html"), _page(copy.texts["html"], document.title).encode(), stamp, zipfile.ZIP_DEFLATED)
        for name, data in copy.images.items():  # already compressed: stored as they are
            _add(archive, IMAGE_FOLDER + name, data, stamp, zipfile.ZIP_STORED)
    return out.getvalue()


def _own_url(document: Any) -> re.Pattern[str]:
    """The source of an image uploaded into ``document``, as the upload answered it, with the image id as group 1."""
    return re.compile(rf"/documents/{re.escape(str(document.pk))}/images/([0-9a-fA-F-]{{32,36}})")


def _image_nodes(nodes: Sequence[Any]) -> Iterator[Node]:
    """Every image node of the tree, in document order."""
    for node in nodes:
        if isinstance(node, Node):
            if node.type == "image":
                yield node
            yield from _image_nodes(node.content)


def _image_id(image: Node, own: re.Pattern[str]) -> uuid.UUID | None:
    """The id of the image of this document that ``image`` shows, if it shows one."""
    src = image.attrs.get("src")
    match = own.fullmatch(src.strip()) if isinstance(src, str) else None
    if match is None:
        return None
    try:
        return uuid.UUID(match.group(1))
    except ValueError:
        return None


def _read_files(document: Any, wanted: list[uuid.UUID], max_bytes: int) -> dict[uuid.UUID, tuple[str, bytes]]:
    """The file name and bytes of each wanted image of ``document`` that its storage holds, in the order wanted,
    while their total stays within ``max_bytes``."""
    rows = {image.pk: image for image in DocumentImage.objects.filter(document=document, pk__in=wanted)}
    files: dict[uuid.UUID, tuple[str, bytes]] = {}
    total = 0
    for image_id in wanted:
        image = rows.get(image_id)
        if image is None:  # another document's image, or one deleted: the link stays
            continue
        budget = max_bytes - total
        data = b""
        if image.size_bytes <= budget:  # the recorded size first: no read for a file that cannot fit
            try:
                with image.file.storage.open(image.file.name, "rb") as stream:
                    data = stream.read(budget + 1)
            except OSError:
                logger.error("export of document %s: image %s is missing from the storage", document.pk, image_id)
                continue
        if image.size_bytes > budget or len(data) > budget:
            logger.warning(
                "export of document %s: image %s left as a link (over %d bytes)", document.pk, image_id, max_bytes
            )
            continue
        total += len(data)
        files[image_id] = (f"{image_id}{_extension(image)}", data)
    return files


def _extension(image: DocumentImage) -> str:
    """The stored file's extension (the upload names it by the verified type), else the content type's."""
    suffix = PurePosixPath(image.file.name).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        return suffix
    return mimetypes.guess_extension(image.content_type) or ".bin"


def _page(body: str, title: str) -> str:
    """The HTML export as a page that opens on its own (its encoding declared, since a file has no header)."""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title></head>\n'
        f"<body>\n{body}</body></html>\n"
    )


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    """A zip entry's time (UTC): the document's last change, so that the same document gives the same archive."""
    at = (moment or datetime.now(UTC)).astimezone(UTC)
    return max((at.year, at.month, at.day, at.hour, at.minute, at.second), _EARLIEST_ZIP_TIME)


def _add(
    archive: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, int, int, int, int, int], method: int
) -> None:
    entry = zipfile.ZipInfo(name, date_time=stamp)
    entry.compress_type = method
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data)
