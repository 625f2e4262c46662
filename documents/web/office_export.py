"""Word (.docx) and OpenDocument text (.odt) exports: the HTML export converted by pandoc, in a bounded subprocess.

pandoc is an optional system program (Debian's ``pandoc`` package), looked up on ``PATH`` at every export. Without
it these two formats answer 501 and nothing else changes: the other formats work and ``/readyz`` does not ask for
it. The document's title becomes the file's title property (and its first, Title-styled paragraph), given to pandoc
as the HTML page's ``<title>`` so that no title is ever read as a command-line option or a YAML value.

pandoc runs with a timeout (``TIMEOUT_SECONDS``), after which it is killed and the export answers 500. It is called
directly rather than through a wrapper library, whose conversion call takes no timeout. Its ``--sandbox``, which
would forbid reading files and fetching URLs, cannot write docx or odt with a pandoc built without embedded data
files (Debian's), so the HTML first loses every tag through which pandoc reads a file or fetches a URL (images,
frames, media); links are written into the file, never followed.

The module is an HTTP adapter (``documents.web``), not a rich-text format (``documents.richtext``): it runs an outside
program and its failures are HTTP answers, while richtext holds pure conversions of the document model. Its input is
richtext's HTML export, which the API view reads through the bridge.
"""

from __future__ import annotations

import html
import logging
import shutil
import subprocess

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


def to_office(page_html: str, title: str, fmt: str) -> bytes:
    """The file of format ``fmt`` (one of OFFICE_FORMATS) for the HTML export ``page_html`` titled ``title``."""
    if fmt not in OFFICE_FORMATS:
        raise ValueError(f"unknown office format {fmt!r}")
    pandoc = shutil.which(PANDOC)
    if pandoc is None:
        logger.warning("no %s on PATH: the %s export answers 501", PANDOC, fmt)
        raise PandocMissing(missing_message(fmt))
    command = [pandoc, "--from=html", f"--to={fmt}", "--output=-"]
    try:
        done = subprocess.run(
            command, input=_page(page_html, title).encode(), capture_output=True, timeout=TIMEOUT_SECONDS, check=False
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


def _page(page_html: str, title: str) -> str:
    """A whole HTML page: the title in its head, the export's content without resource tags in its body."""
    body = sanitise(page_html, without=_RESOURCE_TAGS)
    return f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
