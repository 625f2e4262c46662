"""The REST API: documents, members, exports and tokens. Every document access goes through permissions.authorize."""

from __future__ import annotations

import re
from typing import Any, cast

from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.models import Token
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from documents.bridge import EXPORT_FORMATS, document_text, export_document, replace_content
from documents.models import Role
from documents.permissions import Action, accessible_documents, authorize
from documents.web import sharing
from documents.web.serializers import (
    ContentSerializer,
    DocumentCreateSerializer,
    DocumentDetailSerializer,
    DocumentSerializer,
    ErrorSerializer,
    ExportQuerySerializer,
    MemberSerializer,
    MemberWriteSerializer,
    TitleSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    detail_data,
)

DOCUMENT_ID = OpenApiParameter("document_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Document id.")
USERNAME = OpenApiParameter("username", OpenApiTypes.STR, OpenApiParameter.PATH, description="A member's username.")
EXPORT_TYPES = {"markdown": ("text/markdown", "md"), "html": ("text/html", "html"), "text": ("text/plain", "txt")}
_ERROR_TEXT = {
    400: "Invalid input: the body names each bad field, or `detail` explains.",
    401: "Missing or invalid credentials.",
    403: "The caller's role is too low.",
    404: "No such document, or the caller has no access to it.",
    429: "Too many attempts: wait for the `Retry-After` seconds.",
}


# A 400 names each bad field with its messages, or explains in ``detail`` (malformed JSON, wrong content type).
FIELD_ERRORS = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"title": ["This field may not be blank."]},
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the error statuses an operation can answer with."""
    return {
        code: OpenApiResponse(FIELD_ERRORS if code == 400 else ErrorSerializer, description=_ERROR_TEXT[code])
        for code in codes
    }


class DocumentListView(APIView):
    """The caller's documents (owned and shared), and document creation."""

    @extend_schema(responses={200: DocumentSerializer(many=True), **errors(401)})
    def get(self, request: Request) -> Response:
        """List every document the caller can access, most recently updated first."""
        documents = accessible_documents(request.user).order_by("-updated_at")
        return Response(DocumentSerializer(documents, many=True).data)

    @extend_schema(request=DocumentCreateSerializer, responses={201: DocumentSerializer, **errors(400, 401)})
    def post(self, request: Request) -> Response:
        """Create a document owned by the caller, optionally with initial Markdown or HTML content."""
        body = DocumentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            document = sharing.create_document(request.user, data["title"])
            if "content" in data:
                replace_content(document, data["format"], data["content"])
        document.refresh_from_db()
        document.role = Role.OWNER.value  # type: ignore[attr-defined]
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[DOCUMENT_ID])
class DocumentDetailView(APIView):
    """One document: read (any role), rename (editor, owner), delete (owner)."""

    @extend_schema(responses={200: DocumentDetailSerializer, **errors(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        """The document with the caller's role and its plain text."""
        document, role = authorize(request.user, document_id, Action.VIEW)
        return Response(detail_data(document, role, document_text(document)))

    @extend_schema(request=TitleSerializer, responses={200: DocumentDetailSerializer, **errors(400, 401, 403, 404)})
    def patch(self, request: Request, document_id: str) -> Response:
        """Rename the document."""
        document, role = authorize(request.user, document_id, Action.RENAME)
        body = TitleSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if "title" in body.validated_data:
            sharing.rename_document(document, body.validated_data["title"])
        return Response(detail_data(document, role, document_text(document)))

    @extend_schema(responses={204: None, **errors(401, 403, 404)})
    def delete(self, request: Request, document_id: str) -> Response:
        """Delete the document and close its live connections."""
        document, _ = authorize(request.user, document_id, Action.DELETE)
        sharing.delete_document(document)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[DOCUMENT_ID])
class MemberListView(APIView):
    """Who has access to a document, and (owner only) adding members or changing their role."""

    @extend_schema(responses={200: MemberSerializer(many=True), **errors(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        """The owner (role "owner") first, then every member by username."""
        document, _ = authorize(request.user, document_id, Action.VIEW)
        return Response(MemberSerializer(sharing.list_members(document), many=True).data)

    @extend_schema(
        request=MemberWriteSerializer,
        responses={
            201: OpenApiResponse(MemberSerializer, description="Member added."),
            200: OpenApiResponse(MemberSerializer, description="Existing member's role changed."),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, document_id: str) -> Response:
        """Add a member with a role, or change an existing member's role."""
        document, _ = authorize(request.user, document_id, Action.MANAGE_MEMBERS)
        body = MemberWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership, created = sharing.set_member(document, body.validated_data["username"], body.validated_data["role"])
        data = {"username": membership.user.get_username(), "role": membership.role}
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(parameters=[DOCUMENT_ID, USERNAME])
class MemberDetailView(APIView):
    """One member of a document."""

    @extend_schema(responses={204: None, **errors(401, 403, 404)})
    def delete(self, request: Request, document_id: str, username: str) -> Response:
        """Remove the member; their live connections to the document close."""
        document, _ = authorize(request.user, document_id, Action.MANAGE_MEMBERS)
        if not sharing.remove_member(document, username):
            raise exceptions.NotFound("No such member.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore ``Accept`` and the ``format`` query (DRF's format override): exports pick their own content type."""

    # DRF passes lists; the stubs widen the parameters to Iterable, which cannot be indexed
    def select_parser(self, request: Request, parsers: list[Any]) -> Any:  # type: ignore[override]
        """Exports take no body."""
        return parsers[0] if parsers else None

    def select_renderer(  # type: ignore[override]
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> Any:
        """Errors are always JSON."""
        return renderers[0], renderers[0].media_type


def export_filename(title: str, extension: str) -> str:
    """A download file name derived from a document title, safe in any file system."""
    stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", title).strip(" ._")[:100] or "document"
    return f"{stem}.{extension}"


@extend_schema(parameters=[DOCUMENT_ID])
class ExportView(APIView):
    """The document rendered as Markdown, HTML or plain text, as a download."""

    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=list(EXPORT_FORMATS), required=True)],
        responses={
            **{
                (200, content_type): OpenApiResponse(OpenApiTypes.STR, description="The document, as a download.")
                for content_type, _ in EXPORT_TYPES.values()
            },
            **errors(400, 401, 404),
        },
    )
    def get(self, request: Request, document_id: str) -> HttpResponse:
        """Download the document in the requested format."""
        document, _ = authorize(request.user, document_id, Action.VIEW)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        content_type, extension = EXPORT_TYPES[fmt]
        response = HttpResponse(export_document(document, fmt), content_type=f"{content_type}; charset=utf-8")
        # always a string for an attachment; the stubs cover the inline case (None without a file name)
        disposition = cast(str, content_disposition_header(True, export_filename(document.title, extension)))
        response["Content-Disposition"] = disposition
        return response


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


class TokenView(APIView):
    """Exchange a username and password for the user's API token.

    Throttled twice (documents.web.throttling): per client address (the ``token`` rate), and by django-axes, whose
    backend refuses a username and address with too many failures and whose middleware answers those with 429.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def get_authenticate_header(self, request: Request) -> str:
        """Wrong credentials answer 401 (not 403) with the scheme to use afterwards."""
        return "Token"

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer, **errors(400, 401, 429)}, auth=[])
    def post(self, request: Request) -> Response:
        """Return the user's token, creating it on first use."""
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(request._request, **body.validated_data)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
