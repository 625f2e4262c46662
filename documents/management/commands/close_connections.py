"""``manage.py close_connections ID [--code 4000|1013]``: close every open WebSocket of a document, in every process.

For an operator who wants every editor of a document to load it afresh (after a repair, a restore from backup, a
stuck client): the clients reconnect by themselves and re-sync what they hold, so nothing typed is lost. The close
event goes through the bridge to the document's channel-layer group, which every serving process's room replica
joins. That needs a shared layer: with ``REDIS_URL`` unset each daphne process has a private in-memory layer that
no other process, this command's included, can reach, so the command refuses instead of pretending.
"""

from __future__ import annotations

import argparse
from argparse import ArgumentParser
from typing import Any

import redis
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from documents import bridge
from documents.engine.livecount import connection_counts
from documents.exceptions import CloseCode
from documents.management.commands._selection import parse_ids
from documents.models import Document

# Codes y-websocket clients (and the editor, frontend/src/provider.js) reconnect after; 4400-4499 are final.
RECONNECTING = {
    CloseCode.CLOSED_BY_OPERATOR: "clients reconnect at once",
    CloseCode.TRY_AGAIN_LATER: "clients reconnect with their back-off",
}


def close_code(value: str) -> CloseCode:
    """A close code clients reconnect after, by number (``4000``) or name (``closed_by_operator``)."""
    text = value.strip()
    if text.isdigit():
        code = next((known for known in CloseCode if known == int(text)), None)
    else:
        code = CloseCode.__members__.get(text.upper())
    if code is None or code not in RECONNECTING:
        choices = ", ".join(f"{int(c)} ({c.name.lower()}: {what})" for c, what in RECONNECTING.items())
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a close code clients reconnect after; choose {choices}. The 44xx codes are final: "
            "clients would stop reconnecting."
        )
    return code


class Command(BaseCommand):
    """Send the room.close event of one document to every serving process."""

    help = (
        "Close every open WebSocket connection of one document, in every serving process; the clients reconnect "
        "by themselves and re-sync their edits. Needs REDIS_URL (the channel layer the servers share): without "
        "it each server has a private in-memory layer that no other process can reach, and the command exits "
        "with an error. Close the connections from the admin's document list instead in a single-process "
        "deployment, or restart the server."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("document", metavar="ID", help="the id (UUID) of the document whose connections to close")
        parser.add_argument(
            "--code",
            type=close_code,
            metavar="{4000,1013}",
            default=CloseCode.CLOSED_BY_OPERATOR,
            help="the WebSocket close code: 4000 (closed by an operator, the default; clients reconnect at once) "
            "or 1013 (try again later; clients reconnect with their back-off)",
        )

    def handle(self, *args: Any, document: str, code: CloseCode, **options: Any) -> None:
        [document_id] = parse_ids([document])
        if not Document.objects.filter(pk=document_id).exists():
            raise CommandError(f"unknown document id: {document_id}")
        _check_shared_layer()
        counts = connection_counts([document_id])  # what the serving processes last published; None: unknown
        if not bridge.close_all_connections(document_id, code):
            raise CommandError("the close event could not be sent to the channel layer (see the log above)")
        seen = "an unknown number of" if counts is None else str(counts.get(document_id, 0))
        self.stdout.write(
            f"sent close {int(code)} ({code.name.lower()}) to every process serving {document_id}: "
            f"{seen} connections were open; {RECONNECTING[code]}"
        )


def _check_shared_layer() -> None:
    """Refuse unless the channel layer reaches other processes, and Redis answers.

    Raises:
        CommandError: no layer, the in-memory layer (``REDIS_URL`` unset), or Redis not answering.
    """
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer) or not settings.REDIS_URL:
        raise CommandError(
            "REDIS_URL is not set: the servers' channel layer is in-memory, private to each process, and this "
            "command cannot reach it. Set REDIS_URL to the servers' Redis, or use the admin's 'Close all live "
            "connections' action (served by the process holding the connections), or restart the server."
        )
    try:
        with redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5) as client:
            client.ping()
    except redis.RedisError as exc:
        raise CommandError(f"Redis at REDIS_URL does not answer ({exc}); nothing was sent") from exc
