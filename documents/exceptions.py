"""Errors of the documents app and the one place that maps them to HTTP statuses and WebSocket close codes."""

from __future__ import annotations


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


class DocumentTooLarge(CollabError):
    """Applying an edit would grow the document past its size cap; the document stays readable."""

    close_code = 1009


class InvalidContent(CollabError):
    """Imported content (Markdown or HTML) cannot be used."""

    http_status = 400
