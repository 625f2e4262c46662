"""Document and membership operations shared by the REST API and the pages.

Callers decide access first with :func:`documents.permissions.authorize`; these functions only change rows and keep
live connections informed. Invalid input raises Django's ``ValidationError`` keyed by the offending field.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from documents import bridge
from documents.models import MEMBER_ROLES, Document, Membership, Role


def clean_title(raw: Any) -> str:
    """A title stripped of surrounding whitespace, or ValidationError if empty, too long or not text."""
    if not isinstance(raw, str):
        raise ValidationError({"title": ["A title is required."]})
    title = raw.strip()
    limit = Document.TITLE_MAX_LENGTH
    if not title:
        raise ValidationError({"title": ["A title is required."]})
    if len(title) > limit:
        raise ValidationError({"title": [f"Ensure the title has at most {limit} characters (it has {len(title)})."]})
    return title


def create_document(owner: Any, title: str) -> Document:
    """Create a document owned by ``owner``."""
    return Document.objects.create(owner=owner, title=clean_title(title))


def rename_document(document: Document, title: str) -> Document:
    """Give ``document`` a new title."""
    document.title = clean_title(title)
    document.save(update_fields=["title", "updated_at"])
    return document


def delete_document(document: Document) -> None:
    """Delete ``document`` and, once committed, close every live connection to it."""
    document_id = document.pk
    document.delete()
    transaction.on_commit(lambda: bridge.announce_document_deleted(document_id))


def list_members(document: Document) -> list[dict[str, str]]:
    """Everyone with access: the owner first (role "owner"), then the members by username."""
    members = Membership.objects.filter(document=document).select_related("user").order_by("user__username")
    owner = [{"username": document.owner.get_username(), "role": Role.OWNER.value}]
    return owner + [{"username": m.user.get_username(), "role": m.role} for m in members]


def _member_user(document: Document, username: Any) -> Any:
    """The user named ``username``, who must exist and not own ``document``."""
    user_model = get_user_model()
    if not isinstance(username, str) or not username.strip():
        raise ValidationError({"username": ["A username is required."]})
    try:
        user = user_model.objects.get(**{user_model.USERNAME_FIELD: username.strip()})
    except user_model.DoesNotExist as exc:
        raise ValidationError({"username": [f"No user is called {username.strip()[:150]!r}."]}) from exc
    if user.pk == document.owner_id:
        raise ValidationError({"username": ["The owner already has full access."]})
    return user


def set_member(document: Document, username: Any, role: Any) -> tuple[Membership, bool]:
    """Give ``username`` ``role`` on ``document``, adding them or changing their role.

    Returns:
        The membership and whether it was created (False when an existing member's role was updated).
    """
    errors: dict[str, list[str]] = {}
    if role not in dict(MEMBER_ROLES):
        errors["role"] = [f"Choose one of: {', '.join(dict(MEMBER_ROLES))}."]
    try:
        user = _member_user(document, username)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return Membership.objects.update_or_create(document=document, user=user, defaults={"role": role})


def remove_member(document: Document, username: str) -> bool:
    """Remove ``username``'s membership of ``document``; False when they were not a member."""
    user_model = get_user_model()
    lookup = {f"user__{user_model.USERNAME_FIELD}": username}
    membership = Membership.objects.filter(document=document, **lookup).first()
    if membership is None:
        return False
    membership.delete()
    return True
