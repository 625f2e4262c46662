"""The operator commands: export_documents, compact_documents, prune_versions and close_connections.

Documents are written through the bridge, so their rows are the Yjs updates a server would store; the live tests
run real daphne processes and real y-websocket clients.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
import zipfile
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command, load_command_class
from django.db import OperationalError
from django.utils import timezone
from pycrdt import Doc
from pycrdt import Text as YText
from rest_framework.authtoken.models import Token

from documents.bridge import export_document, export_prosemirror, replace_content
from documents.engine.storage import DjangoStorage
from documents.management.commands.prune_versions import parse_duration, prune
from documents.models import Document, DocumentUpdate, Version
from documents.richtext import fragment_of, to_text
from tests.live_server import ROOT, free_port
from tests.services import redis_url
from tests.tiptap_json import skip_without_editor, tiptap_json
from tests.waiting import until_server_text
from tests.yclient import open_client

SAMPLE = "# Title\n\nhello **world**\n"
COMMANDS = ("export_documents", "compact_documents", "check_documents", "prune_versions", "close_connections")
DJANGO_OPTIONS = {"help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color"}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def stored(owner: Any, title: str, markdown: str = SAMPLE) -> Document:
    """A document whose content was written by the bridge (a real Yjs update in its log)."""
    document = Document.objects.create(title=title, owner=owner)
    replace_content(document, "markdown", markdown)
    document.refresh_from_db()
    return document


def stored_doc(document: Document) -> Doc:
    """The Doc the document's stored rows build."""
    return DjangoStorage().read(document.pk)[0].doc()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_and_argument_is_explained(name: str) -> None:
    command = load_command_class("documents", name)
    assert len(command.help) > 60
    parser = command.create_parser("manage.py", name)
    own = [action for action in parser._actions if action.dest not in DJANGO_OPTIONS and action.dest != "skip_checks"]
    assert own
    for action in own:
        assert action.help and len(action.help) > 10, (name, action.dest)


# -- export_documents -------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_export_markdown_to_a_directory_with_a_manifest(alice: Any, tmp_path: Path) -> None:
    plans = stored(alice, "Plans: Q3 / ✓ draft")
    untitled = stored(alice, "???", "just text\n")
    output = tmp_path / "export"
    assert run("export_documents", "--all", "--format", "markdown", "--output", str(output)).endswith(
        f"exported 2 documents as markdown to {output}\n"
    )
    names = {plans.pk: f"{plans.pk}-plans-q3-draft.md", untitled.pk: f"{untitled.pk}.md"}
    assert sorted(p.name for p in output.iterdir()) == sorted([*names.values(), "index.json"])
    assert (output / names[plans.pk]).read_text() == SAMPLE
    assert (output / names[untitled.pk]).read_text() == "just text\n"
    manifest = json.loads((output / "index.json").read_text())
    assert manifest["format"] == "markdown"
    assert manifest["documents"] == [
        {
            "id": str(document.pk),
            "title": document.title,
            "owner": "alice",
            "updated_at": document.updated_at.isoformat(),
            "file": names[document.pk],
        }
        for document in (plans, untitled)
    ]


@pytest.mark.django_db
def test_export_selected_documents_as_html_to_a_zip(alice: Any, tmp_path: Path) -> None:
    wanted, _other = stored(alice, "Wanted"), stored(alice, "Other")
    output = tmp_path / "backup.zip"
    output.write_bytes(b"an older archive, replaced")
    run("export_documents", str(wanted.pk), "--format", "html", "--output", str(output))
    with zipfile.ZipFile(output) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [f"{wanted.pk}-wanted.html", "index.json"]
        assert archive.read(f"{wanted.pk}-wanted.html").decode() == "<h1>Title</h1><p>hello <strong>world</strong></p>"
        assert archive.read(f"{wanted.pk}-wanted.html").decode() == export_document(wanted, "html")
        [entry] = json.loads(archive.read("index.json"))["documents"]
    assert entry["id"] == str(wanted.pk) and entry["file"] == f"{wanted.pk}-wanted.html"
    assert [p.name for p in tmp_path.iterdir()] == ["backup.zip"]  # no temporary file left beside it


RICH = (
    '# Title\n\nText with **bold**, *italic*, ~~strike~~, `code` and [a link](https://example.com/ "T").\\\nNext\n\n'
    "3. three\n4. four\n\n- a\n  - nested\n\n> quoted\n\n```py\nx = 1\n```\n\n---\n"
)
LINK = {"href": "https://example.com/", "target": "_blank", "rel": "noopener noreferrer nofollow", "class": None}


