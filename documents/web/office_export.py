"""Word (.docx) and OpenDocument text (.odt) exports: the HTML export converted by pandoc, in a bounded subprocess.

pandoc is an optional system program (Debian's ``pandoc`` package), looked up on ``PATH`` at every export. Without
it these two formats answer 501 and nothing else changes: the other formats work and ``/readyz`` does not ask for
it. The document's title becomes the file's title property (and its first, Title-styled paragraph), given to pandoc
as the HTML page's ``<title>`` so that no title is ever read as a command-line option or a YAML value.

pandoc runs with a timeout (``TIMEOUT_SECONDS``), after which it is killed and the export answers 500. It is called
directly rather than through a wrapper library, whose conversion call takes no timeout. Its ``--sandbox``, which
would forbid reading files and fetching URLs, cannot write docx or odt with a pandoc built without embedded data
files (Debian's), so the HTML first loses every tag through which pandoc reads a file or fetches a URL (frames,
media, pictures); links are written into the file, never followed.

Images are the one exception, and only the document's own: the caller gives their bytes (``zip_export.local_copy``
reads them from the storage), they are written into a private temporary directory that is pandoc's working
directory and its only resource path, and an ``<img>`` keeps its ``src`` only when it names one of those files. Any
other source (another document's image, an external URL, an absolute path) is dropped before pandoc sees it.

The module is an HTTP adapter (``documents.web``), not a rich-text format (``documents.richtext``): it runs an outside
program and its failures are HTTP answers, while richtext holds pure conversions of the document model. Its input is
richtext's HTML export, which the API view reads through the bridge.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rest_framework import exceptions, status

from documents.richtext.html_export import sanitise

logger = logging.getLogger(__name__)

# The formats, each pandoc's writer of the same name.
OFFICE_FORMATS = ("docx", "odt")
PANDOC = "pandoc"
TIMEOUT_SECONDS = 30.0
# Tags through which pandoc would read a local file or fetch a URL while converting.
_RESOURCE_TAGS = frozenset(
    {"img", "picture", "source", "video", "audio", "track", "iframe", "frame", "object", "embed", "svg", "link"}
)
_LOGGED_STDERR_CHARS = 500
# The name of an image file written for pandoc: an image id and its extension, nothing that could leave the folder.
_IMAGE_NAME = re.compile(r"[0-9a-f-]{32,36}\.[a-z0-9]{1,5}")
# An <img> tag as nh3 writes it: every value in double quotes, a quote inside one escaped.
_IMG_TAG = re.compile(r'<img((?:\s+[^\s"=>/]+(?:="[^"]*")?)*)\s*/?>')


class PandocMissing(exceptions.APIException):
    """The server has no pandoc: 501, the other formats still work."""

    status_code = status.HTTP_501_NOT_IMPLEMENTED
    default_code = "pandoc_missing"


class ConversionFailed(exceptions.APIException):
    """pandoc failed or ran out of time."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "conversion_failed"


def missing_message(fmt: str) -> str:
    """What the export of ``fmt`` answers when pandoc is not installed."""
    return f"{fmt} export needs pandoc on the server."


def pandoc_for(fmt: str) -> str:
    """pandoc's path, for an export in ``fmt``.

    Raises:
        PandocMissing: the server has none (501), checked before any work that would be for nothing.
    """
    pandoc = shutil.which(PANDOC)
    if pandoc is None:
        logger.warning("no %s on PATH: the %s export answers 501", PANDOC, fmt)
        raise PandocMissing(missing_message(fmt))
    return pandoc


def to_office(page_html: str, title: str, fmt: str, images: Mapping[str, bytes] | None = None) -> bytes:
    """The file of format ``fmt`` (one of OFFICE_FORMATS) for the HTML export ``page_html`` titled ``title``.

    ``images`` maps file names (``<image id>.<extension>``) to bytes; an ``<img>`` whose ``src`` is one of those
    names is embedded, every other image is left out.
    """
    if fmt not in OFFICE_FORMATS:
        raise ValueError(f"unknown office format {fmt!r}")
    images = images or {}
    bad = [name for name in images if not _IMAGE_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"not an image file name: {bad[0]!r}")
    pandoc = pandoc_for(fmt)
    page = _page(page_html, title, frozenset(images)).encode()
    with tempfile.TemporaryDirectory(prefix="collab-office-") as folder:
        for name, data in images.items():
            (Path(folder) / name).write_bytes(data)
        command = [pandoc, "--from=html", f"--to={fmt}", f"--resource-path={folder}", "--output=-"]
        try:
            done = subprocess.run(
                command, input=page, capture_output=True, timeout=TIMEOUT_SECONDS, check=False, cwd=folder
            )
        except FileNotFoundError:  # removed since the lookup
            raise PandocMissing(missing_message(fmt)) from None
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            logger.warning(
                "pandoc took longer than %g s writing %s (%d bytes of HTML)", TIMEOUT_SECONDS, fmt, len(page_html)
            )
            raise ConversionFailed(f"{fmt} export took longer than {TIMEOUT_SECONDS:g} s.") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")[:_LOGGED_STDERR_CHARS]
        logger.error("pandoc exited with %d writing %s: %s", done.returncode, fmt, stderr)
        raise ConversionFailed(f"{fmt} export failed.")
    return done.stdout


def _page(page_html: str, title: str, image_files: frozenset[str]) -> str:
    """A whole HTML page: the title in its head, the export's content in its body, without resource tags but the
    images that show one of ``image_files``."""

    def local_only(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and value not in image_files:
            return None  # the tag goes next; were it left, pandoc would read nothing for it
        return value

    body = sanitise(page_html, without=_RESOURCE_TAGS - {"img"}, attribute_filter=local_only)
    body = _IMG_TAG.sub(lambda tag: tag.group(0) if ' src="' in tag.group(1) else "", body)
    return f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
