"""The invariant the fuzzer checks on a live room, and the process-level limits it watches.

For one document: the room's Doc = its stored rows applied to an empty Doc = what a fresh joiner receives = what
every honest connected client holds. Two Docs agree when their state vectors, their XML (``str`` of the fragment
"default") and their delete sets are equal, and neither has items the other lacks. Budgets from the configuration
(nesting depth, pending bytes) are part of it: an update past them must be refused, not integrated.

Why so many views: each one is produced by a different path through the room (the observer's update for the store
and the broadcast, ``get_update`` for a joiner, history pieces for a large joiner, raw relays for pending updates),
and every bug class found so far shows up as two of these paths disagreeing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Subscription, XmlElement, XmlFragment, XmlText

from documents.conf import get_config
from documents.engine.protocol import encode_sync_step1, read_state_vector
from documents.exceptions import CollabError

from . import ycodec

# Close codes a connection may get for bad input; 1011 (internal error) never.
ALLOWED_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1013})
# yrs renders XML recursively on the native stack: past ~20,000 levels ``str()`` kills the process.
SAFE_XML_DEPTH = 2_000
_PAGE = os.sysconf("SC_PAGE_SIZE")

try:  # the server's strict decoder reads the delete sets when the tree has it (it does since the update rewrite)
    from documents.engine.update_reader import read_update as _strict_read_update
except ImportError:  # pragma: no cover - depends on the tree
    _strict_read_update = None


@dataclass(frozen=True)
class Finding:
    """One oracle failure: which oracle, what kind of failure (together, the signature findings are grouped by:
    a run saves one reproducer per signature) and what it saw."""

    oracle: str
    detail: str
    kind: str = ""

    @property
    def signature(self) -> str:
        return f"{self.oracle} ({self.kind})" if self.kind else self.oracle

    def __str__(self) -> str:
        return f"{self.signature}: {self.detail}"


def fatal(exc: BaseException) -> bool:
    """Exceptions the fuzzer must not swallow (everything else out of the code under test is a finding)."""
    return isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError)


# Findings after which the document is still as it should be (the room's state needs no distrust).
_DOCUMENT_INTACT = {"awareness-not-json", "client-cannot-apply-awareness", "close-code", "struct-budget"}


def leaves_document_intact(finding: Finding) -> bool:
    """Whether a finding says nothing about the document (a JSON parse error out of the awareness path neither)."""
    if finding.oracle == "unexpected-exception":
        return "JSON" in finding.detail
    return finding.oracle in _DOCUMENT_INTACT


def rss_bytes() -> int:
    """This process's resident set size now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def room_doc(room: Any) -> Doc:
    """The room's pycrdt Doc (``room.doc``, or the Doc inside it if the room wraps one)."""
    doc = room.doc
    return doc if isinstance(doc, Doc) else doc.doc


_SHARED = (XmlFragment, XmlElement, XmlText)


def _opaque(value: Any) -> str:
    """A value pycrdt hands out unwrapped (a type nested in an attribute comes back as a bare Rust object)."""
    return f"<{type(value).__name__}>"


def _expand(node: Any) -> list[Any]:
    """A node's canonical rendering as tokens: strings, and shared types nested in it (children, attribute values,
    embeds) to expand in turn. Attributes are sorted: ``str()`` lists them in hash-map order."""
    if isinstance(node, XmlText):
        tokens: list[Any] = []
        for chunk, attrs in node.diff():
            if isinstance(chunk, _SHARED):
                tokens += ["{embed ", chunk, "}"]
            else:
                tokens.append(json.dumps([chunk, attrs or {}], sort_keys=True, default=_opaque))
        return tokens
    tokens = []
    if isinstance(node, XmlElement):
        tokens.append(f"<{node.tag}")
        for key, value in sorted(node.attributes, key=lambda item: item[0]):
            tokens += (
                [f" {key}=", value] if isinstance(value, _SHARED) else [f" {key}={json.dumps(value, default=_opaque)}"]
            )
        tokens.append(">")
    tokens += list(node.children)
    if isinstance(node, XmlElement):
        tokens.append(f"</{node.tag}>")
    return tokens


def nesting_depth(doc: Doc) -> int:
    """How deep shared types nest in the fragment "default" (a top-level block is 1, its text 2), without recursion.

    Children and attribute values are walked; types embedded in text are not (yrs renders those too, but reading
    every text's chunks would double the cost of a check, and no mutation creates embeds).
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc.get("default", type=XmlFragment), 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, XmlText):
            continue
        nested = list(node.children)
        if isinstance(node, XmlElement):
            nested += [value for _, value in node.attributes if isinstance(value, _SHARED)]
        stack.extend((child, depth + 1) for child in nested)
    return deepest


def canonical_xml(doc: Doc) -> str:
    """The fragment "default" rendered with sorted attributes, without recursion.

    ``str()`` is 40 times faster, so it is compared first; but it lists attributes in hash-map order, which differs
    between two Docs with the same content, so this rendering decides when the strings differ.
    """
    out: list[str] = []
    stack: list[Any] = [doc.get("default", type=XmlFragment)]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        else:
            stack.extend(reversed(_expand(node)))
    return "".join(out)


def delete_set(doc: Doc) -> dict[int, list[tuple[int, int]]]:
    """The Doc's delete set, canonical: {client: [(start, end)]} sorted, touching ranges merged.

    ``get_update`` against the Doc's own state vector carries no items, only the whole delete set.
    """
    update = doc.get_update(doc.get_state())
    if _strict_read_update is None:
        return ycodec.delete_set(update)
    try:
        deletions = _strict_read_update(update).deletions
    except CollabError:  # stricter than yrs's own encoding (say, a clock past 2**53 yrs accepted): read it leniently
        return ycodec.delete_set(update)
    spans: dict[int, list[tuple[int, int]]] = {}
    for client, clock, length in deletions:
        spans.setdefault(client, []).append((clock, clock + length))
    return {client: ycodec.merge_spans(ranges) for client, ranges in spans.items()}


_TAG = re.compile(r'<([^\s<>/]+)((?: [^\s="<>]+="[^"<>]*")+)>')
_ATTRIBUTE = re.compile(r' [^\s="<>]+="[^"<>]*"')


def _sort_attributes(xml: str) -> str:
    """``str()`` of a fragment with each tag's attributes sorted (values holding quotes or brackets stay put)."""
    return _TAG.sub(lambda m: f"<{m.group(1)}{''.join(sorted(_ATTRIBUTE.findall(m.group(2))))}>", xml)