@pytest.mark.django_db
def test_export_json_is_the_editors_prosemirror_json(alice: Any, tmp_path: Path) -> None:
    document = stored(alice, "Rich", RICH)
    run("export_documents", str(document.pk), "--format", "json", "--output", str(tmp_path))
    exported = json.loads((tmp_path / f"{document.pk}-rich.json").read_text())
    paragraph = lambda *content: {"type": "paragraph", "attrs": {"textAlign": None}, "content": list(content)}  # noqa: E731
    text = lambda value, *marks: {"type": "text", "text": value, **({"marks": list(marks)} if marks else {})}  # noqa: E731
    item = lambda *content: {"type": "listItem", "content": list(content)}  # noqa: E731
    assert exported == {
        "type": "doc",
        "content": [
            {"type": "heading", "attrs": {"level": 1, "textAlign": None}, "content": [text("Title")]},
            paragraph(
                text("Text with "),
                text("bold", {"type": "bold"}),
                text(", "),
                text("italic", {"type": "italic"}),
                text(", "),
                text("strike", {"type": "strike"}),
                text(", "),
                text("code", {"type": "code"}),
                text(" and "),
                text("a link", {"type": "link", "attrs": {**LINK, "title": "T"}}),
                text("."),
                {"type": "hardBreak"},
                text("Next"),
            ),
            {
                "type": "orderedList",
                "attrs": {"start": 3, "type": None},
                "content": [item(paragraph(text("three"))), item(paragraph(text("four")))],
            },
            {
                "type": "bulletList",
                "content": [
                    item(paragraph(text("a")), {"type": "bulletList", "content": [item(paragraph(text("nested")))]})
                ],
            },
            {"type": "blockquote", "content": [paragraph(text("quoted"))]},
            {"type": "codeBlock", "attrs": {"language": "py"}, "content": [text("x = 1")]},
            {"type": "horizontalRule"},
        ],
    }


@pytest.mark.node
def test_json_export_matches_tiptaps_get_json() -> None:
    skip_without_editor()
    from documents.richtext import write_html, write_markdown
    from documents.richtext.prosemirror_json import to_prosemirror_json

    docs = []
    for source in (RICH, "", "plain\n", "<p><u>under</u><strong><em>both</em></strong> <a href='/rel'>x</a></p>"):
        doc: Doc[Any] = Doc()
        (write_html if source.startswith("<") else write_markdown)(fragment_of(doc), source)
        docs.append(doc)
    assert tiptap_json([doc.get_update() for doc in docs]) == [to_prosemirror_json(fragment_of(doc)) for doc in docs]


@pytest.mark.django_db
def test_export_refuses_unknown_ids_before_writing(alice: Any, tmp_path: Path) -> None:
    known, unknown = stored(alice, "Known"), uuid.uuid4()
    output = tmp_path / "out"
    with pytest.raises(CommandError, match=f"unknown document id: {unknown}"):
        run("export_documents", str(known.pk), str(unknown), "--format", "html", "--output", str(output))
    with pytest.raises(CommandError, match="not a document id"):
        run("export_documents", "plans", "--format", "html", "--output", str(output))
    with pytest.raises(CommandError, match="or --all"):
        run("export_documents", "--format", "html", "--output", str(output))
    with pytest.raises(CommandError, match="not both"):
        run("export_documents", str(known.pk), "--all", "--format", "html", "--output", str(output))
    with pytest.raises(CommandError, match="invalid choice"):
        run("export_documents", "--all", "--format", "pdf", "--output", str(output))
    assert not output.exists()


