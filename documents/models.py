"""Database rows: documents, their stored Yjs state, memberships, versions and uploaded images."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """A caller's role on a document, lowest first. The owner is ``Document.owner``, never a membership row; what
    each role may do is ``documents.permissions.REQUIRED_ROLE``."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"


# The roles a membership row can hold (everything but the owner's).
MEMBER_ROLES = [(role.value, role.label) for role in (Role.VIEWER, Role.EDITOR)]


class Document(models.Model):
    """A collaborative document.

    Its Yjs state is stored as ``snapshot_segments`` (a compacted state, split into size-bounded updates so each fits
    one WebSocket message) plus ``updates`` (the append log written since the last compaction).
    """

    TITLE_MAX_LENGTH = 200

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_documents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Size in bytes of the stored Yjs state (snapshot plus log), kept up to date by the store.
    size_bytes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class Membership(models.Model):
    """A user's role on a document they do not own."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=MEMBER_ROLES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "user"], name="unique_membership")]
        indexes = [models.Index(fields=["user", "document"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.document}"


class SnapshotSegment(models.Model):
    """One size-bounded piece of a document's compacted state; applying all segments in order restores it."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="snapshot_segments")
    position = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="unique_segment_position")]


class DocumentUpdate(models.Model):
    """One entry of a document's append log: a Yjs update received since the last compaction."""

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="updates")
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["document", "id"])]


class Version(models.Model):
    """A named (or automatic) snapshot of a document's content, kept across compactions."""

    NAME_MAX_LENGTH = 200

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    automatic = models.BooleanField(default=False)
    # The full Yjs state (``Doc.get_update()``) at the time the version was taken.
    state = models.BinaryField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["document", "-created_at"])]

    def __str__(self) -> str:
        return self.name


def image_path(image: DocumentImage, filename: str) -> str:
    """Where an image's file is stored: by document and image id, never by the name the client sent."""
    return f"images/{image.document_id}/{image.pk}{Path(filename).suffix}"


class DocumentImage(models.Model):
    """An image uploaded into a document: a verified, re-encoded file in the default storage (``STORAGES``).

    Deleting the row (with its document) deletes the file (``documents/signals.py``).
    """

    ALT_MAX_LENGTH = 1000

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=image_path, max_length=200)
    content_type = models.CharField(max_length=50)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    alt = models.CharField(max_length=ALT_MAX_LENGTH, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["document", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.content_type} {self.width}x{self.height} in {self.document_id}"
