"""The fault tests' clients: y-websocket typists that type unique tokens (``c1-000123``) through every fault.

Holds Typist (types, reconnects and re-syncs like y-websocket after any close), Session (one of its connection
attempts) and Typists (several typists on one document, started, synced and closed together).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import websockets
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from documents.engine.protocol import (
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)


@dataclass
class Session:
    """One connection attempt of a typist: when, whether the handshake succeeded, how it ended."""

    started: float
    opened: bool = False
    ended: float | None = None
    close_code: int | None = None
    error: str = ""


class Typist:
    """A y-websocket client that types unique tokens and reconnects and re-syncs like y-websocket after any close.

    On every connection it sends SyncStep1 (its state vector) and answers the server's SyncStep1 with SyncStep2
    (everything it has that the server lacks); local edits are sent as updates while connected and kept in its Doc
    while disconnected (offline edits), to be re-synced on the next connection.

    Attributes:
        name: the token prefix (``c1``).
        doc: the client's replica.
        typed: every token typed.
        sessions: every connection attempt, in order.
        synced: whether the server's SyncStep2 arrived on the current connection.
    """

    def __init__(
        self,
        name: str,
        url: str,
        token: str,
        *,
        rate: float = 20.0,
        paragraph_every: int = 40,
        deadline: float = 300.0,
    ) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.rate = rate
        self.paragraph_every = paragraph_every
        self.deadline = time.monotonic() + deadline
        self.doc: Doc[Any] = Doc()
        self.fragment = self.doc.get("default", type=XmlFragment)
        self.typed: set[str] = set()
        self.sessions: list[Session] = []
        self.synced = False
        self._seq = 0
        self._text: XmlText | None = None
        self._queue: asyncio.Queue[bytes] | None = None
        self._ws: Any = None
        self._remote = False
        self._running = True
        self._typing = False
        self._probes: list[tuple[Doc[Any], asyncio.Future[Doc[Any]]]] = []
        self._first_sync = asyncio.Event()
        self._connection_task: asyncio.Task[None] | None = None
        self._typing_task: asyncio.Task[None] | None = None
        self.doc.observe(self._on_update)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (and keep reconnecting) in the background."""
        self._connection_task = asyncio.get_running_loop().create_task(self._connection_loop())

    async def wait_synced(self, timeout: float = 20) -> None:
        """Wait for the first SyncStep2 of the server."""
        async with asyncio.timeout(timeout):
            await self._first_sync.wait()

    def start_typing(self) -> None:
        self._typing = True
        self._typing_task = asyncio.get_running_loop().create_task(self._typing_loop())

    async def stop_typing(self) -> None:
        self._typing = False
        if self._typing_task is not None:
            await self._typing_task

    async def close(self) -> None:
        """Stop typing and reconnecting, and close the connection (the user closed the tab)."""
        await self.stop_typing()
        self._running = False
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._connection_task is not None:
            try:
                await asyncio.wait_for(self._connection_task, 10)
            except TimeoutError:
                self._connection_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._connection_task

    @property
    def running(self) -> bool:
        """Whether the typist is still around (not closed): it reconnects after every close."""
        return self._running

    @property
    def connected(self) -> bool:
        return self._queue is not None

    # -- typing ----------------------------------------------------------------------------------------------------
    def type_token(self) -> str:
        """Type one token at the end of this client's paragraph (a new paragraph every ``paragraph_every``)."""
        if self._text is None or self._seq % self.paragraph_every == 0:
            paragraph = self.fragment.children.append(XmlElement("paragraph", {}, [XmlText("")]))
            self._text = paragraph.children[0]
        token = f"{self.name}-{self._seq:06d}"
        self._seq += 1
        self._text.insert(len(self._text), token + " ")
        self.typed.add(token)
        return token

    async def _typing_loop(self) -> None:
        started, count = time.monotonic(), 0
        while self._typing and time.monotonic() < self.deadline:
            self.type_token()
            count += 1
            await asyncio.sleep(max(0.0, started + count / self.rate - time.monotonic()))

    # -- the connection ------------------------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        delay = 0.1
        while self._running and time.monotonic() < self.deadline:
            session = Session(time.monotonic())
            self.sessions.append(session)
            try:
                ws = await websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Token {self.token}"},
                    open_timeout=5,
                    close_timeout=2,
                    max_size=None,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                session.ended, session.error = time.monotonic(), f"{type(exc).__name__}: {exc}"[:200]
            else:
                session.opened = True
                await self._serve(ws, session)
                if session.ended is not None and session.ended - session.started > 2:
                    delay = 0.1  # a connection that worked for a while resets the backoff
            if self._running:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _serve(self, ws: Any, session: Session) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._ws, self._queue, self.synced = ws, queue, False
        sender = asyncio.get_running_loop().create_task(self._send_loop(ws, queue))
        queue.put_nowait(encode_sync_step1(self.doc.get_state()))
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self._handle(message, queue)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._ws, self._queue, self.synced = None, None, False
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            for _, future in self._probes:
                if not future.done():
                    future.set_exception(ConnectionError("connection closed before the server answered"))
            self._probes.clear()
            session.ended, session.close_code = time.monotonic(), ws.close_code

    async def _send_loop(self, ws: Any, queue: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.send(await queue.get())

    def _handle(self, message: bytes, queue: asyncio.Queue[bytes]) -> None:
        decoded = decode_message(message)
        if isinstance(decoded, SyncStep1):
            queue.put_nowait(encode_sync_step2(self.doc.get_update(decoded.state_vector)))
        elif isinstance(decoded, SyncStep2 | SyncUpdate):
            self._remote = True
            try:
                self.doc.apply_update(decoded.update)
            finally:
                self._remote = False
            for probe, _ in self._probes:
                probe.apply_update(decoded.update)
            if isinstance(decoded, SyncStep2):
                if self.synced and self._probes:
                    probe, future = self._probes.pop(0)
                    future.set_result(probe)
                self.synced = True
                self._first_sync.set()

    def _on_update(self, event: Any) -> None:
        if not self._remote and self._queue is not None:
            self._queue.put_nowait(encode_update(event.update))

    async def server_state(self, timeout: float = 10) -> Doc[Any]:
        """The server's whole state, asked for on the open connection (SyncStep1 with an empty state vector)."""
        if self._queue is None or not self.synced:
            raise ConnectionError(f"{self.name} is not connected and synced")
        future: asyncio.Future[Doc[Any]] = asyncio.get_running_loop().create_future()
        self._probes.append((Doc(), future))
        self._queue.put_nowait(encode_sync_step1(b"\x00"))
        return await asyncio.wait_for(future, timeout)

    # -- figures -----------------------------------------------------------------------------------------------------
    def close_codes(self, since: float = 0.0, until: float = float("inf")) -> Counter[int | None]:
        return Counter(s.close_code for s in self.sessions if s.opened and s.ended and since <= s.ended < until)

    def summary(self) -> str:
        failed = sum(1 for s in self.sessions if not s.opened and s.ended)
        opened = sum(1 for s in self.sessions if s.opened)
        codes = {int(code) if code is not None else None: n for code, n in self.close_codes().items()}
        errors = Counter(s.error for s in self.sessions if s.error)
        why = f" {dict(errors.most_common(3))}" if errors else ""
        return (
            f"{self.name}: typed {len(self.typed)}, connections {opened}, closes {codes}, "
            f"failed handshakes {failed}{why}"
        )


class Typists:
    """Several typists on one document: started, synced and closed together."""

    def __init__(self, url: str, token: str, names: Iterable[str], **kwargs: Any) -> None:
        self.members = [Typist(name, url, token, **kwargs) for name in names]

    async def __aenter__(self) -> Typists:
        for typist in self.members:
            typist.start()
        try:
            for typist in self.members:
                await typist.wait_synced()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start_typing(self) -> None:
        for typist in self.members:
            typist.start_typing()

    async def stop_typing(self) -> None:
        for typist in self.members:
            await typist.stop_typing()

    async def close(self) -> None:
        for typist in self.members:
            await typist.close()

    def typed(self) -> int:
        return sum(len(t.typed) for t in self.members)

    def saw(self, code: int) -> list[str]:
        return [t.name for t in self.members if t.close_codes()[code]]

    def close_codes(self) -> dict[int | None, int]:
        """Every close code the typists saw, with how often."""
        total: Counter[int | None] = Counter()
        for typist in self.members:
            total.update(typist.close_codes())
        return {int(code) if code is not None else None: n for code, n in total.items()}

    def summary(self) -> str:
        return "; ".join(t.summary() for t in self.members)
