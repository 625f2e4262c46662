"""What the API modules share about their shape: path parameters, error responses, the shapes DRF cannot derive
from a serializer (an error body keyed by field, ProseMirror JSON), and the list conventions (pagination, search),
each declared in the schema with the bounds it applies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from documents.web.serializers import ErrorSerializer

DOCUMENT_ID = OpenApiParameter("document_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Document id.")
USERNAME = OpenApiParameter("username", OpenApiTypes.STR, OpenApiParameter.PATH, description="A member's username.")
_ERROR_TEXT = {
    400: "Invalid input: the body names each bad field, or `detail` explains.",
    401: "Missing or invalid credentials.",
    403: "The caller's role is too low.",
    404: "No such document, or the caller has no access to it.",
    413: "The request body is over its size limit.",
    429: "Too many requests: wait for the `Retry-After` seconds.",
}
# ProseMirror JSON, as the json export answers it (nodes nest: each one's content holds more of them).
PROSEMIRROR_DOC = {
    "type": "object",
    "required": ["type", "content"],
    "properties": {
        "type": {"type": "string", "enum": ["doc"]},
        "content": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type"],
                "description": 'A node: {"type", "attrs"?, "content"?}; text is {"type": "text", "text", "marks"?}.',
                "additionalProperties": True,
            },
        },
    },
    "example": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]},
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


class DocumentPagination(PageNumberPagination):
    """Pages of the document list: ``?page=N`` (from 1), ``?page_size=N`` (larger values are capped)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's two parameters, with the bounds it applies (a page past the last, or not a number, is a 404)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Documents per page: {self.page_size} unless given, at most {self.max_page_size} "
                    "(a larger number is taken as the most)."
                )
        return parameters


class DocumentSearch(filters.SearchFilter):
    """DRF's ``?search=``, whose one refusal (a NUL character) names the parameter, as every 400 names its field."""

    def get_search_terms(self, request: Request) -> list[str]:
        """The words to search for."""
        try:
            return list(super().get_search_terms(request))
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from exc
