"""The REST API that changes a document's content: replacing it with Markdown or HTML, and applying a raw Yjs update.

Both are edits like an editor's: they go through the document's room (documents/bridge.py), so every open editor sees
them at once and they are stored like any other update. A raw update is untrusted input and meets the same checks
as one sent over a WebSocket, with the same size limit (``COLLAB_MAX_MESSAGE_BYTES``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from documents.bridge import receive_update, replace_content
from documents.conf import get_config
from documents.permissions import Action, authorize
from documents.web.api_schema import DOCUMENT_ID, errors
from documents.web.serializers import ContentSerializer

UPDATE_MEDIA_TYPE = "application/octet-stream"


class UpdateTooLarge(exceptions.APIException):
    """A request body over the size limit of a WebSocket message."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The update is too large."


class YjsUpdateParser(BaseParser):
    """Reads an ``application/octet-stream`` body as bytes, refusing more than ``COLLAB_MAX_MESSAGE_BYTES``.

    The declared length is checked before anything is read, and the read stops one byte past the limit, so an
    oversized body is never held in memory whole.
    """

    media_type = UPDATE_MEDIA_TYPE

    # DRF takes whatever a parser returns as ``request.data``; the stubs allow only mappings
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:  # type: ignore[override]
        """The body's bytes (empty when there is no body)."""
        limit = get_config().MAX_MESSAGE_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and str(declared).isdigit() and int(declared) > limit:
            raise UpdateTooLarge(f"The update is larger than the {limit}-byte limit (COLLAB_MAX_MESSAGE_BYTES).")
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise UpdateTooLarge(f"The update is larger than the {limit}-byte limit (COLLAB_MAX_MESSAGE_BYTES).")
        return bytes(data)


@extend_schema(parameters=[DOCUMENT_ID])
class ContentView(APIView):
    """Replace the whole document with Markdown or HTML, as one edit every open editor sees at once."""

    @extend_schema(request=ContentSerializer, responses={204: None, **errors(400, 401, 403, 404)})
    def put(self, request: Request, document_id: str) -> Response:
        """Replace the content (editor or owner); HTML is sanitised."""
        document, _ = authorize(request.user, document_id, Action.EDIT)
        body = ContentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        replace_content(document, body.validated_data["format"], body.validated_data["content"])
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[DOCUMENT_ID])
class UpdateView(APIView):
    """Apply a raw Yjs update to the document, as a connected editor's update is applied."""

    parser_classes = [YjsUpdateParser]
    # Per user (DRF keys a scoped throttle on the user id once authenticated): UPDATE_THROTTLE_RATE.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "updates"

    @extend_schema(
        request={UPDATE_MEDIA_TYPE: OpenApiTypes.BINARY},
        responses={
            204: OpenApiResponse(description="Applied (or the document held all of it already)."),
            **errors(400, 401, 403, 404, 413, 429),
        },
    )
    def post(self, request: Request, document_id: str) -> Response:
        """Apply the update in the body (editor or owner); a malformed, corrupt or not-ready update changes nothing.

        The update must build only on what the document holds: compute it against the state from
        ``export?format=yjs``. Connected editors receive it at once; it is stored like their own updates.
        """
        document, _ = authorize(request.user, document_id, Action.EDIT)
        update = request.data
        if not isinstance(update, bytes) or not update:
            raise exceptions.ParseError(f"Send a Yjs update as the body, with Content-Type: {UPDATE_MEDIA_TYPE}.")
        receive_update(document, update, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
