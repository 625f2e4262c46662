"""Django admin for operators: documents with their members, versions and images; memberships, versions (API tokens:
DRF's own admin).

The document list shows live connection counts read from Redis once per page (``LiveCountChangeList``), not once
per row; the content preview is a sandboxed iframe with a stylesheet of its own, out of reach of the admin's.

About 330 lines, past our usual 300: the model admins and the change list they share are one screen each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.html import escape, format_html
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe

from documents import bridge
from documents.bridge import export_document
from documents.engine.livecount import connection_counts
from documents.engine.registry import loaded_room
from documents.engine.store import get_store
from documents.models import Document, DocumentImage, Membership, Version
from documents.versions import create_version, restore_version
from documents.web import sharing

# Set on each document of a changelist page, so the column does not ask Redis row by row.
LIVE_ATTRIBUTE = "live_connections_display"
PREVIEW_TEMPLATE = "admin/documents/document/preview.html"
PREVIEW_FRAME_STYLE = (
    "box-sizing: border-box; width: 50rem; max-width: 100%; height: 22rem; resize: both; border: 1px solid #ccc;"
    " border-radius: 4px; background: #fff"
)


def compact_now(document_id: Any) -> int:
    """Fold the document's stored log into its snapshot segments, synchronously; returns the log rows folded."""
    return get_store().backend.compact(document_id).folded


def _local_count(document_id: Any) -> int:
    """Connections to the document in this process."""
    room = loaded_room(document_id)
    return len(room.members) if room is not None else 0


def live_counts_display(document_ids: Iterable[Any]) -> dict[uuid.UUID, str]:
    """Each document's live connections as the admin shows them, from one read of Redis for all of them.

    Without Redis the counts are this process's, as the column's label says; with Redis they are every process's,
    and when Redis cannot be read the cell says that it falls back to this process's."""
    ids = [uuid.UUID(str(document_id)) for document_id in document_ids]
    counts = connection_counts(ids)
    if counts is not None:
        return {document_id: str(counts[document_id]) for document_id in ids}
    suffix = " (this process only: Redis unreachable)" if settings.REDIS_URL else ""
    return {document_id: f"{_local_count(document_id)}{suffix}" for document_id in ids}


def live_connections(document_id: Any) -> int:
    """Connections to the document right now (in every process when Redis is configured)."""
    counts = connection_counts([document_id])
    return _local_count(document_id) if counts is None else counts[uuid.UUID(str(document_id))]


def _live_label() -> str:
    # Evaluated at each render, so it follows settings.REDIS_URL even when that changes after import.
    return "Live connections (all processes)" if settings.REDIS_URL else "Live connections (this process)"


live_label = cast(str, lazy(_live_label, str)())


class LiveCountChangeList(ChangeList):
    """The document list, fetching the live counts of the whole page in one go once its rows are known."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # result_list is the page's queryset; listing it fills its cache, which the template then iterates.
        documents = list(self.result_list)
        counts = live_counts_display(document.pk for document in documents)
        for document in documents:
            setattr(document, LIVE_ATTRIBUTE, counts[document.pk])


class MembershipInline(admin.TabularInline):
    """The members of a document, editable in place."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at"]