@pytest.mark.django_db
def test_export_goes_on_past_a_document_it_cannot_render(
    alice: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fine, broken = stored(alice, "Fine"), stored(alice, "Broken")

    def render(document: Document) -> dict[str, Any]:
        if document.pk == broken.pk:
            raise OperationalError("disk I/O error")  # what a failing database raises mid-export
        return export_prosemirror(document)

    monkeypatch.setattr("documents.management.commands.export_documents.export_prosemirror", render)
    out = StringIO()
    with pytest.raises(CommandError, match=f"1 documents could not be exported: {broken.pk}") as failed:
        call_command("export_documents", "--all", "--format", "json", "--output", str(tmp_path), stderr=out)
    assert failed.value.returncode == 1
    assert out.getvalue() == f"FAIL {broken.pk}: OperationalError: disk I/O error\n"
    manifest = json.loads((tmp_path / "index.json").read_text())
    assert [entry["id"] for entry in manifest["documents"]] == [str(fine.pk)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{fine.pk}-fine.json", "index.json"]


# -- compact_documents ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_compact_folds_the_log_into_a_snapshot_and_reports_rows_and_bytes(alice: Any) -> None:
    document = stored(alice, "Edited")
    for n in range(5):
        replace_content(document, "markdown", f"version {n}\n")
    before = DocumentUpdate.objects.filter(document=document).count()
    assert before == 6
    out = run("compact_documents", str(document.pk))
    assert f"{document.pk}: 6 rows (0 snapshot + 6 log)" in out
    assert " -> 1 rows (1 snapshot + 0 log)" in out
    assert "compacted 1 documents, 0 had nothing to fold" in out
    assert not DocumentUpdate.objects.filter(document=document).exists()
    assert to_text(fragment_of(stored_doc(document))) == "version 4"
    document.refresh_from_db()
    assert document.size_bytes == sum(map(len, DjangoStorage().read(document.pk)[0].segments))
    assert f"{document.pk}: nothing to fold, 1 rows" in run("compact_documents", "--all")
    assert "0 failing" in run("check_documents", str(document.pk))


@pytest.mark.django_db
def test_compact_keeps_updates_that_wait_for_a_dependency(alice: Any) -> None:
    document = stored(alice, "Waiting")
    source: Doc[Any] = Doc()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text = source.get("t", type=YText)
    text += "a"
    text += "b"
    DocumentUpdate.objects.create(document=document, data=updates[1])  # its dependency never arrives
    assert "-> 2 rows (1 snapshot + 1 log)" in run("compact_documents", str(document.pk))
    assert [bytes(row) for row in DocumentUpdate.objects.values_list("data", flat=True)] == [updates[1]]


@pytest.mark.django_db
def test_compact_refuses_unknown_ids(alice: Any) -> None:
    with pytest.raises(CommandError, match="unknown document id"):
        run("compact_documents", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="or --all"):
        run("compact_documents")


# -- prune_versions ---------------------------------------------------------------------------------------------------
def version(document: Document, age: timedelta, automatic: bool = True) -> Version:
    taken = Version.objects.create(document=document, name=f"{age}", automatic=automatic, state=b"")
    Version.objects.filter(pk=taken.pk).update(created_at=timezone.now() - age)
    return taken


def remaining(document: Document) -> list[str]:
    return list(Version.objects.filter(document=document).values_list("name", flat=True))


DAY = timedelta(days=1)


@pytest.mark.django_db
def test_prune_deletes_only_versions_both_old_and_beyond_the_newest(document: Document, alice: Any) -> None:
    for age in (DAY / 24, 2 * DAY, 10 * DAY, 40 * DAY, 50 * DAY):
        version(document, age)
    version(document, 70 * DAY, automatic=False)  # named: kept
    old = Document.objects.create(title="Old", owner=alice)
    for days in (100, 101, 102):
        version(old, days * DAY)
    assert run("prune_versions", "--keep", "3", "--older-than", "30d", "--dry-run").startswith(
        "would delete 2 versions (2 automatic, 0 named) of 1 documents"
    )
    assert Version.objects.count() == 9
    out = run("prune_versions", "--keep", "3", "--older-than", "30d")
    assert out.startswith("deleted 2 versions (2 automatic, 0 named) of 1 documents: beyond the newest 3")
    assert remaining(document) == ["1:00:00", "2 days, 0:00:00", "10 days, 0:00:00", "70 days, 0:00:00"]
    assert len(remaining(old)) == 3  # all old, but its newest three
    run("prune_versions", "--keep", "1", "--older-than", "30d", "--include-named")
    assert remaining(document) == ["1:00:00", "2 days, 0:00:00", "10 days, 0:00:00"]
    assert remaining(old) == ["100 days, 0:00:00"]


@pytest.mark.django_db
def test_the_newest_versions_count_named_ones(document: Document) -> None:
    version(document, DAY, automatic=False)
    version(document, 40 * DAY)
    version(document, 50 * DAY)
    assert run("prune_versions", "--keep", "2", "--older-than", "30d").startswith("deleted 1 versions")
    assert remaining(document) == ["1 day, 0:00:00", "40 days, 0:00:00"]


@pytest.mark.django_db
def test_a_version_exactly_at_the_cutoff_stays(document: Document) -> None:
    taken = version(document, 40 * DAY)
    taken.refresh_from_db()
    assert prune(0, taken.created_at, include_named=False, dry_run=False).total == 0
    report = prune(0, taken.created_at + timedelta(microseconds=1), include_named=False, dry_run=False)
    assert (report.total, report.documents) == (1, {document.pk})
    assert remaining(document) == []


def test_durations() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration(" 30D ") == timedelta(days=30)
    assert parse_duration("2w") == timedelta(weeks=2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--keep", "3", "--older-than", "30"), "'30' is not a duration"),
        (("--keep", "3", "--older-than=-5d"), "is not a duration"),
        (("--keep", "3", "--older-than", "1.5d"), "is not a duration"),
        (("--keep", "3", "--older-than", "99999999999w"), "longer than any date"),
        (("--keep", "3", "--older-than", "999999d"), "longer than any date"),
        (("--keep", "-1", "--older-than", "30d"), "not a whole number"),
        (("--older-than", "30d"), "--keep"),
    ],
)
def test_prune_refuses_bad_arguments(args: tuple[str, ...], error: str) -> None:
    with pytest.raises(CommandError, match=error):
        run("prune_versions", *args)


# -- close_connections ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_close_connections_refuses_without_a_shared_layer(document: Document, settings: Any) -> None:
    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        run("close_connections", str(document.pk))
    with pytest.raises(CommandError, match="unknown document id"):
        run("close_connections", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="44xx codes are final"):
        run("close_connections", str(document.pk), "--code", "4404")
    with pytest.raises(CommandError, match="not a close code"):
        run("close_connections", str(document.pk), "--code", "soon")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.REDIS_URL = nowhere
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [nowhere]}}
    }
    with pytest.raises(CommandError, match="Redis at REDIS_URL does not answer"):
        run("close_connections", str(document.pk))


