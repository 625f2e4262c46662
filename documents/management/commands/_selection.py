"""Which documents an operator command works on: the ids given, or every document with ``--all``.

Shared by the commands (Django lists no command for a module whose name starts with an underscore). Ids are
checked before anything is read or written, so a typo fails the whole command with the ids it did not know.
"""

from __future__ import annotations

import uuid
from argparse import ArgumentParser
from collections.abc import Sequence

from django.core.management.base import CommandError
from django.db.models import QuerySet

from documents.models import Document


def add_selection_arguments(parser: ArgumentParser, verb: str, all_by_default: bool = False) -> None:
    """Positional document ids (``ids``), and ``--all`` (``every``) unless no ids already means every document."""
    default = "; default: every document" if all_by_default else "; or pass --all"
    parser.add_argument("ids", nargs="*", metavar="ID", help=f"ids (UUIDs) of the documents to {verb}{default}")
    if not all_by_default:
        parser.add_argument("--all", dest="every", action="store_true", help=f"{verb} every document")


def select_documents(ids: Sequence[str], every: bool) -> QuerySet[Document]:
    """The documents named by ``ids`` (all of them when ``every``), oldest first.

    Raises:
        CommandError: no selection, both a selection and ``--all``, a malformed id, or an id of no document.
    """
    if every and ids:
        raise CommandError("pass either document ids or --all, not both")
    if not every and not ids:
        raise CommandError("pass the ids of the documents, or --all for every document")
    documents = Document.objects.select_related("owner").order_by("created_at", "pk")
    if every:
        return documents
    wanted = set(parse_ids(ids))
    found = set(documents.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = sorted(str(pk) for pk in wanted - found)
    if missing:
        raise CommandError(f"unknown document id{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    return documents.filter(pk__in=wanted)


def parse_ids(ids: Sequence[str]) -> list[uuid.UUID]:
    """The ids as UUIDs.

    Raises:
        CommandError: naming every id that is not a UUID.
    """
    parsed, bad = [], []
    for value in ids:
        try:
            parsed.append(uuid.UUID(value))
        except ValueError:
            bad.append(value)
    if bad:
        raise CommandError(f"not a document id (a UUID): {', '.join(bad)}")
    return parsed
