"""``manage.py export_documents [ID ...] [--all] --format markdown|html|json --output DIR_OR_ZIP``.

Backups and migrations need the documents' content in open formats, outside the database and without a browser.
Each document is rendered by the bridge's exports, the same the REST API and the admin serve (read from storage: a
management process has no live rooms, so edits a server has not flushed yet, at most a flush window old, are not
included), and written as one file named after its id and title, beside an ``index.json`` manifest. An output
ending in ``.zip`` is one archive, written to a temporary file and renamed into place, so a failed export never
leaves half an archive behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from argparse import ArgumentParser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.text import slugify

from documents.bridge import export_document, export_prosemirror
from documents.management.commands._selection import add_selection_arguments, select_documents
from documents.models import Document

MANIFEST = "index.json"
SLUG_LENGTH = 60  # keeps names well under every file system's 255-byte limit, after the 36-character id
# Each format: the file extension and the document rendered as the file's text.
FORMATS: dict[str, tuple[str, Callable[[Document], str]]] = {
    "markdown": ("md", lambda document: export_document(document, "markdown")),
    "html": ("html", lambda document: export_document(document, "html")),
    "json": ("json", lambda document: json.dumps(export_prosemirror(document), ensure_ascii=False, indent=1) + "\n"),
}


def file_name(document: Document, extension: str) -> str:
    """``<id>-<slugified title>.<ext>`` (``<id>.<ext>`` for a title with nothing a slug keeps): unique and safe."""
    slug = slugify(document.title)[:SLUG_LENGTH].strip("-_")
    return f"{document.pk}-{slug}.{extension}" if slug else f"{document.pk}.{extension}"


class Command(BaseCommand):
    """Write the selected documents' content, one file each, with a manifest, to a directory or a zip file."""

    help = (
        "Export documents as Markdown, HTML or ProseMirror JSON (what the editor's getJSON() returns): one file per "
        "document, named <id>-<slugified title>.<md|html|json>, and an index.json manifest listing each document's "
        "id, title, owner, updated_at and file. The output is a directory (created if missing) or, when it ends "
        "in .zip, a zip archive. The content is what is stored: edits a running server received within its flush "
        "window (COLLAB_FLUSH_INTERVAL) may be missing. Unknown ids fail the command before anything is written; a "
        "document that cannot be read is reported and the rest are exported (exit status 1)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser, "export")
        parser.add_argument(
            "--format",
            dest="fmt",
            required=True,
            choices=sorted(FORMATS),
            help="the files' format (json: ProseMirror JSON)",
        )
        parser.add_argument(
            "--output",
            required=True,
            type=Path,
            metavar="DIR_OR_ZIP",
            help="a directory to write the files into, or a path ending in .zip for one archive (replaced if present)",
        )

    def handle(self, *args: Any, ids: list[str], every: bool, fmt: str, output: Path, **options: Any) -> None:
        documents = select_documents(ids, every)
        extension, render = FORMATS[fmt]
        entries: list[dict[str, Any]] = []
        failed: list[str] = []
        with _writer(output) as write:
            for document in documents.iterator():
                try:
                    content = render(document)
                except Exception as exc:  # one unreadable document must not stop the backup of the others
                    self.stderr.write(f"FAIL {document.pk}: {type(exc).__name__}: {exc}")
                    failed.append(str(document.pk))
                    continue
                name = file_name(document, extension)
                write(name, content)
                entries.append(_entry(document, name))
            manifest = {"format": fmt, "exported_at": timezone.now().isoformat(), "documents": entries}
            write(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        self.stdout.write(f"exported {len(entries)} documents as {fmt} to {output}")
        if failed:
            raise CommandError(f"{len(failed)} documents could not be exported: {', '.join(failed)}", returncode=1)


def _entry(document: Document, name: str) -> dict[str, Any]:
    """The manifest's line for one document."""
    return {
        "id": str(document.pk),
        "title": document.title,
        "owner": document.owner.get_username(),
        "updated_at": document.updated_at.isoformat(),
        "file": name,
    }


@contextmanager
def _writer(output: Path) -> Iterator[Callable[[str, str], object]]:
    """A function writing one named text file into the output: a directory, or a zip archive for ``*.zip``."""
    if output.suffix.lower() == ".zip":
        with _zip_writer(output) as write:
            yield write
        return
    if output.exists() and not output.is_dir():
        raise CommandError(f"{output} exists and is not a directory (name a .zip file for an archive)")
    output.mkdir(parents=True, exist_ok=True)
    yield lambda name, content: (output / name).write_text(content, encoding="utf-8")


@contextmanager
def _zip_writer(output: Path) -> Iterator[Callable[[str, str], object]]:
    """Write into a temporary archive beside ``output``, renamed over it only once everything is in."""
    if not output.parent.is_dir():
        raise CommandError(f"the directory of {output} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            yield lambda name, content: archive.writestr(name, content)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