@pytest.fixture
def tokens(alice: Any, bob: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob)}


@pytest.mark.redis
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
async def test_close_connections_reaches_every_server_process(
    start_server: Any, server_env: dict[str, str], document: Document, tokens: dict[str, str]
) -> None:
    layer_url = redis_url().rsplit("/", 1)[0] + "/8"  # the groups are named by document id: no clash with others
    one, two = start_server(REDIS_URL=layer_url), start_server(REDIS_URL=layer_url)
    for code, option in ((4000, ()), (1013, ("--code", "try_again_later"))):
        clients = [
            await open_client(one.ws_url, document.pk, tokens["alice"]),
            await open_client(two.ws_url, document.pk, tokens["bob"]),
        ]
        command = [sys.executable, str(ROOT / "manage.py"), "close_connections", str(document.pk), *option]
        env = dict(server_env, REDIS_URL=layer_url)
        done = await asyncio.to_thread(subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"sent close {code} ")
        for client in clients:
            await asyncio.wait_for(client.closed.wait(), 10)
            assert client.close_code == code
    # The document still serves: the clients' reconnect succeeds.
    again = await open_client(one.ws_url, document.pk, tokens["alice"])
    await again.close()


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
async def test_compaction_while_a_live_server_appends(
    start_server: Any, document: Document, tokens: dict[str, str]
) -> None:
    server = start_server(COLLAB_FLUSH_INTERVAL="0.02")
    client = await open_client(server.ws_url, document.pk, tokens["alice"])
    typed = [f"line {n}" for n in range(200)]

    async def type_lines() -> None:
        for line in typed:
            client.add_paragraph(line)
            await asyncio.sleep(0.005)  # a fast typist's pace, so appends and compactions interleave

    typist = asyncio.create_task(type_lines())
    compact = sync_to_async(run)
    folds = 0
    while not typist.done():
        folds += (await compact("compact_documents", str(document.pk))).count(" -> ")
    await typist
    await until_server_text(server.http_url, document.pk, tokens["alice"], "\n".join(typed))
    await client.close()
    assert await asyncio.to_thread(server.stop, signal.SIGTERM) == 0  # a graceful stop writes what it buffers
    assert folds >= 3, "the compactions never overlapped the typing"
    stored_text = await sync_to_async(lambda: to_text(fragment_of(stored_doc(document))))()
    assert stored_text == "\n".join(typed)
    assert "0 failing, 0 with warnings" in await sync_to_async(run)("check_documents", str(document.pk))
