"""Django admin for operators: documents with their members, memberships, versions (API tokens: DRF's own admin)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import sharing
from .models import Document, Membership, Version


class MembershipInline(admin.TabularInline):
    """The members of a document, editable in place."""

    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents; deleting one here closes its live connections like the API does."""

    list_display = ["title", "owner", "updated_at", "created_at", "size_bytes"]
    list_filter = ["owner", "updated_at"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "created_at", "updated_at", "size_bytes"]
    fields = ["id", "title", "owner", "created_at", "updated_at", "size_bytes"]
    inlines = [MembershipInline]
    date_hierarchy = "updated_at"

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        """Delete through the shared operation so live rooms are told."""
        sharing.delete_document(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        """Bulk delete, one document at a time so each one's live rooms are told."""
        for document in queryset:
            sharing.delete_document(document)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who may see or edit which document; changes reach live connections through the model signals."""

    list_display = ["document", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["document__title", "user__username"]
    list_select_related = ["document", "user"]
    raw_id_fields = ["document", "user"]
    readonly_fields = ["created_at"]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    """Saved versions, read only: they are created and restored from the editor."""

    list_display = ["name", "document", "author", "automatic", "created_at"]
    list_filter = ["automatic", "created_at"]
    search_fields = ["name", "document__title", "author__username"]
    list_select_related = ["document", "author"]
    fields = ["name", "document", "author", "automatic", "created_at"]
    readonly_fields = ["document", "author", "automatic", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Versions hold Yjs state, which only the collaboration engine can produce."""
        return False
