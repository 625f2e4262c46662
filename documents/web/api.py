"""The REST API: documents, members, exports and tokens. Every document access goes through permissions.authorize.

Replacing content and applying raw Yjs updates are in ``api_content``; versions in ``api_versions``.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, filters, generics, status
from rest_framework.authtoken.models import Token
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from documents.bridge import document_text, export_document, export_prosemirror, export_update, replace_content
from documents.models import Role
from documents.permissions import Action, accessible_documents, authorize
from documents.web import sharing
from documents.web.api_schema import (
    DOCUMENT_ID,
    PROSEMIRROR_DOC,
    USERNAME,
    DocumentPagination,
    DocumentSearch,
    errors,
)
from documents.web.office_export import OFFICE_FORMATS, missing_message, pandoc_for, to_office
from documents.web.serializers import (
    ALL_EXPORT_FORMATS,
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
from documents.web.zip_export import local_copy, to_zip

# Each export format: its content type and file extension (the text formats are sent as UTF-8).
EXPORT_TYPES = {
    "markdown": ("text/markdown", "md"),
    "html": ("text/html", "html"),
    "text": ("text/plain", "txt"),
    "json": ("application/json", "json"),
    "yjs": ("application/octet-stream", "yjs"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "odt": ("application/vnd.oasis.opendocument.text", "odt"),
    "zip": ("application/zip", "zip"),
}


ORDERINGS = ["title", "-title", "created_at", "-created_at", "updated_at", "-updated_at"]


class DocumentListView(generics.GenericAPIView):
    """The caller's documents (owned and shared), paginated, searchable and sortable; and document creation."""

    serializer_class = DocumentSerializer
    pagination_class = DocumentPagination
    filter_backends = [DocumentSearch, filters.OrderingFilter]
    # Every word of ``?search=`` must occur (ignoring case) in the title or in the owner's username.
    search_fields = ["title", "owner__username"]
    ordering_fields = ["title", "created_at", "updated_at"]
    ordering = ["-updated_at", "pk"]  # the primary key breaks ties, so pages never overlap

    def get_queryset(self) -> Any:
        """Every document the caller can access, with their role."""
        return accessible_documents(self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=ORDERINGS,
                description="Sort by this field (`-` first: descending); most recently updated first by default.",
            ),
            OpenApiParameter(
                "search",
                OpenApiTypes.STR,
                description="Only documents whose title or owner's username contains every word (ignoring case).",
                pattern="^[^\\u0000]*$",
            ),
        ],
        responses={200: DocumentSerializer(many=True), **errors(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        """One page of the documents the caller can access (owned and shared)."""
        documents = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(documents)
        return self.get_paginated_response(DocumentSerializer(page, many=True).data)

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


def export_body(document: Any, fmt: str) -> tuple[str | bytes, str]:
    """The export of ``document`` in ``fmt`` and its Content-Type."""
    content_type = EXPORT_TYPES[fmt][0]
    if fmt == "yjs":
        return export_update(document), content_type
    if fmt == "json":
        return json.dumps(export_prosemirror(document), ensure_ascii=False), content_type
    if fmt in OFFICE_FORMATS:  # with the document's own images, as files beside the HTML
        pandoc_for(fmt)  # 501 before the images are read
        copy = local_copy(document, ("html",), "")
        return to_office(copy.texts["html"], document.title, fmt, copy.images), content_type
    if fmt == "zip":
        return to_zip(document, lambda extension: export_filename(document.title, extension)), content_type
    return export_document(document, fmt), f"{content_type}; charset=utf-8"


_EXPORT_BODIES: dict[str, Any] = {
    "text/markdown": OpenApiTypes.STR,
    "text/html": OpenApiTypes.STR,
    "text/plain": OpenApiTypes.STR,
    "application/json": PROSEMIRROR_DOC,
    "application/octet-stream": OpenApiTypes.BINARY,
    EXPORT_TYPES["docx"][0]: OpenApiTypes.BINARY,
    EXPORT_TYPES["odt"][0]: OpenApiTypes.BINARY,
    EXPORT_TYPES["zip"][0]: OpenApiTypes.BINARY,
}


@extend_schema(parameters=[DOCUMENT_ID])
class ExportView(APIView):
    """The document as Markdown, HTML, plain text, ProseMirror JSON, one Yjs update, Word or OpenDocument text, or a
    zip of Markdown and HTML with the images, as a download."""

    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(ALL_EXPORT_FORMATS),
                required=True,
                description="markdown, html, text; json: ProseMirror JSON (the editor's getJSON()); yjs: the whole "
                "state as one Yjs update (apply it to an empty Y.Doc); docx, odt: Word and OpenDocument text, "
                "converted from the HTML by pandoc (501 when the server has none), with the document's own images; "
                "zip: a zip archive of TITLE.md and TITLE.html whose images point at images/IMAGE_ID.EXT, the "
                "document's own images in that folder (an image it cannot carry keeps its server URL).",
            )
        ],
        responses={
            **{
                (200, content_type): OpenApiResponse(_EXPORT_BODIES[content_type], description="The document.")
                for content_type, _ in EXPORT_TYPES.values()
            },
            **errors(400, 401, 404),
            500: OpenApiResponse(ErrorSerializer, description="docx or odt: pandoc failed or took too long."),
            501: OpenApiResponse(ErrorSerializer, description=missing_message("docx or odt")),
        },
    )
    def get(self, request: Request, document_id: str) -> HttpResponse:
        """Download the document in the requested format (the live state when it is open in this process)."""
        document, _ = authorize(request.user, document_id, Action.VIEW)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        body, content_type = export_body(document, fmt)
        response = HttpResponse(body, content_type=content_type)
        extension = EXPORT_TYPES[fmt][1]
        # always a string for an attachment; the stubs cover the inline case (None without a file name)
        disposition = cast(str, content_disposition_header(True, export_filename(document.title, extension)))
        response["Content-Disposition"] = disposition
        return response


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
