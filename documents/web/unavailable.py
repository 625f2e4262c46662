"""Pages while the database is unavailable: 503 with ``Retry-After``, one log line, never a 500 (the REST API's
own exception handler does the same for its views)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from documents.exceptions import DATABASE_ERRORS, RETRY_AFTER_SECONDS

logger = logging.getLogger("documents.web")


class DatabaseUnavailableMiddleware:
    """Turn the database's "locked", "down" or "failing over" errors into 503 Service Unavailable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer 503 for database unavailability; let every other error through."""
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.warning("503 for %s %s: database unavailable (%s)", request.method, request.path, exception)
        message = "The database is unavailable; try again shortly."
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
