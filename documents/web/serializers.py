"""Request and response shapes of the REST API (also the source of its OpenAPI schema).

Every rule a field enforces is declared so that the schema states it: text fields are ``TextField`` (a JSON string,
never a number coerced to one), non-blank ones carry ``minLength: 1`` and, when surrounding whitespace is trimmed,
the pattern ``\\S`` (something besides whitespace); lengths and choices come from the same arguments that enforce
them. tests/test_api_conventions.py checks the schema against what the API accepts and refuses.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from documents.bridge import EXPORT_FORMATS
from documents.models import MEMBER_ROLES, Document, Role, Version
from documents.web.office_export import OFFICE_FORMATS

# Exports of the whole document besides the renderings of EXPORT_FORMATS: ProseMirror JSON, the Yjs state, the
# office files pandoc makes of the HTML, and a zip of Markdown and HTML with the images.
ALL_EXPORT_FORMATS = (*EXPORT_FORMATS, "json", "yjs", *OFFICE_FORMATS, "zip")
IMPORT_FORMATS = ("markdown", "html")
NOT_ONLY_WHITESPACE = r"\S"


class TextField(serializers.CharField):
    """A CharField that takes only strings: DRF's own turns numbers into text (``{"title": 5}`` would be "5").

    Non-blank fields declare ``minLength: 1`` (and, when trimmed, the pattern ``\\S``) through validators, so that
    the schema says what the blank check enforces; the blank check runs first, so its message is the one shown.
    """

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("allow_blank", False) and not kwargs.get("read_only", False):
            kwargs.setdefault("min_length", 1)
            if kwargs.get("trim_whitespace", True):
                validators = list(kwargs.pop("validators", []))
                kwargs["validators"] = [*validators, RegexValidator(NOT_ONLY_WHITESPACE)]
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        """Refuse anything but a string (numbers and booleans included) with DRF's "Not a valid string." """
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def choice_field(choices: Any, **kwargs: Any) -> serializers.ChoiceField:
    """A ChoiceField whose refusal lists the choices (DRF's says only that the value is not one)."""
    values = [value if isinstance(value, str) else value[0] for value in choices]
    error: dict[str, Any] = {"invalid_choice": "Choose one of: " + ", ".join(values) + "."}
    return serializers.ChoiceField(choices=choices, error_messages=error, **kwargs)


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

    title = TextField(max_length=Document.TITLE_MAX_LENGTH, trim_whitespace=True)


class MemberSerializer(serializers.Serializer):
    """Someone with access to a document; the owner appears with role "owner"."""

    username = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)


class MemberWriteSerializer(serializers.Serializer):
    """The body that adds a member or changes an existing member's role."""

    username = TextField(max_length=150)
    role = choice_field(MEMBER_ROLES)


class ExportQuerySerializer(serializers.Serializer):
    """The query of an export: the output format."""

    format = choice_field(ALL_EXPORT_FORMATS)


class TokenRequestSerializer(serializers.Serializer):
    """Credentials exchanged for an API token."""

    username = TextField(max_length=150)
    password = TextField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


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


CONTENT_HELP = "Markdown or HTML, at most COLLAB_MAX_IMPORT_BYTES (2 MiB by default) of UTF-8."


class ContentSerializer(serializers.Serializer):
    """A whole-document replacement: Markdown or HTML (sanitised; scripts and unsafe links are dropped)."""

    format = choice_field(IMPORT_FORMATS)
    content = TextField(allow_blank=True, trim_whitespace=False, help_text=CONTENT_HELP)


class DocumentCreateSerializer(TitleSerializer):
    """A new document: its title and, optionally, initial content in Markdown or HTML."""

    format = choice_field(IMPORT_FORMATS, required=False)
    content = TextField(required=False, allow_blank=True, trim_whitespace=False, help_text=CONTENT_HELP)

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

    name = TextField(max_length=Version.NAME_MAX_LENGTH, trim_whitespace=True)
