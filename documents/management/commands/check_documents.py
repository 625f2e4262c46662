"""``manage.py check_documents [ID ...]``: verify that every (or each given) document's stored rows load whole."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from documents.engine.integrity import check_document
from documents.engine.storage import get_backend
from documents.engine.store import DocumentStore
from documents.management.commands._selection import add_selection_arguments, select_documents


class Command(BaseCommand):
    """Load each document from storage by the rooms' rule and report the ones that fail, wait or exceed limits."""

    help = (
        "Load every document (or the given ids) from storage and report any that fail to load, differ from what a "
        "joining client would receive, exceed the size or nesting limits, or hold updates waiting for a missing "
        "dependency. Exits with status 1 when a document has a problem."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Optional document ids."""
        add_selection_arguments(parser, "check", all_by_default=True)

    def handle(self, *args: Any, ids: list[str], **options: Any) -> None:
        documents = select_documents(ids, every=not ids)
        store = DocumentStore(get_backend())
        checked = failed = warned = 0
        for document_id in documents.values_list("pk", flat=True).iterator():
            report = check_document(store, document_id)
            checked += 1
            for problem in report.problems:
                self.stdout.write(f"FAIL {document_id}: {problem}")
            for warning in report.warnings:
                self.stdout.write(f"WARN {document_id}: {warning}")
            failed += not report.ok
            warned += bool(report.warnings)
        self.stdout.write(f"checked {checked} documents: {failed} failing, {warned} with warnings")
        if failed:
            raise CommandError(f"{failed} documents failed the check", returncode=1)