class VersionInline(admin.TabularInline):
    """A document's versions, read only, each with a restore action."""

    model = Version
    extra = 0
    fields = ["name", "author", "automatic", "created_at"]
    readonly_fields = cast("list[str]", fields)  # the same plain field names
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Versions are taken with the "Create version" action."""
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Version]:
        """Without the (large) state."""
        return super().get_queryset(request).select_related("author").defer("state")


class ImageInline(admin.TabularInline):
    """A document's uploaded images, read only: they come and go with the editor and the document."""

    model = DocumentImage
    extra = 0
    fields = ["id", "content_type", "width", "height", "size_bytes", "alt", "uploaded_by", "created_at"]
    readonly_fields = cast("list[str]", fields)
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Images are uploaded through the editor (verified and re-encoded there)."""
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents; deleting one here closes its live connections like the API does."""

    list_display = [
        "title",
        "owner",
        "member_count",
        "size_bytes",
        "stored_updates",
        "updated_at",
        "live_connections",
        "created_at",
        "open_in_editor",
    ]
    list_filter = ["owner", "updated_at"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["id", "created_at", "updated_at", "size_bytes", "live_connections", "preview"]
    fields = ["id", "title", "owner", "created_at", "updated_at", "size_bytes", "live_connections", "preview"]
    inlines = [MembershipInline, VersionInline, ImageInline]
    date_hierarchy = "updated_at"
    # Explicit: the model's Meta.ordering is dropped from the annotated (GROUP BY) queryset, and the autocomplete
    # view, unlike the list, adds no ordering of its own.
    ordering = ["-updated_at"]
    actions = [
        "create_version_action",
        "restore_latest_version",
        "compact_storage",
        "export_markdown",
        "export_html",
        "close_connections",
    ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LiveCountChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        """With member and stored update counts."""
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("memberships", distinct=True),
                update_total=Count("updates", distinct=True),
            )
        )

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, obj: Document) -> int:
        return getattr(obj, "member_total", 0)

    @admin.display(description="Stored updates", ordering="update_total")
    def stored_updates(self, obj: Document) -> int:
        return getattr(obj, "update_total", 0)

    @admin.display(description=live_label)
    def live_connections(self, obj: Document) -> str:
        prefetched = getattr(obj, LIVE_ATTRIBUTE, None)
        if prefetched is not None:
            return prefetched
        return "-" if obj.pk is None else live_counts_display([obj.pk])[obj.pk]

    @admin.display(description="Editor")
    def open_in_editor(self, obj: Document) -> str:
        url = reverse("document", args=[obj.pk])
        # Short: the list is wide already.
        return format_html(
            '<a href="{}" target="_blank" rel="noopener" title="Open in the editor (new tab)">Open ↗</a>', url
        )

    @admin.display(description="Content preview")
    def preview(self, obj: Document) -> str:
        if obj.pk is None:
            return "-"
        # export_document's HTML is sanitised by nh3; the iframe is sandboxed without scripts as well. The whole
        # page goes into an attribute: escape() escapes it even though render_to_string marks it safe.
        page = render_to_string(PREVIEW_TEMPLATE, {"content": mark_safe(export_document(obj, "html"))})
        return format_html(
            '<iframe class="document-preview" title="Content preview of {}" srcdoc="{}"'
            ' sandbox="allow-popups allow-popups-to-escape-sandbox" style="{}"></iframe>',
            obj.title,
            escape(page),
            PREVIEW_FRAME_STYLE,
        )

    @admin.action(description="Create a version of the selected documents")
    def create_version_action(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            version = create_version(document, "Created by an operator", request.user)
            self.log_change(request, document, f"Created version {version.name!r} (#{version.pk}).")
        self.message_user(request, f"Created {len(queryset)} version(s).", messages.SUCCESS)

    @admin.action(description="Restore the latest version of the selected documents")
    def restore_latest_version(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        restored = 0
        for document in queryset:
            version = Version.objects.filter(document=document).first()
            if version is None:
                self.message_user(request, f"{document} has no version to restore.", messages.WARNING)
                continue
            restore_version(document, version, request.user)
            self.log_change(request, document, f"Restored version {version.name!r} (#{version.pk}).")
            restored += 1
        if restored:
            self.message_user(request, f"Restored {restored} document(s).", messages.SUCCESS)

    @admin.action(description="Compact storage of the selected documents now")
    def compact_storage(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            folded = compact_now(document.pk)
            self.log_change(request, document, f"Compacted storage ({folded} log updates folded).")
        self.message_user(request, f"Compacted {len(queryset)} document(s).", messages.SUCCESS)

    def _export(self, request: HttpRequest, queryset: QuerySet[Document], fmt: str) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one document to export.", messages.WARNING)
            return None
        from documents.web.api import export_filename

        document = queryset.first()
        assert document is not None
        content_type, extension = {"markdown": ("text/markdown", "md"), "html": ("text/html", "html")}[fmt]
        response = HttpResponse(export_document(document, fmt), content_type=f"{content_type}; charset=utf-8")
        # always a string for an attachment; the stubs cover the inline case (None without a file name)
        disposition = cast(str, content_disposition_header(True, export_filename(document.title, extension)))
        response["Content-Disposition"] = disposition
        self.log_change(request, document, f"Exported as {fmt}.")
        return response

    @admin.action(description="Export as Markdown (one document)")
    def export_markdown(self, request: HttpRequest, queryset: QuerySet[Document]) -> HttpResponse | None:
        return self._export(request, queryset, "markdown")

    @admin.action(description="Export as HTML (one document)")
    def export_html(self, request: HttpRequest, queryset: QuerySet[Document]) -> HttpResponse | None:
        return self._export(request, queryset, "html")

    @admin.action(description="Close all live connections of the selected documents")
    def close_connections(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            bridge.close_all_connections(document.pk)
            self.log_change(request, document, "Closed all live connections.")
        self.message_user(request, f"Closed the live connections of {len(queryset)} document(s).", messages.SUCCESS)

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
    autocomplete_fields = ["document", "user"]
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
    actions = ["restore_selected"]

    @admin.action(description="Restore the selected version (its document becomes equal to it for everyone)")
    def restore_selected(self, request: HttpRequest, queryset: QuerySet[Version]) -> None:
        versions = list(queryset.select_related("document"))
        if len({version.document_id for version in versions}) != len(versions):
            self.message_user(request, "Select at most one version per document.", messages.ERROR)
            return
        for version in versions:
            restore_version(version.document, version, request.user)
            self.log_change(request, version.document, f"Restored version {version.name!r} (#{version.pk}).")
        self.message_user(request, f"Restored {len(versions)} version(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Versions hold Yjs state, which only the collaboration engine can produce."""
        return False
