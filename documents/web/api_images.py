"""Images in documents: the upload endpoint and the page URL that serves each image to the document's readers.

The upload is bounded before it is read: a declared ``Content-Length`` over ``COLLAB_IMAGE_MAX_BYTES`` (plus the
multipart envelope) is refused with 413 before any byte of the body is parsed, and the file part is counted as it
streams to a temporary file (Django's upload handlers), so a body that lies about its length stops at the limit.
Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds only the non-file fields of a multipart body, so it cannot be the
guard here. The bytes kept are those ``image_files.clean_image`` wrote, never the client's.

An image is served only to people who may read its document, under that document's URL; any other request (no
such image, another document's, no access, not signed in) is the same 404.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse, HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from documents.conf import IMAGE_UPLOAD_ENVELOPE_BYTES, get_config
from documents.exceptions import DocumentNotFound
from documents.models import DocumentImage
from documents.permissions import Action, authorize
from documents.web.api import FirstRendererNegotiation
from documents.web.api_schema import DOCUMENT_ID, errors
from documents.web.image_files import ImageTooLarge, clean_image
from documents.web.serializers import ErrorSerializer

logger = logging.getLogger("documents.web.api")

# The policy of an image response: nothing in it may run, load or be framed, should a browser ever render it as a
# document (nosniff and the verified type already rule that out).
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"
# Private: a reader's browser may keep it (an image id names one file for ever); no shared cache may.
IMAGE_CACHE_CONTROL = "private, max-age=3600"


def image_url(image: DocumentImage) -> str:
    """The site-relative address an image is served at (the editor's ``src``)."""
    return f"/documents/{image.document_id}/images/{image.pk}"


def _too_large(limit: int) -> ImageTooLarge:
    return ImageTooLarge(f"The image is larger than the {limit}-byte limit (COLLAB_IMAGE_MAX_BYTES).")


class LimitedUpload(FileUploadHandler):
    """First of the request's upload handlers: passes each chunk on, and stops the upload once the files together
    pass ``limit`` bytes (the rest of the body is not read)."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> Any:
        """A body declared too large is not parsed at all, whoever asks for the form (the error's own logging may,
        through a session's CSRF check): an empty form, and ``exceeded``."""
        if content_length > self.limit + IMAGE_UPLOAD_ENVELOPE_BYTES:
            self.exceeded = True
            return QueryDict(), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Count, then hand the chunk to the next handler (memory, then a temporary file)."""
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        """The next handler makes the file."""
        return None


class ImageUploadSerializer(serializers.Serializer):
    """The form fields of an upload."""

    file = serializers.FileField(help_text="PNG, JPEG, GIF or WebP (the types of COLLAB_IMAGE_TYPES).")
    alt = serializers.CharField(required=False, allow_blank=True, max_length=DocumentImage.ALT_MAX_LENGTH, default="")


_UPLOADED = inline_serializer(
    "UploadedImage",
    {
        "id": serializers.UUIDField(),
        "url": serializers.CharField(help_text="Site-relative: /documents/<document id>/images/<image id>."),
        "width": serializers.IntegerField(),
        "height": serializers.IntegerField(),
        "content_type": serializers.CharField(),
        "bytes": serializers.IntegerField(),
    },
)


@extend_schema(parameters=[DOCUMENT_ID])
class ImageUploadView(APIView):
    """Upload an image into a document (editor, owner): verified, re-encoded, stored; its URL goes into the editor."""

    parser_classes = [MultiPartParser]
    # Per user, like raw updates: IMAGE_THROTTLE_RATE.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "images"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Before anything reads the body (a session's CSRF check parses the form): put the counting handler first,
        and refuse a declared length over the limit."""
        limit = get_config().IMAGE_MAX_BYTES
        self.upload_limit = LimitedUpload(request._request, limit)
        request._request.upload_handlers = [self.upload_limit, *request._request.upload_handlers]
        declared = request.META.get("CONTENT_LENGTH")
        if declared and str(declared).isdigit() and int(declared) > limit + IMAGE_UPLOAD_ENVELOPE_BYTES:
            raise _too_large(limit)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={
            201: _UPLOADED,
            **errors(400, 401, 403, 404, 413, 429),
            415: OpenApiResponse(ErrorSerializer, description="Not an accepted image type (SVG never is)."),
        },
    )
    def post(self, request: Request, document_id: str) -> Response:
        """Store the image in the form field ``file`` (with an optional ``alt`` text) for the document."""
        document, _ = authorize(request.user, document_id, Action.EDIT)
        body = ImageUploadSerializer(data=request.data)
        if self.upload_limit.exceeded:
            raise _too_large(self.upload_limit.limit)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        try:
            clean = clean_image(upload)
        finally:
            upload.close()
        image = DocumentImage(
            document=document,
            content_type=clean.content_type,
            size_bytes=len(clean.data),
            width=clean.width,
            height=clean.height,
            alt=body.validated_data["alt"],
            uploaded_by_id=request.user.pk,
        )
        image.file.save(f"image.{clean.extension}", ContentFile(clean.data), save=False)
        try:
            image.save()
        except BaseException:
            image.file.storage.delete(image.file.name)  # no row, so nothing else would ever delete the file
            raise
        data = {
            "id": str(image.pk),
            "url": image_url(image),
            "width": image.width,
            "height": image.height,
            "content_type": image.content_type,
            "bytes": image.size_bytes,
        }
        return Response(data, status=status.HTTP_201_CREATED)


class ImageView(APIView):
    """One image of a document, to anyone who may read the document (session cookie or API token)."""

    permission_classes = [AllowAny]  # the document decides: 404 for anyone who may not read it
    content_negotiation_class = FirstRendererNegotiation  # an <img> asks for image/*, errors are JSON anyway

    @extend_schema(
        parameters=[DOCUMENT_ID],
        responses={(200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image."), **errors(404)},
    )
    def get(self, request: Request, document_id: str, image_id: str) -> FileResponse:
        """The image's bytes, with its type, served inline and privately."""
        try:
            document, _ = authorize(request.user, document_id, Action.VIEW)
            image = DocumentImage.objects.filter(pk=uuid.UUID(image_id), document=document).first()
        except (DocumentNotFound, ValueError) as exc:
            raise exceptions.NotFound("Image not found.") from exc
        if image is None:
            raise exceptions.NotFound("Image not found.")
        try:
            stream = image.file.open("rb")
        except FileNotFoundError as exc:  # removed from the storage behind the application's back
            logger.error("image %s of document %s is missing from the storage", image.pk, document.pk)
            raise exceptions.NotFound("Image not found.") from exc
        response = FileResponse(stream, content_type=image.content_type)
        response["Content-Disposition"] = "inline"
        response["Content-Length"] = str(image.size_bytes)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = IMAGE_CACHE_CONTROL
        response["Content-Security-Policy"] = IMAGE_CSP
        return response
