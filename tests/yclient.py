"""A real y-websocket client for tests: a pycrdt Doc and Awareness synced over the ``websockets`` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import websockets
from pycrdt import Awareness, Doc, XmlElement, XmlFragment, XmlText

from documents.engine.protocol import (
    AwarenessMessage,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)


class YClient:
    """A y-websocket client: answers SyncStep1, applies SyncStep2/updates, sends local edits and presence.

    Attributes:
        doc: the client's document replica.
        awareness: presence states as the server relays them.
        awareness_payloads: every awareness payload received, decoded leniently, in order.
        synced: set once the server's SyncStep2 arrived.
        received: counts of message kinds received (for assertions on what the server sent).
        close_code: the close code the server sent, once the connection closed.
    """

    def __init__(self, url: str, token: str | None = None, origin: str | None = None) -> None:
        self.url = url
        self.token = token
        self.origin = origin
        self.doc = Doc()
        self.awareness = Awareness(self.doc)
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.received: dict[str, int] = {}
        self.awareness_payloads: list[str] = []
        self.close_code: int | None = None
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._remote = False
        self.doc.observe(self._on_local_update)

    async def connect(self) -> YClient:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        self.ws = await websockets.connect(
            self.url, additional_headers=headers, origin=self.origin, max_size=None, open_timeout=10
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.ws.send(encode_sync_step1(self.doc.get_state()))
        return self

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self._handle(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    def _handle(self, message: bytes) -> None:
        decoded = decode_message(message)
        kind = type(decoded).__name__
        self.received[kind] = self.received.get(kind, 0) + 1
        if isinstance(decoded, SyncStep1):
            self._send_soon(encode_sync_step2(self.doc.get_update(decoded.state_vector)))
        elif isinstance(decoded, SyncStep2 | SyncUpdate):
            self._remote = True
            try:
                self.doc.apply_update(decoded.update)
            finally:
                self._remote = False
            if isinstance(decoded, SyncStep2):
                self.synced.set()
        elif isinstance(decoded, AwarenessMessage):
            self.awareness_payloads.append(decoded.payload.decode("utf-8", "replace"))
            self.awareness.apply_awareness_update(decoded.payload, origin="remote")

    def _on_local_update(self, event: Any) -> None:
        if not self._remote and self.ws is not None:
            self._send_soon(encode_update(event.update))

    def _send_soon(self, message: bytes) -> None:
        asyncio.get_running_loop().create_task(self._send(message))

    async def _send(self, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(message)

    async def send_raw(self, message: bytes | str) -> None:
        """Send any frame, well-formed or not."""
        await self.ws.send(message)

    async def set_presence(self, state: dict[str, Any]) -> None:
        """Publish this client's awareness state."""
        self.awareness.set_local_state(state)
        payload = self.awareness.encode_awareness_update([self.doc.client_id])
        await self.ws.send(encode_awareness(payload))

    # -- document helpers (a ProseMirror-shaped fragment, as Tiptap writes it) ---------------------------------
    @property
    def fragment(self) -> XmlFragment:
        return self.doc.get("default", type=XmlFragment)

    def add_paragraph(self, text: str) -> None:
        """Append a paragraph holding ``text``."""
        self.fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))

    def paragraph_texts(self) -> list[str]:
        return [str(child.children[0]) if len(child.children) else "" for child in self.fragment.children]

    def insert_text(self, paragraph: int, index: int, text: str) -> None:
        """Insert ``text`` at ``index`` of a paragraph's text."""
        self.fragment.children[paragraph].children[0].insert(index, text)

    async def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        """Wait until ``predicate()`` is true (checked whenever the client receives something)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)

    def presence_names(self) -> set[str]:
        return {state["user"]["name"] for state in self.awareness.states.values() if state and "user" in state}

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def open_client(base_ws_url: str, document_id: Any, token: str, **kwargs: Any) -> YClient:
    """Connect and wait until synced."""
    client = await YClient(f"{base_ws_url}/{document_id}", token=token, **kwargs).connect()
    await asyncio.wait_for(client.synced.wait(), 10)
    return client


def awareness_json(client: YClient) -> str:
    return json.dumps(client.awareness.states, sort_keys=True)
