"""Adjustments to the WebSocket server transport (daphne on autobahn).

The contract closes bad input with the protocol's own codes (1003, 1007, 1008, 1009). autobahn's ``sendClose``
only lets applications use 1000 and 3000-4999 and raises on anything else, which daphne turns into an aborted
connection. daphne's ``serverClose`` is the one place the ASGI ``websocket.close`` arrives, so it sends the close
frame itself for those codes (the frame and handshake are autobahn's own).

autobahn also fails a connection "by drop" by default: a message over daphne's size limit would reset the TCP
connection (the client sees 1006) instead of closing it with 1009. Protocols are told to close cleanly instead.

A closed connection's objects are left in two reference cycles, so only the cyclic collector frees them, and this
process runs it rarely (collab/asgi.py): autobahn resolves a protocol's ``is_closed`` Deferred with the protocol
itself, and the HTTP request that was upgraded stays in its channel's request list while pointing at the channel.
Under a stream of short connections (a client reconnecting, a refused handshake) that was tens of thousands of
objects waiting for a collection, the protocol with its buffers among them, and resident memory crept up with them.
Both cycles are cut once they are no longer used, so reference counting frees a connection when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import struct
from collections.abc import Callable
from typing import Any

# Close codes RFC 6455 (and its IANA registry: 1013 try again later) let an endpoint send for protocol-level reasons.
PROTOCOL_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1013})


def allow_protocol_close_codes() -> None:
    """Let daphne close WebSockets with RFC 6455 status codes (idempotent)."""
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:  # not running under daphne
        return

    def server_close(original: Callable[..., None]) -> Callable[..., None]:
        def wrapper(self: WebSocketProtocol, code: int | None = None) -> None:
            if code in PROTOCOL_CLOSE_CODES:
                self.sendCloseFrame(code=code, isReply=False)
            else:
                original(self, code)

        return wrapper

    # Each protocol copies its options from the factory when the connection is made.
    def factory_init(original: Callable[..., None]) -> Callable[..., None]:
        def wrapper(self: WebSocketFactory, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)
            self.failByDrop = False

        return wrapper

    _wrap_once(WebSocketProtocol, "serverClose", server_close)
    _wrap_once(WebSocketFactory, "__init__", factory_init)


def release_closed_connections() -> None:
    """Cut the reference cycles a daphne connection leaves behind (idempotent; see the module's docstring)."""
    try:
        from daphne.http_protocol import WebRequest
        from daphne.ws_protocol import WebSocketProtocol
        from twisted.internet.defer import succeed
    except ImportError:  # not running under daphne
        return

    def connection_lost(original: Callable[..., None]) -> Callable[..., None]:
        def wrapper(self: WebSocketProtocol, *args: Any, **kwargs: Any) -> None:
            try:
                original(self, *args, **kwargs)
            finally:
                # Already resolved (with the protocol): whoever waited on it has been called.
                self.is_closed = succeed(None)

        return wrapper

    def process(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: WebRequest) -> Any:
            result = original(self)  # the upgrade runs to its end before the first ``yield``
            channel = self.channel
            if self.transport is None and channel is not None and self in getattr(channel, "requests", ()):
                # Upgraded: the socket belongs to the WebSocket protocol now and this request never finishes. The
                # channel is still reading the handshake below this call, so the request leaves its list afterwards.
                asyncio.get_running_loop().call_soon(_forget_request, channel, self)
            return result

        return wrapper

    _wrap_once(WebSocketProtocol, "connectionLost", connection_lost)
    _wrap_once(WebRequest, "process", process)


def _wrap_once(owner: type, name: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` with ``make_wrapper(original)``, unless an earlier call already did."""
    original = getattr(owner, name)
    if getattr(original, "_collab_patched", False):
        return
    wrapper = make_wrapper(original)
    wrapper._collab_patched = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def _forget_request(channel: Any, request: Any) -> None:
    with contextlib.suppress(ValueError):
        channel.requests.remove(request)


class RawSendMiddleware:
    """Keeps the server's own ``send`` in the scope, before channels' session middleware wraps it.

    channels' ``SessionMiddleware`` inspects the session on every outgoing message (to save it after an HTTP
    response); a WebSocket never saves its session after the accept, so the per-frame path uses the raw ``send``.

    The key is added to the scope in place. ASGI asks middleware to copy a scope it changes, so that the layers
    outside never see the change; the layers outside are the server and the routers, which read nothing back, and
    a copy would live as long as the connection (this coroutine waits on the inner application throughout): with
    thousands of idle sockets, each copy is half a kilobyte per connection.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        scope[RAW_SEND] = send
        return await self.application(scope, receive, send)


RAW_SEND = "collab.raw_send"
_last_payload: bytes | None = None
_last_frame = b""


def binary_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented binary WebSocket frame (RFC 6455 5.2) carrying ``payload``.

    A broadcast sends the same payload to many connections in a row, so the last frame built is reused.
    """
    global _last_payload, _last_frame
    if payload is _last_payload:
        return _last_frame
    length = len(payload)
    if length < 126:
        header = bytes((0x82, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x82, 126, length)
    else:
        header = struct.pack("!BBQ", 0x82, 127, length)
    _last_payload, _last_frame = payload, header + payload
    return _last_frame


def frame_writer(send: Any) -> Callable[[bytes], None] | None:
    """A function writing binary messages straight to the socket behind a daphne ``send``, or None elsewhere.

    daphne's ``send`` is ``partial(Server.handle_reply, protocol)``; going through it costs a coroutine, two
    dispatches and autobahn's per-frame bookkeeping for every message of every recipient, which is most of the
    fan-out's CPU. Server frames are unmasked, so one encoded frame serves every recipient. Connections that
    negotiated compression keep the regular path.
    """
    protocol = _daphne_protocol(send)
    if protocol is None or getattr(protocol, "_perMessageCompress", None) is not None:
        return None

    def write(message: bytes) -> None:
        queued = _queued.get(protocol)
        if queued is None:
            _queued[protocol] = [binary_frame(message)]
            if len(_queued) == 1:
                asyncio.get_running_loop().call_soon(_flush_queued)
        else:
            queued.append(binary_frame(message))

    return write


def backlog_reader(send: Any) -> Callable[[], int] | None:
    """A function telling how many bytes wait to be sent on the socket behind a daphne ``send``, or None elsewhere.

    That is what this module queued for the end of the loop pass plus what Twisted holds in the transport's
    buffers (the kernel's own socket buffer is not counted: it is bounded by the kernel).
    """
    protocol = _daphne_protocol(send)
    if protocol is None:
        return None

    def backlog() -> int:
        transport = protocol.transport
        queued = sum(map(len, _queued.get(protocol, ())))
        if transport is None:
            return queued
        buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
        return queued + buffered + getattr(transport, "_tempDataLen", 0)

    return backlog


# Frames waiting for the end of this event-loop pass, per connection (daphne's protocol object). Everything one
# pass produces for a connection leaves in one write: under load that is one system call for many updates.
_queued: dict[Any, list[bytes]] = {}


def _flush_queued() -> None:
    batch = dict(_queued)
    _queued.clear()
    for protocol, frames in batch.items():
        transport = protocol.transport
        if protocol.state == protocol.STATE_OPEN and transport is not None:
            write_eagerly(transport, frames[0] if len(frames) == 1 else b"".join(frames))


def write_eagerly(transport: Any, data: bytes) -> None:
    """Send ``data`` on the socket now when nothing is queued before it; queue only what the kernel did not take.

    Twisted's ``write`` always queues and registers the socket for writability, then sends on the next loop pass
    and unregisters: three selector calls per frame, which dominated the fan-out's CPU.
    """
    sock = getattr(transport, "socket", None)
    idle = (
        sock is not None
        and transport.connected
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
        and not getattr(transport, "TLS", False)
    )
    if not idle or sock is None:  # ``idle`` implies a socket; the second test only narrows the type
        transport.write(data)
        return
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        transport.write(data)  # Twisted reports the error and closes the connection its own way
        return
    if sent < len(data):
        transport.write(data[sent:])


def _daphne_protocol(send: Any) -> Any:
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    if not isinstance(send, functools.partial) or getattr(send.func, "__func__", None) is not Server.handle_reply:
        return None
    protocol = send.args[0] if send.args else None
    return protocol if isinstance(protocol, WebSocketProtocol) else None
