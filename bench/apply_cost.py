"""What the safe apply costs per update: the room's whole receive path beside yrs' bare ``apply_update``.

Both sides replay the same recorded typing session (one keystroke per update, new paragraphs now and then, some
deletions) into a fresh document in this process. "bare" is what the receive path did before updates were
checked: ``Doc.apply_update`` with an observer. "room" is ``Room.change`` without sockets: the strict structure
decoder, the nesting budget, the client-id check, the readiness check, the neighbour checks before and after the
apply, the state-vector check, the store's buffer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText


def typing_session(count: int) -> list[bytes]:
    """Updates of one person typing ``count`` characters into a Tiptap-shaped document."""
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    fragment = doc.get("default", type=XmlFragment)
    text: XmlText | None = None
    for index in range(count):
        if text is None or index % 60 == 0:
            paragraph = fragment.children.append(XmlElement("paragraph", {}, [XmlText("")]))
            text = paragraph.children[0]
        if index % 17 == 16 and len(text) > 2:
            del text[len(text) - 1 : len(text)]
        else:
            text.insert(len(text), "abcdefghij"[index % 10])
    return updates


def bare(updates: list[bytes]) -> float:
    doc: Doc[Any] = Doc()
    doc.observe(lambda event: None)
    started = time.perf_counter()
    for update in updates:
        doc.apply_update(update)
    return time.perf_counter() - started


def room(updates: list[bytes]) -> float:
    from documents.engine.rooms import Room
    from documents.engine.storage import MemoryStorage
    from documents.engine.store import DocumentStore

    async def run() -> float:
        store = DocumentStore(MemoryStorage())
        target = Room(uuid.uuid4(), store, peers=None)
        # A client's edit: the checked path (server edits skip the client budgets and the client-id check).
        sender: Any = SimpleNamespace(user_id=1)
        started = time.perf_counter()
        for update in updates:
            await target.change(update, origin=sender)
        elapsed = time.perf_counter() - started
        if store._flusher is not None:
            store._flusher.cancel()
        return elapsed

    return asyncio.run(run())


def measure(count: int = 5000, repeats: int = 3) -> dict[str, Any]:
    """Microseconds per update of each path (best of ``repeats``), and their ratio."""
    updates = typing_session(count)
    bare_s = min(bare(updates) for _ in range(repeats))
    room_s = min(room(updates) for _ in range(repeats))
    return {
        "updates": len(updates),
        "bareUs": bare_s / len(updates) * 1e6,
        "roomUs": room_s / len(updates) * 1e6,
        "ratio": room_s / bare_s,
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    django.setup()
    print(measure())
