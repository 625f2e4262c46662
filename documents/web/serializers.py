"""Request and response shapes of the REST API (also the source of its OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from documents.bridge import EXPORT_FORMATS
from documents.models import MEMBER_ROLES, Document, Role, Version


class DocumentSerializer(serializers.ModelSerializer):
    """A document as listed: the caller's role and the owner's username included."""

    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="The caller's role.")
    owner = serializers.CharField(source="owner.username", read_only=True, help_text="The owner's username.")

    class Meta:
        model = Document
        fields = ["id", "title", "role", "owner", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class DocumentDetailSerializer(DocumentSerializer):
    """A single document, with its plain text (blocks joined by newlines)."""

    text = serializers.CharField(read_only=True, help_text="The document's plain text.")

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "text"]


class TitleSerializer(serializers.Serializer):
    """The body of a create or rename: a title of 1 to ``Document.TITLE_MAX_LENGTH`` characters, surrounding whitespace
    removed."""

    title = serializers.CharField(max_length=Document.TITLE_MAX_LENGTH, trim_whitespace=True)


class MemberSerializer(serializers.Serializer):
    """Someone with access to a document; the owner appears with role "owner"."""

    username = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)


class MemberWriteSerializer(serializers.Serializer):
    """The body that adds a member or changes an existing member's role."""

    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(
        choices=MEMBER_ROLES,
        error_messages={"invalid_choice": "Choose one of: " + ", ".join(value for value, _ in MEMBER_ROLES) + "."},
    )


class ExportQuerySerializer(serializers.Serializer):
    """The query of an export: the output format."""

    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        error_messages={"invalid_choice": "Choose one of: " + ", ".join(EXPORT_FORMATS) + "."},
    )


class TokenRequestSerializer(serializers.Serializer):
    """Credentials exchanged for an API token."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    """An API token, sent as ``Authorization: Token KEY``."""

    token = serializers.CharField(read_only=True)


class ErrorSerializer(serializers.Serializer):
    """An error not tied to a field; field errors map each field name to a list of messages instead."""

    detail = serializers.CharField()


def detail_data(document: Document, role: str, text: str) -> dict[str, Any]:
    """The detail representation of ``document`` for a caller holding ``role``."""
    document.role = role  # type: ignore[attr-defined]
    document.text = text  # type: ignore[attr-defined]
    return DocumentDetailSerializer(document).data


class ContentSerializer(serializers.Serializer):
    """A whole-document replacement: Markdown or HTML (sanitised; scripts and unsafe links are dropped)."""

    format = serializers.ChoiceField(
        choices=["markdown", "html"], error_messages={"invalid_choice": "Choose one of: markdown, html."}
    )
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class DocumentCreateSerializer(TitleSerializer):
    """A new document: its title and, optionally, initial content in Markdown or HTML."""

    format = serializers.ChoiceField(
        choices=["markdown", "html"],
        required=False,
        error_messages={"invalid_choice": "Choose one of: markdown, html."},
    )
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Content and format come together."""
        if "content" in attrs and "format" not in attrs:
            raise serializers.ValidationError({"format": ["A format is required with content."]})
        if "format" in attrs and "content" not in attrs:
            raise serializers.ValidationError({"content": ["Content is required with a format."]})
        return attrs


class VersionSerializer(serializers.Serializer):
    """A saved version of a document."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    author = serializers.SerializerMethodField(help_text="The author's username, or null.")
    created_at = serializers.DateTimeField(read_only=True)
    automatic = serializers.BooleanField(read_only=True)

    def get_author(self, version: Any) -> str | None:
        """The author's username."""
        return version.author.get_username() if version.author is not None else None


class VersionDetailSerializer(VersionSerializer):
    """A version with its content as sanitised HTML and as plain text."""

    html = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True)


class VersionCreateSerializer(serializers.Serializer):
    """The body that saves a version: its name."""

    name = serializers.CharField(max_length=Version.NAME_MAX_LENGTH, trim_whitespace=True)
