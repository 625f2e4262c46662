"""Structure-aware fuzzing of the receive path (tests/fuzz): the corpus of past findings, and a seeded slice.

The slice runs the in-room driver for FUZZ_SECONDS (60) with a fixed seed, checking the whole invariant after
every step, then FUZZ_SOCKET_SLICE_CASES (300) cases against a real server; ``make fuzz`` runs the long version
with a fresh seed. See tests/fuzz/__init__.py for the invariant and the corpus format.
"""

from __future__ import annotations

import gc
import os
import uuid
import weakref
from pathlib import Path
from typing import Any

import pytest
from pycrdt import XmlFragment
from rest_framework.authtoken.models import Token

from documents.engine.rooms import Room
from documents.engine.storage import MemoryStorage
from documents.engine.store import DocumentStore
from tests.fuzz import room_driver, socket_driver, ycodec
from tests.fuzz.corpus import corpus_files, load, replay
from tests.fuzz.oracle import room_doc
from tests.fuzz.session import load_recording

pytestmark = pytest.mark.fuzz

SLICE_SEED = 20261201
SLICE_SECONDS = float(os.environ.get("FUZZ_SECONDS", "60"))
SLICE_SOCKET_CASES = int(os.environ.get("FUZZ_SOCKET_SLICE_CASES", "300"))


def test_recording_is_a_tiptap_document() -> None:
    """The recorded Yjs session decodes, re-encodes byte for byte, and builds the document it was recorded as."""
    from pycrdt import Doc

    doc: Doc[Any] = Doc()
    for recorded in load_recording():
        if recorded.update is not None:
            assert ycodec.encode(ycodec.parse(recorded.update)) == recorded.update
            doc.apply_update(recorded.update)
    xml = str(doc.get("default", type=XmlFragment))
    for fragment in ("Release plan", "<bold>ship</bold>", "<orderedList", "docs</link>", "<hardBreak>", "😀"):
        assert fragment in xml


# Saved findings not fixed yet, by file name, with the reason: replayed as strict xfails, so fixing one fails
# the suite until its entry goes.
OPEN_FINDINGS: dict[str, str] = {}


def _corpus_case(path: Path) -> Any:
    reason = OPEN_FINDINGS.get(path.name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(path, id=path.name, marks=marks)


@pytest.mark.parametrize("path", [_corpus_case(path) for path in corpus_files()])
async def test_corpus_replays(path: Path) -> None:
    """Every saved finding, replayed through a fresh room: the invariant holds after every step."""
    case = load(path)
    findings, index = await replay(case.script, case.collab)
    detail = "; ".join(str(finding)[:300] for finding in findings[:3])
    assert not findings, f"{path.name} [{case.comment[:120]}] fails after step {index}: {detail}"


def _room_doc(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Doc of a room that unloaded (the registry closes every room it unloads)."""
    room = Room(uuid.uuid4(), DocumentStore(MemoryStorage()), None)
    doc = room_doc(room)
    room.close()
    return doc


def _stored_rows_doc(monkeypatch: pytest.MonkeyPatch) -> Any:
    from documents.engine.storage import StoredRows

    return StoredRows([], [r.update for r in load_recording() if r.update]).doc()


def _compacted_doc(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Doc a compaction builds (caught by a spy on ``load_doc``, which compaction calls)."""
    from documents.engine import live_doc as updates

    built = []
    original = updates.load_doc

    def spy(*args: Any) -> Any:
        built.append(live := original(*args))
        return live

    monkeypatch.setattr(updates, "load_doc", spy)
    updates.compact_rows([], [r.update for r in load_recording() if r.update], 512 * 1024)
    return built.pop().doc  # the spy, which monkeypatch keeps until teardown, must not keep the Doc


@pytest.mark.parametrize(
    "make", [_room_doc, _stored_rows_doc, _compacted_doc], ids=["room", "stored-rows", "compaction"]
)
def test_docs_are_freed(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Doc the server built and dropped is freed: pycrdt never frees a Doc that still has an observer, so a room
    or a LiveDoc that does not unobserve leaks its whole document (per unloaded room, REST read, compaction)."""
    doc = weakref.ref(make(monkeypatch))
    gc.collect()
    assert doc() is None, "the Doc outlives its owner: its observer is never removed"


async def test_episodes_are_deterministic() -> None:
    """The same seed plays the same episodes (what makes a slice's failure repeatable)."""
    runs = [
        await room_driver.run(room_driver.Options(seed=SLICE_SEED, episodes=3), log=lambda line: None) for _ in "ab"
    ]
    first, second = ((r.steps, r.cases, r.mutations, r.closes, r.by_oracle) for r in runs)
    assert first == second


@pytest.fixture
def tokens(alice: Any, bob: Any, carol: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob, carol)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(SLICE_SECONDS + 240)
async def test_fuzz_slice(start_server: Any, document: Any, tokens: dict[str, str], capsys: Any) -> None:
    """The seeded slice: no divergence, no unexpected exception, no bad close code, in a room and over a socket."""
    options = room_driver.Options(seconds=SLICE_SECONDS, seed=SLICE_SEED, check_every=1)
    in_room = await room_driver.run(options, log=lambda line: None)
    server = start_server(**socket_driver.SERVER_ENV)
    target = socket_driver.Target(
        server.ws_url, server.http_url, document.pk, tokens["alice"], tokens["bob"], tokens["carol"]
    )
    target.alive, target.log_tail = (lambda: server.process.poll() is None), server.log
    target.log_path = server.log_path
    over_socket = await socket_driver.run(target, SLICE_SOCKET_CASES, SLICE_SEED, log=lambda line: None)
    with capsys.disabled():
        print(f"\n{in_room.summary()}\n{over_socket.summary()}")
    found = [str(f.finding) for f in in_room.findings] + [str(finding) for finding in over_socket.findings]
    assert not found, "fuzzing found:\n" + "\n".join(line[:400] for line in found)
