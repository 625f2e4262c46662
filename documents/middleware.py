"""WebSocket ASGI middleware: Origin checking and token authentication (the session is channels' own)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

from .exceptions import DATABASE_ERRORS

logger = logging.getLogger("documents.ws")
# Scope key set when the database could not be asked who the caller is.
DATABASE_UNAVAILABLE = "collab.database_unavailable"


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


class WebSocketAuthMiddleware:
    """Set ``scope["user"]`` from an API token (``?token=`` or ``Authorization: Token``) or else the session.

    Both are resolved in one trip to the database thread (channels' ``AuthMiddleware`` would take one for the
    session even when a token is given). Needs channels' ``SessionMiddlewareStack`` further out.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        try:
            user = await _resolve_user(_token_from_scope(scope), scope.get("session"))
        except DATABASE_ERRORS as exc:
            # The consumer closes with 1013 (try again later) rather than the handshake failing with a 500.
            return await self.application(
                dict(scope, user=AnonymousUser(), **{DATABASE_UNAVAILABLE: exc}), receive, send
            )
        return await self.application(dict(scope, user=user), receive, send)


@database_sync_to_async
def _resolve_user(key: str | None, session: Any) -> Any:
    if key is not None:
        user = _user_for_token(key)
        if user is None:
            logger.warning("ws: invalid token")
        return user or AnonymousUser()
    if session is None:
        return AnonymousUser()
    return auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]


def _user_for_token(key: str) -> Any:
    if len(key) > 100:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else None
