"""Errors of the documents app and the one place that maps them to HTTP statuses and WebSocket close codes."""

from __future__ import annotations

from enum import IntEnum

from django.db import InterfaceError, OperationalError


class CloseCode(IntEnum):
    """Every WebSocket close code the server sends on purpose (docs/protocol.md lists them for clients).

    The 1xxx codes are RFC 6455's (1013 from its IANA registry); the 4xxx ones are ours, and 4400-4499 are the ones
    y-websocket clients treat as final (they stop reconnecting). The editor's labels are generated from this enum
    (``manage.py frontend_facts``, checked by tests/test_one_home.py).
    """

    UNSUPPORTED_DATA = 1003  # a text frame: y-websocket speaks binary only
    INVALID_PAYLOAD = 1007  # a malformed message or a corrupt or inconsistent update
    POLICY_VIOLATION = 1008  # over a rate limit or a structural budget
    MESSAGE_TOO_BIG = 1009  # over the message size limit, or the document at its size cap
    INTERNAL_ERROR = 1011  # a server fault (logged with its traceback)
    TRY_AGAIN_LATER = 1013  # the database or the store cannot take edits now, or the reader fell too far behind
    CLOSED_BY_OPERATOR = 4000  # an operator closed every connection of the document; clients reconnect
    CREDENTIALS_INVALID = 4401  # signed out, token deleted, password changed, account deactivated: final
    ACCESS_REVOKED = 4403  # the user's access to the document is gone: final
    DOCUMENT_GONE = 4404  # the document was deleted (or never existed for this user): final


# Closes that count against a user's bad-input budget (documents/engine/limits.py).
BAD_INPUT_CODES = frozenset(
    {CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG}
)

# What the database raises while it is locked, down, restarting or failing over: the store retries, web requests
# answer 503 with Retry-After, sockets close with 1013.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


class CollabError(Exception):
    """Base class of every error the documents app raises on purpose."""

    http_status = 400
    close_code: CloseCode = CloseCode.INTERNAL_ERROR


class DocumentNotFound(CollabError):
    """The document does not exist, or the caller may not know that it does."""

    http_status = 404
    close_code: CloseCode = CloseCode.DOCUMENT_GONE


class AccessDenied(CollabError):
    """The caller can see the document but their role is too low for the action."""

    http_status = 403
    close_code: CloseCode = CloseCode.ACCESS_REVOKED


class CredentialsInvalid(CollabError):
    """The credential a connection authenticated with no longer holds: its API token was deleted, its session
    ended, the account was deactivated or deleted, or the password changed."""

    http_status = 401
    close_code: CloseCode = CloseCode.CREDENTIALS_INVALID


class ProtocolError(CollabError):
    """A WebSocket message is malformed, truncated, of an unknown type or carries a corrupt update."""

    close_code: CloseCode = CloseCode.INVALID_PAYLOAD


class UnsupportedFrame(CollabError):
    """A text frame arrived where the y-websocket protocol only uses binary frames."""

    close_code: CloseCode = CloseCode.UNSUPPORTED_DATA


class MessageTooLarge(CollabError):
    """A message is over the configured size limit."""

    close_code: CloseCode = CloseCode.MESSAGE_TOO_BIG


class RateLimited(CollabError):
    """A connection sends updates or awareness faster than its allowance (a policy violation)."""

    close_code: CloseCode = CloseCode.POLICY_VIOLATION


class UpdateTooComplex(CollabError):
    """An update exceeds a structural budget (nesting depth, structs per update, pending updates held)."""

    close_code: CloseCode = CloseCode.POLICY_VIOLATION


class TryAgainLater(CollabError):
    """The server cannot serve this connection now; the client should reconnect later (1013)."""

    http_status = 503
    close_code: CloseCode = CloseCode.TRY_AGAIN_LATER


class StoreUnavailable(TryAgainLater):
    """The store cannot currently keep more edits (the database is down and its buffer is full): try again later."""


class SlowReader(TryAgainLater):
    """A connection's outbound backlog stayed over its limit: it does not read what it is sent."""


class DocumentTooLarge(CollabError):
    """Applying an edit would grow the document past its size cap; the document stays readable."""

    close_code: CloseCode = CloseCode.MESSAGE_TOO_BIG


class InvalidContent(CollabError):
    """Imported content (Markdown or HTML) cannot be used."""

    http_status = 400
