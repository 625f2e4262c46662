"""Honest traffic: the recorded Yjs session (``session.hex``) and random Tiptap-shaped edits made with pycrdt.

The recording gives the fuzzer seeds exactly as browsers encode them (regenerate it with
``node tests/fuzz/record_session.mjs > tests/fuzz/session.hex``); the random editor keeps honest clients editing
after the recording runs out, so attacks land on a document that keeps changing under them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path

from pycrdt import XmlElement, XmlFragment, XmlText

from documents.engine.protocol import SyncStep2, SyncUpdate, decode_message

from . import ycodec

SESSION_PATH = Path(__file__).with_name("session.hex")
WORDS = ("plan", "ship", "review", "Friday", "notes", "café", "straße", "中文", "done", "x", "a longer sentence")
MARKS = (
    {"bold": {}},
    {"italic": {}},
    {"link": {"href": "https://example.com", "target": "_blank", "rel": "noopener noreferrer nofollow"}},
    {"bold": None},
    {"italic": None},
)
# The editor walks at most this much of the tree: an attacker may have planted a 30,000-deep chain.
_WALK_NODES = 300
_WALK_DEPTH = 40


@dataclass(frozen=True)
class Recorded:
    """One message of the recording: which client sent it, the bytes, and its update if it carries one."""

    client: str
    message: bytes
    update: bytes | None


def load_recording(path: Path = SESSION_PATH) -> list[Recorded]:
    """The recorded session: lines "<client> <hex>", '#' lines are comments."""
    recorded = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        client, hex_message = line.split()
        message = bytes.fromhex(hex_message)
        decoded = decode_message(message)
        update = decoded.update if isinstance(decoded, SyncUpdate | SyncStep2) else None
        recorded.append(Recorded(client, message, update))
    return recorded


@functools.cache
def recorded_client_ids(path: Path = SESSION_PATH) -> dict[str, tuple[int, ...]]:
    """The Yjs client ids each recorded client's updates write, by client name."""
    ids: dict[str, set[int]] = {}
    for recorded in load_recording(path):
        if recorded.update is not None:
            ids.setdefault(recorded.client, set()).update(
                block.client for block in ycodec.parse(recorded.update).blocks
            )
    return {name: tuple(sorted(clients)) for name, clients in ids.items()}


def _walk(fragment: XmlFragment) -> tuple[list[XmlText], list[tuple[XmlFragment | XmlElement, int]]]:
    """XmlTexts and (container, depth) pairs near the top of the tree, breadth first, bounded."""
    texts: list[XmlText] = []
    containers: list[tuple[XmlFragment | XmlElement, int]] = [(fragment, 0)]
    queue: list[tuple[XmlFragment | XmlElement, int]] = [(fragment, 0)]
    seen = 0
    while queue and seen < _WALK_NODES:
        node, depth = queue.pop(0)
        for child in node.children:
            seen += 1
            if isinstance(child, XmlText):
                texts.append(child)
            elif isinstance(child, XmlElement) and depth < _WALK_DEPTH:
                containers.append((child, depth + 1))
                queue.append((child, depth + 1))
            if seen >= _WALK_NODES:
                break
    return texts, containers


def _block(rng: random.Random) -> XmlElement:
    text = XmlText(rng.choice(WORDS))
    kind = rng.randrange(4)
    if kind == 0:
        return XmlElement("heading", {"level": rng.randint(1, 3)}, [text])
    if kind == 1:
        return XmlElement("bulletList", {}, [XmlElement("listItem", {}, [XmlElement("paragraph", {}, [text])])])
    if kind == 2:
        return XmlElement("paragraph", {}, [XmlText("before"), XmlElement("hardBreak"), text])
    return XmlElement("paragraph", {}, [text])


def _boundaries(text: XmlText) -> list[int]:
    """Offsets between characters: pycrdt indexes XmlText in UTF-8 bytes, and an offset inside a character panics."""
    plain = "".join(chunk for chunk, _ in text.diff() if isinstance(chunk, str))
    offsets = [0]
    for char in plain:
        offsets.append(offsets[-1] + len(char.encode()))
    return offsets


def random_edit(fragment: XmlFragment, rng: random.Random) -> str:
    """Make one edit as a Tiptap user would; returns its name. Skips an edit the document's shape does not allow."""
    texts, containers = _walk(fragment)
    choice = rng.random()
    text, offsets = None, [0]
    if texts:
        text = rng.choice(texts)
        offsets = _boundaries(text)
    if text is not None and choice < 0.4:
        attrs = rng.choice(MARKS[:3]) if rng.random() < 0.3 else None
        text.insert(rng.choice(offsets), rng.choice(WORDS), attrs)
        return "type"
    if text is not None and len(offsets) > 2 and choice < 0.7:
        start, stop = sorted(rng.sample(offsets, 2))
        if choice < 0.55:
            text.format(start, stop, rng.choice(MARKS))
            return "format"
        del text[start:stop]
        return "delete text"
    if choice < 0.85 or len(fragment.children) < 2:
        container = fragment if rng.random() < 0.7 else rng.choice(containers)[0]
        container.children.insert(rng.randint(0, len(container.children)), _block(rng))
        return "insert block"
    if choice < 0.92:
        for container, _ in containers[1:]:
            if container.tag == "heading":
                container.attributes["level"] = rng.randint(1, 6)
                return "set attribute"
    del fragment.children[rng.randrange(len(fragment.children))]
    return "delete block"
