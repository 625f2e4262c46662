"""What authenticated a WebSocket, and whether it still does: the credential half of "authority ends with access".

A connection remembers the credential of its handshake (an API token or a session, put in the scope by the
WebSocket auth middleware). Events name a credential by a digest, never by the token key or session key itself.
``invalid_credentials`` re-checks a batch of connections against the database (documents/engine/revocation.py runs
it periodically).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare

# Scope key: the Credential that authenticated a WebSocket handshake (set by documents.ws.middleware).
CREDENTIAL = "collab.credential"
TOKEN = "token"
SESSION = "session"


@dataclass(frozen=True)
class Credential:
    """What authenticated one connection.

    Attributes:
        kind: ``"token"`` or ``"session"``.
        digest: a digest of the token key or session key; the name events use for it.
        session_key: the session key itself, kept in this process only, to re-read the session.
        checked_at: ``time.monotonic()`` when the handshake looked the credential up.
    """

    kind: str
    digest: str
    session_key: str | None = field(default=None, repr=False)
    checked_at: float = field(default_factory=time.monotonic, compare=False)


def credential_digest(kind: str, secret: str) -> str:
    """The name events use for a token key or session key (the secret never travels the channel layer)."""
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()[:32]


def token_credential(key: str) -> Credential:
    return Credential(TOKEN, credential_digest(TOKEN, key))


def session_credential(session_key: str) -> Credential:
    return Credential(SESSION, credential_digest(SESSION, session_key), session_key)


def handshake_credential(token_key: str | None, session: Any, user: Any, checked_at: float) -> Credential | None:
    """The credential that authenticated ``user`` at a handshake: the token if one was given, else the session."""
    if not getattr(user, "is_authenticated", False):
        return None
    if token_key is not None:
        return Credential(TOKEN, credential_digest(TOKEN, token_key), None, checked_at)
    session_key = getattr(session, "session_key", None) if session is not None else None
    if not session_key:
        return None
    return Credential(SESSION, credential_digest(SESSION, session_key), session_key, checked_at)


def credential_of(connection: Any) -> Credential | None:
    return getattr(connection, "credential", None)


def invalid_credentials(connections: list[Any]) -> set[int]:
    """The indexes of ``connections`` whose credential no longer holds (synchronous: runs in a database thread).

    A connection holds while its account exists, is active and has the password hash it had at the handshake, and
    its token still exists or its session still authenticates that user with that password. Queries: one for the
    accounts, one for the tokens, one per distinct session.
    """
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user_ids = {connection.user_id for connection in connections}
    users = {user.pk: user for user in get_user_model()._default_manager.filter(pk__in=user_ids)}
    token_users = {
        connection.user_id
        for connection in connections
        if (credential := credential_of(connection)) is not None and credential.kind == TOKEN
    }
    tokens: dict[int, set[str]] = {}
    if token_users:
        for user_id, key in Token.objects.filter(user_id__in=token_users).values_list("user_id", "key"):
            tokens.setdefault(user_id, set()).add(credential_digest(TOKEN, key))
    sessions: dict[str, dict[str, Any]] = {}
    invalid = set()
    for index, connection in enumerate(connections):
        user = users.get(connection.user_id)
        credential = credential_of(connection)
        if user is None or not getattr(user, "is_active", True) or not _same_password(connection, user):
            invalid.add(index)
        elif credential is None:
            continue
        elif credential.kind == TOKEN:
            if credential.digest not in tokens.get(user.pk, ()):
                invalid.add(index)
        elif credential.kind == SESSION and credential.session_key:
            if credential.session_key not in sessions:
                sessions[credential.session_key] = _session_data(credential.session_key)
            if not _session_authenticates(sessions[credential.session_key], user):
                invalid.add(index)
    return invalid


def _same_password(connection: Any, user: Any) -> bool:
    """Whether the account's password hash is the one the connection's user had at the handshake."""
    then = getattr(getattr(connection, "user", None), "password", None)
    return then is None or constant_time_compare(then, user.password)


def _session_data(session_key: str) -> dict[str, Any]:
    """A session's data, or {} when it is gone or expired (read only: the session is not saved or flushed)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return dict(store.load())


def _session_authenticates(data: dict[str, Any], user: Any) -> bool:
    """Whether session ``data`` still signs ``user`` in, as ``django.contrib.auth.get_user`` decides it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    if data.get(SESSION_KEY) != user._meta.pk.value_to_string(user):
        return False
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    hashes: Iterable[str] = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, candidate) for candidate in hashes)
