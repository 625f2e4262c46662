"""Adjustments to the WebSocket server transport (daphne on autobahn).

The contract closes bad input with the protocol's own codes (1003, 1007, 1008, 1009). autobahn's ``sendClose``
only lets applications use 1000 and 3000-4999 and raises on anything else, which daphne turns into an aborted
connection. daphne's ``serverClose`` is the one place the ASGI ``websocket.close`` arrives, so it sends the close
frame itself for those codes (the frame and handshake are autobahn's own).
"""

from __future__ import annotations

# Close codes RFC 6455 lets an endpoint send for protocol-level reasons.
PROTOCOL_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})


def allow_protocol_close_codes() -> None:
    """Let daphne close WebSockets with RFC 6455 status codes (idempotent)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
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
