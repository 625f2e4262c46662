"""``manage.py prune_versions --keep N --older-than D [--include-named] [--dry-run]``: delete old saved versions.

Every editing session leaves an automatic version (documents/versions.py), each a full copy of the document's
state, so the versions table grows without bound. A version is deleted only when both hold: it is not among its
document's newest N versions (of any kind), and it was taken more than D ago. Versions people named themselves
are kept unless ``--include-named`` says otherwise; "Before restoring ..." versions are automatic.
"""

from __future__ import annotations

import argparse
import re
from argparse import ArgumentParser
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from documents.models import Version

_DURATION = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(value: str) -> timedelta:
    """A duration written as a number and a unit: ``30d``, ``12h``, ``90m``, ``2w``, ``45s``.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse turns it into a usage error).
    """
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration: write a number and a unit, w, d, h, m or s (for example 30d, 12h, 90m)"
        )
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{value!r} is longer than any date can go back") from None


def count(value: str) -> int:
    """A whole number of versions, zero or more."""
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of versions (0 or more)")
    return int(value)


@dataclass
class PruneReport:
    """What pruning found: the versions it deleted (or would delete), per kind, and the documents they belong to."""

    automatic: int = 0
    named: int = 0
    documents: set[Any] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.automatic + self.named


def prune(keep: int, cutoff: datetime, include_named: bool, dry_run: bool) -> PruneReport:
    """Delete every version beyond its document's newest ``keep`` that was taken before ``cutoff``.

    Named versions go too only with ``include_named``; with ``dry_run`` nothing is deleted, only counted.
    """
    report = PruneReport()
    crowded = Version.objects.values("document").annotate(versions=Count("pk")).filter(versions__gt=keep).order_by()
    for document_id in crowded.values_list("document", flat=True).iterator():
        with transaction.atomic():
            # Newest first, as the history panel lists them; the same order decides which N are "the newest".
            ranked = Version.objects.filter(document_id=document_id).order_by("-created_at", "-pk")
            older = list(ranked.values_list("pk", flat=True)[keep:])
            doomed = Version.objects.filter(pk__in=older, created_at__lt=cutoff)
            if not include_named:
                doomed = doomed.filter(automatic=True)
            kinds = list(doomed.values_list("automatic", flat=True))
            if not kinds:
                continue
            report.documents.add(document_id)
            report.automatic += sum(kinds)
            report.named += len(kinds) - sum(kinds)
            if not dry_run:
                doomed.delete()
    return report


class Command(BaseCommand):
    """Delete old versions beyond each document's newest N, and report how many went (or would go)."""

    help = (
        "Delete saved versions that are both beyond their document's newest N (counting every version, named "
        "or automatic) and older than D. The newest N versions of a document are never deleted, nor are named "
        "versions (those people saved under a name) unless --include-named is given. --dry-run only counts."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--keep",
            required=True,
            type=count,
            metavar="N",
            help="how many of each document's newest versions are always kept (0 or more)",
        )
        parser.add_argument(
            "--older-than",
            required=True,
            type=parse_duration,
            metavar="D",
            help="only versions taken longer ago than this go: a number and a unit, w, d, h, m or s (30d, 12h, 90m)",
        )
        parser.add_argument(
            "--include-named", action="store_true", help="delete named versions too, not only automatic ones"
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")

    def handle(
        self, *args: Any, keep: int, older_than: timedelta, include_named: bool, dry_run: bool, **options: Any
    ) -> None:
        try:
            cutoff = timezone.now() - older_than
        except OverflowError:
            raise CommandError(f"--older-than {older_than.days}d is longer than any date can go back") from None
        report = prune(keep, cutoff, include_named, dry_run)
        verb = "would delete" if dry_run else "deleted"
        kept = "" if include_named else " (named versions kept)"
        self.stdout.write(
            f"{verb} {report.total} versions ({report.automatic} automatic, {report.named} named) "
            f"of {len(report.documents)} documents: beyond the newest {keep} and taken before "
            f"{cutoff:%Y-%m-%d %H:%M:%S} UTC{kept}"
        )
