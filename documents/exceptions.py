"""Errors of the documents app and the one place that maps them to HTTP statuses and WebSocket close codes."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# What the database raises while it is locked, down, restarting or failing over: the store retries, web requests
# answer 503 with Retry-After, sockets close with 1013.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


class CollabError(Exception):
    """Base class of every error the documents app raises on purpose."""

    http_status = 400
    close_code = 1011


class DocumentNotFound(CollabError):
    """The document does not exist, or the caller may not know that it does."""

    http_status = 404
    close_code = 4404


class AccessDenied(CollabError):
    """The caller can see the document but their role is too low for the action."""

    http_status = 403
    close_code = 4403


class CredentialsInvalid(CollabError):
    """The credential a connection authenticated with no longer holds: its API token was deleted, its session
    ended, the account was deactivated or deleted, or the password changed."""

    http_status = 401
    close_code = 4401


class ProtocolError(CollabError):
    """A WebSocket message is malformed, truncated, of an unknown type or carries a corrupt update."""

    close_code = 1007


class UnsupportedFrame(CollabError):
    """A text frame arrived where the y-websocket protocol only uses binary frames."""

    close_code = 1003


class MessageTooLarge(CollabError):
    """A message is over the configured size limit."""

    close_code = 1009


class RateLimited(CollabError):
    """A connection sends updates or awareness faster than its allowance (a policy violation)."""

    close_code = 1008


class UpdateTooComplex(CollabError):
    """An update exceeds a structural budget (nesting depth, structs per update, pending updates held)."""

    close_code = 1008


class TryAgainLater(CollabError):
    """The server cannot serve this connection now; the client should reconnect later (1013)."""

    http_status = 503
    close_code = 1013


class StoreUnavailable(TryAgainLater):
    """The store cannot currently keep more edits (the database is down and its buffer is full): try again later."""


class SlowReader(TryAgainLater):
    """A connection's outbound backlog stayed over its limit: it does not read what it is sent."""


class DocumentTooLarge(CollabError):
    """Applying an edit would grow the document past its size cap; the document stays readable."""

    close_code = 1009


class InvalidContent(CollabError):
    """Imported content (Markdown or HTML) cannot be used."""

    http_status = 400
