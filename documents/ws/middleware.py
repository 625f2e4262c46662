"""WebSocket ASGI middleware: Origin checking and token authentication (the session is channels' own)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from documents.engine import telemetry
from documents.engine.credentials import CREDENTIAL, handshake_credential
from documents.exceptions import DATABASE_ERRORS

logger = logging.getLogger("documents.ws")
# Scope key set when the database could not be asked who the caller is.
DATABASE_UNAVAILABLE = "collab.database_unavailable"

# A client may pass its API token as the WebSocket subprotocol ``collab.token.<key>`` (``Sec-WebSocket-Protocol``),
# which proxies do not log as they log URLs; the server never selects (echoes) that entry.
TOKEN_SUBPROTOCOL_PREFIX = "collab.token."
# The real subprotocols the server speaks: offered beside a token, the first one offered is selected. Browsers and
# the ``ws`` package fail a handshake that offered protocols when the answer selects none, so they offer one of these.
SUBPROTOCOLS = ("y-websocket",)
# Scope key: the subprotocol the consumer accepts with (None: the answer names none).
ACCEPT_SUBPROTOCOL = "collab.subprotocol"
# Scope key: whether the handshake carried an API token (in any of its places), valid or not.
TOKEN_OFFERED = "collab.token_offered"


def _headers(scope: dict, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", []) if key == name]


def normalize_origin(value: str, *, setting: bool = False) -> str | None:
    """``scheme://host[:port]`` in lower case without the scheme's default port; None unless an http(s) origin.

    A header must be exactly an origin; a setting (``CSRF_TRUSTED_ORIGINS``) may end with ``/``.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or parts.username is not None or parts.password is not None:
        return None
    if parts.query or parts.fragment or parts.path not in (("", "/") if setting else ("",)):
        return None
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


def _allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS`` as Django's ``HttpRequest.get_host`` applies it (under DEBUG an empty list means local)."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _scheme(scope: dict) -> str:
    """``https`` or ``http``: the scheme the page that opened this socket was served with.

    ``wss`` is https; behind a proxy, ``SECURE_PROXY_SSL_HEADER`` (set by ``SECURE_HTTPS=1``) decides, as it does
    for ``request.is_secure()``.
    """
    secure = scope.get("scheme") == "wss"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, secure_value = proxy_header
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        values = _headers(scope, name)
        if values:
            secure = values[0].decode("latin1").split(",", 1)[0].strip() == secure_value
    return "https" if secure else "http"


def served_origin(scope: dict) -> str | None:
    """The origin this handshake reached: its ``Host`` (which must be in ``ALLOWED_HOSTS``) with the scheme."""
    hosts = _headers(scope, b"host")
    if len(hosts) != 1:
        return None
    host = hosts[0].decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return normalize_origin(f"{_scheme(scope)}://{host}")


def origin_allowed(origin: str, scope: dict) -> bool:
    """Whether ``origin`` is the served origin or one of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` too)."""
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    if normalized == served_origin(scope):
        return True
    scheme, _, netloc = normalized.partition("://")
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            # As Django's CSRF check reads them: the scheme, then a domain pattern from the asterisk on.
            trusted_scheme, _, pattern = trusted.partition("://")
            if trusted_scheme.lower() == scheme and is_same_domain(netloc, pattern.lower().removeprefix("*")):
                return True
        elif normalize_origin(trusted, setting=True) == normalized:
            return True
    return False


