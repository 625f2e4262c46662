"""Adjustments to the WebSocket server transport (daphne on autobahn).

The contract closes bad input with the protocol's own codes (1003, 1007, 1008, 1009). autobahn's ``sendClose``
only lets applications use 1000 and 3000-4999 and raises on anything else, which daphne turns into an aborted
connection. daphne's ``serverClose`` is the one place the ASGI ``websocket.close`` arrives, so it sends the close
frame itself for those codes (the frame and handshake are autobahn's own).

autobahn also fails a connection "by drop" by default: a message over daphne's size limit would reset the TCP
connection (the client sees 1006) instead of closing it with 1009. Protocols are told to close cleanly instead.
"""

from __future__ import annotations

# Close codes RFC 6455 lets an endpoint send for protocol-level reasons.
PROTOCOL_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})


def allow_protocol_close_codes() -> None:
    """Let daphne close WebSockets with RFC 6455 status codes (idempotent)."""
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    if getattr(WebSocketProtocol.serverClose, "_collab_patched", False):
        return
    original = WebSocketProtocol.serverClose

    def server_close(self: WebSocketProtocol, code: int | None = None) -> None:
        if code in PROTOCOL_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    server_close._collab_patched = True  # type: ignore[attr-defined]
    WebSocketProtocol.serverClose = server_close

    # Each protocol copies its options from the factory when the connection is made.
    original_init = WebSocketFactory.__init__

    def factory_init(self: WebSocketFactory, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        self.failByDrop = False

    WebSocketFactory.__init__ = factory_init
