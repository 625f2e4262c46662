"""WebSocket ASGI middleware: Origin checking and token authentication (the session is channels' own)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

logger = logging.getLogger("documents.ws")


class BrowserOriginValidator(OriginValidator):
    """Refuse cross-site WebSocket handshakes: an ``Origin`` header, when present, must match ``ALLOWED_HOSTS``.

    Browsers always send ``Origin``; native clients (pycrdt, Node) usually do not and authenticate with a token, which
    a hostile page cannot read, so a missing header is allowed. A present but unparseable one is refused.
    """

    def __init__(self, application: Any) -> None:
        hosts = list(settings.ALLOWED_HOSTS) or ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        if not origins:
            return await self.application(scope, receive, send)
        try:
            parsed = urlparse(origins[0].decode("latin1"))
            allowed = self.validate_origin(parsed)
        except ValueError:
            allowed = False
        if allowed:
            return await self.application(scope, receive, send)
        logger.warning("ws refused: origin %r not allowed for %s", origins[0][:200], scope.get("path"))
        return await WebsocketDenier()(scope, receive, send)


def _token_from_scope(scope: dict) -> str | None:
    """The API token a WebSocket handshake carries, from ``?token=`` or ``Authorization: Token KEY``."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


class TokenAuthMiddleware:
    """Authenticate a WebSocket by API token; a valid token wins over the session user set further out."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        key = _token_from_scope(scope)
        if key is not None:
            user = await _user_for_token(key)
            if user is None:
                logger.warning("ws refused: invalid token for %s", scope.get("path"))
            scope = dict(scope, user=user or AnonymousUser())
        return await self.application(scope, receive, send)


async def _user_for_token(key: str) -> Any:
    if len(key) > 100:
        return None
    try:
        token = await Token.objects.select_related("user").aget(key=key)
    except Token.DoesNotExist:
        return None
    return token.user if token.user.is_active else None
