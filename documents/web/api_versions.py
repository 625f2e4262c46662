"""The REST API of versions: listing and saving them, reading one, restoring one as a new edit."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from documents.models import Version
from documents.permissions import Action, authorize
from documents.versions import create_version, restore_version, version_html, version_text
from documents.web.api_schema import DOCUMENT_ID, errors
from documents.web.serializers import VersionCreateSerializer, VersionDetailSerializer, VersionSerializer

VERSION_ID = OpenApiParameter("version_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Version id.")


def _version(document: Any, version_id: str) -> Version:
    if not str(version_id).isdigit():
        raise exceptions.NotFound("Version not found.")
    return get_object_or_404(Version.objects.select_related("author"), document=document, pk=int(version_id))


@extend_schema(parameters=[DOCUMENT_ID])
class VersionListView(APIView):
    """A document's saved versions (any role), and saving one (editor or owner)."""

    @extend_schema(responses={200: VersionSerializer(many=True), **errors(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        """Every version, newest first."""
        document, _ = authorize(request.user, document_id, Action.VIEW)
        versions = Version.objects.filter(document=document).select_related("author").defer("state")
        return Response(VersionSerializer(versions, many=True).data)

    @extend_schema(request=VersionCreateSerializer, responses={201: VersionSerializer, **errors(400, 401, 403, 404)})
    def post(self, request: Request, document_id: str) -> Response:
        """Save the current content as a named version."""
        document, _ = authorize(request.user, document_id, Action.EDIT)
        body = VersionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = create_version(document, body.validated_data["name"], request.user)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[DOCUMENT_ID, VERSION_ID])
class VersionDetailView(APIView):
    """One version with its content."""

    @extend_schema(responses={200: VersionDetailSerializer, **errors(401, 404)})
    def get(self, request: Request, document_id: str, version_id: str) -> Response:
        """The version, its content as sanitised HTML and as plain text."""
        document, _ = authorize(request.user, document_id, Action.VIEW)
        version = _version(document, version_id)
        version.html = version_html(version)  # type: ignore[attr-defined]
        version.text = version_text(version)  # type: ignore[attr-defined]
        return Response(VersionDetailSerializer(version).data)


@extend_schema(parameters=[DOCUMENT_ID, VERSION_ID])
class VersionRestoreView(APIView):
    """Restore a version: the document becomes equal to it, as a new edit (undo by restoring the safety version)."""

    @extend_schema(request=None, responses={200: VersionSerializer, **errors(401, 403, 404)})
    def post(self, request: Request, document_id: str, version_id: str) -> Response:
        """Restore (editor or owner); answers with the "Before restoring" version taken first."""
        document, _ = authorize(request.user, document_id, Action.RESTORE)
        version = _version(document, version_id)
        backup = restore_version(document, version, request.user)
        return Response(VersionSerializer(backup).data)
