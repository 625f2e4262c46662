"""Logs: LOG_FORMAT=json writes one JSON object per line, and the lines of a connection name its document,
connection and user (documents/logcontext.py); plain text stays the default."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter
from rest_framework.authtoken.models import Token

from documents import logcontext
from documents.engine.protocol import encode_update
from tests.waiting import until
from tests.yclient import open_client

CORRUPT_UPDATE = encode_update(b"\x05\xff\xff\xff")  # closes its sender with 1007
# daphne's access log: written to standard output by daphne itself, not a log record (docs/configuration.md#logs)
ACCESS_LINE = re.compile(r'^\S+:\d+ - - \[[^]]+\] "')
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ ")


def record(message: str = "line", **extra: Any) -> logging.LogRecord:
    """A record as a logger makes it, passed through the context filter."""
    item = logging.LogRecord("documents.test", logging.INFO, __file__, 1, message, None, None)
    item.__dict__.update(extra)
    logcontext.ContextFilter().filter(item)
    return item


def ids(item: logging.LogRecord) -> tuple[Any, Any, Any]:
    return item.document_id, item.connection_id, item.user_id  # type: ignore[attr-defined]


# -- the context, without a server --------------------------------------------------------------------------------
def test_unbound_lines_carry_none() -> None:
    assert ids(record()) == (None, None, None)


async def test_a_binding_holds_for_the_rest_of_its_task_and_what_it_hands_the_context_to() -> None:
    async def handler() -> tuple[Any, Any, Any]:  # a later handler of the same consumer: same task
        await asyncio.sleep(0)
        return ids(record())

    async def connection() -> None:
        logcontext.bind("d1", "ws7", 42)
        assert await handler() == ("d1", "ws7", 42)
        assert await sync_to_async(lambda: ids(record()))() == ("d1", "ws7", 42)  # a thread given the context
        logcontext.bind(document_id="d2")  # adds up within the task
        assert ids(record()) == ("d2", "ws7", 42)

    await asyncio.get_running_loop().create_task(connection())
    assert ids(record()) == (None, None, None)  # nothing leaked into the caller


async def test_tasks_a_connection_starts_do_not_carry_its_ids() -> None:
    """A process-wide task (the store's flusher, housekeeping) started while handling one socket is not its."""
    seen: list[tuple[Any, Any, Any]] = []

    async def process_wide() -> None:
        seen.append(ids(record()))
        logcontext.bind(document_id="d9")  # such a task binds its own
        seen.append(ids(record()))

    async def connection() -> None:
        logcontext.bind("d1", "ws7", 42)
        await asyncio.get_running_loop().create_task(process_wide())
        assert ids(record()) == ("d1", "ws7", 42)

    await asyncio.get_running_loop().create_task(connection())
    assert seen == [(None, None, None), ("d9", None, None)]


async def test_explicit_fields_win_and_bound_restores() -> None:
    async def connection() -> None:
        logcontext.bind("d1", "ws7", 42)
        assert ids(record(**logcontext.fields("d1", "ws8", 43))) == ("d1", "ws8", 43)
        assert ids(record(**logcontext.fields("d2"))) == ("d2", "ws7", 42)
        with logcontext.bound(document_id="d3"):
            assert ids(record()) == ("d3", "ws7", 42)
        assert ids(record()) == ("d1", "ws7", 42)

    await asyncio.get_running_loop().create_task(connection())


def test_the_json_formatter_writes_the_fields() -> None:
    options = dict(settings.LOGGING["formatters"]["json"])
    assert options.pop("()") == "pythonjsonlogger.json.JsonFormatter"
    line = json.loads(JsonFormatter(**options).format(record("hello", **logcontext.fields("d1", "ws1", 5))))
    assert line["message"] == "hello"
    assert (line["level"], line["logger"]) == ("INFO", "documents.test")
    assert (line["document_id"], line["connection_id"], line["user_id"]) == ("d1", "ws1", 5)
    assert "time" in line


# -- a real server ------------------------------------------------------------------------------------------------
@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol)}


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of the server's output but daphne's access log, each of which must be one JSON object."""
    lines = [line for line in log.splitlines() if line.strip() and not ACCESS_LINE.match(line)]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def lines_with(lines: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [line for line in lines if text in line.get("message", "")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_json_lines_name_the_document_connection_and_user(
    start_server: Any, document: Any, bob: Any, carol: Any, tokens: dict[str, str]
) -> None:
    server = start_server(LOG_FORMAT="json")
    writer = await open_client(server.ws_url, document.pk, tokens["alice"])
    writer.add_paragraph("kept")
    viewer = await open_client(server.ws_url, document.pk, tokens["carol"])
    viewer.add_paragraph("refused")  # a room line, logged while the room handles the viewer's message
    attacker = await open_client(server.ws_url, document.pk, tokens["bob"])
    await attacker.send_raw(CORRUPT_UPDATE)
    await asyncio.wait_for(attacker.closed.wait(), 5)
    assert attacker.close_code == 1007
    await until(lambda: "closed with 1007" in server.log(), "the close to be logged")
    await until(lambda: "dropped update from read-only" in server.log(), "the viewer's update to be logged")
    await writer.close()
    await viewer.close()
    # Once everybody left, the room unloads after its grace period: its compaction is logged by the writer thread.
    await until(lambda: "compacted" in server.log(), "the unload's compaction", timeout=15)

    lines = json_lines(server.log())
    document_id = str(document.pk)
    (close,) = lines_with(lines, "closed with 1007")  # logged by websocket_receive, bound in websocket_connect
    assert (close["document_id"], close["user_id"]) == (document_id, bob.pk)
    assert re.fullmatch(r"ws\d+", close["connection_id"]), close
    assert close["level"] == "WARNING" and close["logger"] == "documents.ws"
    joined = [line for line in lines_with(lines, " joined ") if line["connection_id"] == close["connection_id"]]
    assert [line["user_id"] for line in joined] == [bob.pk]
    dropped = lines_with(lines, "dropped update from read-only")
    assert {(line["logger"], line["document_id"], line["user_id"]) for line in dropped} == {
        ("documents.engine.rooms", document_id, carol.pk)
    }
    assert close["connection_id"] not in {line["connection_id"] for line in dropped}
    # A line of the store's writer thread names the document and no connection.
    compacted = lines_with(lines, "compacted")[-1]
    assert (compacted["document_id"], compacted["connection_id"], compacted["user_id"]) == (document_id, None, None)
    # Every line has the three fields, null where they do not apply.
    assert all({"document_id", "connection_id", "user_id", "time", "level", "logger"} <= set(line) for line in lines)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_plain_text_is_the_default(
    start_server: Any, server_env: dict[str, str], document: Any, tokens: dict[str, str]
) -> None:
    server_env.pop("LOG_FORMAT", None)
    server = start_server()
    client = await open_client(server.ws_url, document.pk, tokens["bob"])
    await client.send_raw(CORRUPT_UPDATE)
    await asyncio.wait_for(client.closed.wait(), 5)
    await until(lambda: "closed with 1007" in server.log(), "the close to be logged")
    (line,) = [line for line in server.log().splitlines() if "closed with 1007" in line]
    assert PLAIN_LINE.match(line), line
    assert re.search(r" WARNING documents\.ws ws ws\d+ closed with 1007: ", line), line
    assert not line.startswith("{")