@dataclass
class Snapshot:
    state: dict[int, int]
    xml: str | None  # ``str()`` with attributes sorted, or None when the Doc nests too deep to render
    deletes: dict[int, list[tuple[int, int]]]
    doc: Doc
    _canonical: str | None = None

    def canonical(self) -> str:
        if self._canonical is None:
            self._canonical = canonical_xml(self.doc)
        return self._canonical


def snapshot(doc: Doc, with_xml: bool) -> Snapshot:
    xml = _sort_attributes(str(doc.get("default", type=XmlFragment))) if with_xml else None
    # A client at clock 0 (yrs lists one whose first update is still pending) is the same as no entry.
    state = {client: clock for client, clock in read_state_vector(doc.get_state()).items() if clock}
    return Snapshot(state, xml, delete_set(doc), doc)


def _first_difference(ours: str, theirs: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    start = max(0, at - 60)
    return f"at {at}: room ...{ours[start : at + 80]!r} vs ...{theirs[start : at + 80]!r}"


def _has_items(update: bytes) -> bool:
    return update[:1] != b"\x00"


def compare(name: str, reference: Doc, expected: Snapshot, other: Doc, with_xml: bool) -> Finding | None:
    """A finding when ``other`` (called ``name``) does not hold exactly the room's state."""
    try:
        seen = snapshot(other, with_xml)
    except BaseException as exc:  # a Rust panic too: any failure to read the Doc is the finding
        if fatal(exc):
            raise
        return Finding(f"room-vs-{name}", f"cannot read its Doc: {type(exc).__name__}: {exc}", "unreadable")
    if seen.state != expected.state:
        missing = {c: k for c, k in expected.state.items() if seen.state.get(c) != k}
        extra = {c: k for c, k in seen.state.items() if c not in expected.state}
        detail = f"state vectors differ: room has {missing}, {name} has extra {extra}"
        return Finding(f"room-vs-{name}", detail, "state vector")
    if seen.xml != expected.xml and expected.canonical() != seen.canonical():
        detail = f"content differs: {_first_difference(expected.canonical(), seen.canonical())}"
        return Finding(f"room-vs-{name}", detail, "content")
    if seen.deletes != expected.deletes:
        detail = f"delete sets differ: room {expected.deletes} vs {seen.deletes}"
        return Finding(f"room-vs-{name}", detail, "delete set")
    if _has_items(other.get_update(reference.get_state())) or _has_items(reference.get_update(other.get_state())):
        return Finding(f"room-vs-{name}", "equal state vectors, yet one has items the other lacks", "items")
    return None


async def fresh_joiner(room: Any) -> Any:
    """Join as a new y-websocket client: send SyncStep1, answer the room's SyncStep1, apply what arrives, leave."""
    from .clients import Peer

    joiner = Peer("joiner", client_id=424242, user_id=4242)
    await room.join(joiner)
    await room.receive(joiner, encode_sync_step1(joiner.doc.get_state()))
    for message in joiner.take_outbox():
        await room.receive(joiner, message)
    await room.leave(joiner)
    joiner.release()
    return joiner


def budgets() -> tuple[int, int]:
    """(MAX_NESTING_DEPTH, MAX_PENDING_BYTES) in force, with the defaults of documents.conf."""
    config = get_config()
    return getattr(config, "MAX_NESTING_DEPTH", 256), getattr(config, "MAX_PENDING_BYTES", 1024 * 1024)


def stored_doc(rows: Any) -> tuple[Doc, list[bytes], Any]:
    """The Doc the stored rows make when applied to an empty one, as the server loads them; the rows; a release.

    ``read_sync`` returns ``StoredRows`` (segments, then log) since the store rewrite: they load through
    ``documents.engine.live_doc.load_doc``, whose LiveDoc observes its Doc, which pycrdt then never frees; the release
    (call it when done with the Doc) drops that observer. Before the rewrite it returned a list for ``build_doc``.
    """
    if isinstance(rows, list):
        from documents.engine.store import build_doc  # type: ignore[attr-defined]

        return build_doc(rows), rows, lambda: None
    from documents.engine.live_doc import load_doc

    live = load_doc(rows.segments, rows.log)
    return live.doc, [*rows.segments, *rows.log], lambda: unobserve_all(live, live.doc)


def unobserve_all(holder: Any, doc: Doc) -> None:
    """Drop every subscription ``holder`` keeps on ``doc`` (found by type: the attribute names are not ours)."""
    for value in list(vars(holder).values()):
        if isinstance(value, Subscription):
            doc.unobserve(value)


def pending_bytes(stored: Doc, rows: list[bytes]) -> int:
    """Bytes of stored updates the Doc holds only as pending (waiting for a dependency that may never come)."""
    from pycrdt import get_update, merge_updates

    if not rows:
        return 0
    leftover = get_update(merge_updates(*rows), stored.get_state())
    return len(leftover) if _has_items(leftover) else 0