class BrowserOriginValidator:
    """Refuse cross-site WebSocket handshakes (HTTP 403, one log line).

    An ``Origin`` header, when present, must be an allowed origin as a whole -- scheme, host and port: the origin the
    service is served from (the handshake's ``Host``, in ``ALLOWED_HOSTS``, with its scheme) or an entry of
    ``CSRF_TRUSTED_ORIGINS``; another port or scheme of an allowed host is refused (cross-site WebSocket hijacking).
    Browsers always send ``Origin``. Native clients (pycrdt, Node) usually do not and authenticate with a token, which
    a hostile page cannot read: a missing ``Origin`` is allowed for them, never for a handshake that would be
    authenticated by the session cookie.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        reason = self.refusal(scope)
        if reason is None:
            return await self.application(scope, receive, send)
        logger.warning("ws refused %s: %s", scope.get("path"), reason)
        telemetry.current.auth_refused(telemetry.FORBIDDEN_ORIGIN)
        return await WebsocketDenier()(scope, receive, send)

    @staticmethod
    def refusal(scope: dict) -> str | None:
        """Why the handshake is refused, or None when it may go on."""
        origins = _headers(scope, b"origin")
        if len(origins) > 1:
            return "several Origin headers"
        if origins:
            origin = origins[0].decode("latin1")
            return None if origin_allowed(origin, scope) else f"origin {origin[:200]!r} not allowed"
        if _token_from_scope(scope) is None and _has_session_cookie(scope):
            return "no Origin on a handshake authenticated by the session cookie"
        return None


def _has_session_cookie(scope: dict) -> bool:
    cookies = _headers(scope, b"cookie")
    return any(settings.SESSION_COOKIE_NAME in parse_cookie(value.decode("latin1")) for value in cookies)


def _token_from_scope(scope: dict) -> str | None:
    """The API token a WebSocket handshake carries: ``Authorization: Token KEY``, the subprotocol
    ``collab.token.KEY``, or (kept for compatibility; proxies log URLs) ``?token=KEY``, in that order."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    for protocol in scope.get("subprotocols") or ():
        if protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX) and len(protocol) > len(TOKEN_SUBPROTOCOL_PREFIX):
            return protocol[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


def _without_token_subprotocol(scope: dict) -> dict:
    """Scope entries for the application: the offered subprotocols less any token, and the one to accept with."""
    offered = [p for p in scope.get("subprotocols") or () if not p.startswith(TOKEN_SUBPROTOCOL_PREFIX)]
    chosen = next((protocol for protocol in offered if protocol in SUBPROTOCOLS), None)
    return {"subprotocols": offered, ACCEPT_SUBPROTOCOL: chosen}


class WebSocketAuthMiddleware:
    """Set ``scope["user"]`` from an API token (``Authorization: Token``, the subprotocol ``collab.token.KEY`` or
    ``?token=``) or else the session.

    Both are resolved in one trip to the database thread (channels' ``AuthMiddleware`` would take one for the
    session even when a token is given). Needs channels' ``SessionMiddlewareStack`` further out. The application
    sees the offered subprotocols without the token, and the one to accept with under ``ACCEPT_SUBPROTOCOL``.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        key = _token_from_scope(scope)
        # One copy of the scope, made once the user is known: it lives as long as the connection.
        added = {**_without_token_subprotocol(scope), TOKEN_OFFERED: key is not None}
        checked_at = time.monotonic()
        try:
            user = await _resolve_user(key, scope.get("session"))
        except DATABASE_ERRORS as exc:
            # The consumer closes with 1013 (try again later) rather than the handshake failing with a 500.
            return await self.application(
                dict(scope, **added, user=AnonymousUser(), **{DATABASE_UNAVAILABLE: exc}), receive, send
            )
        # Which credential authenticated the handshake: its revocation ends this connection (engine/revocation.py).
        credential = handshake_credential(key, scope.get("session"), user, checked_at)
        return await self.application(dict(scope, **added, user=user, **{CREDENTIAL: credential}), receive, send)


def record_refusal(scope: dict) -> None:
    """Count a handshake the consumer refuses after authentication, by why (documents/engine/telemetry.py)."""
    if getattr(scope.get("user"), "is_authenticated", False):
        reason = telemetry.NO_ACCESS
    else:
        reason = telemetry.BAD_TOKEN if scope.get(TOKEN_OFFERED) else telemetry.NO_CREDENTIAL
    telemetry.current.auth_refused(reason)


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
    # The user alone, not the token with its user: a token loaded with its user caches each on the other, a
    # cycle that only the cyclic collector frees, and the user lives as long as the connection's scope.
    return auth.get_user_model().objects.filter(auth_token__key=key, is_active=True).first()
