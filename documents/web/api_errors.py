"""The REST API's one exception handler: every error is JSON, with the contract's status codes, and logged once."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from documents.exceptions import DATABASE_ERRORS, RETRY_AFTER_SECONDS, CollabError, DocumentNotFound

logger = logging.getLogger("documents.web.api")

_LOGGED_DETAIL_CHARS = 300


def _translate(exc: Exception, context: dict[str, Any]) -> Exception:
    """Map our own and Django's exceptions onto DRF's, so DRF's handler renders them."""
    if isinstance(exc, DocumentNotFound):
        return exceptions.NotFound("Document not found.")
    if isinstance(exc, CollabError):
        translated = exceptions.APIException(str(exc) or exc.__class__.__name__)
        translated.status_code = exc.http_status
        return translated
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # The contract reports every unusable request body as a 400 that names the content type to send.
        return exceptions.ParseError(f"{exc.detail} Send {_expected_body(context)}.")
    if isinstance(exc, DATABASE_ERRORS):
        translated = exceptions.APIException("The database is unavailable; try again shortly.")
        translated.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return translated
    if isinstance(exc, RequestDataTooBig):
        translated = exceptions.APIException("The request body is too large.")
        translated.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        return translated
    return exc


def _expected_body(context: dict[str, Any]) -> str:
    """What the view reads: a JSON body, unless its parsers take something else (a raw Yjs update)."""
    parsers = getattr(context.get("view"), "parser_classes", None) or []
    media_types = [parser.media_type for parser in parsers]
    if not media_types or "application/json" in media_types:
        return "a JSON body with Content-Type: application/json"
    return "a body with Content-Type: " + " or ".join(media_types)


def log_client_error(request: Any, status_code: int, data: Any) -> None:
    """Log a 4xx response as one line: method, path, status, and the start of its error body."""
    detail = json.dumps(data, default=str, ensure_ascii=False)
    if len(detail) > _LOGGED_DETAIL_CHARS:
        detail = detail[:_LOGGED_DETAIL_CHARS] + "..."
    logger.info("%s %s -> %d (%s) %s", request.method, request.path, status_code, _who(request), detail)


def _who(request: Any) -> str:
    """The caller's username for the log; never authenticates again (that could raise inside the handler)."""
    try:
        user = request.user
    except exceptions.APIException:
        return "anonymous"
    return str(user.get_username()) if getattr(user, "is_authenticated", False) else "anonymous"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, extended to our exceptions, 415 -> 400, oversized bodies, 503 with Retry-After while the
    database is unavailable, and JSON 500s outside DEBUG."""
    response = drf_exception_handler(_translate(exc, context), context)
    request = context.get("request")
    if response is None:
        if settings.DEBUG:
            return None  # DRF re-raises, so the debug page shows the traceback
        logger.exception("unhandled error in %s", getattr(request, "path", "?"))
        set_rollback()
        return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if request is not None and 400 <= response.status_code < 500:
        log_client_error(request, response.status_code, response.data)
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        logger.warning("503 for %s: database unavailable (%s)", getattr(request, "path", "?"), exc)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """A JSON 404 for any /api/ path that names no endpoint."""
    data = {"detail": "Not found."}
    log_client_error(request, 404, data)
    return JsonResponse(data, status=404)
