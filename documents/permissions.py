"""The single gate deciding "may user U do X to document D", asked by REST, pages, WebSocket and admin.

A caller's role on a document is ``Role.OWNER`` (``Document.owner``), ``Role.EDITOR`` or ``Role.VIEWER`` (a
``Membership``), or ``None`` (no access, which every path reports exactly like a document that does not exist).
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from documents.exceptions import AccessDenied, DocumentNotFound
from documents.models import Document, Membership, Role

_RANK: dict[str | None, int] = {None: 0, Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Action(Enum):
    """Things a caller can do to a document; each value completes "<role> may not ... this document"."""

    VIEW = "view"
    EDIT = "edit"
    RENAME = "rename"
    RESTORE = "restore versions of"
    DELETE = "delete"
    MANAGE_MEMBERS = "change the members of"


# The lowest role allowed each action (one row per action: a test checks that none is missing).
REQUIRED_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.EDIT: Role.EDITOR,
    Action.RENAME: Role.EDITOR,
    Action.RESTORE: Role.EDITOR,
    Action.DELETE: Role.OWNER,
    Action.MANAGE_MEMBERS: Role.OWNER,
}


def allows(role: str | None, action: Action) -> bool:
    """Whether ``role`` is high enough for ``action``."""
    return _RANK[role] >= _RANK[REQUIRED_ROLE[action]]


def accessible_documents(user: Any) -> QuerySet[Document]:
    """Every document ``user`` can see, annotated with ``role`` ("owner", "editor" or "viewer")."""
    if not getattr(user, "is_authenticated", False):
        return Document.objects.none()
    member_role = Membership.objects.filter(document=OuterRef("pk"), user=user).values("role")[:1]
    owned = Document.objects.filter(owner=user)
    shared = Document.objects.filter(memberships__user=user)
    return (
        (owned | shared)
        .distinct()
        .annotate(
            role=Coalesce(
                Subquery(member_role, output_field=CharField()),
                Value(Role.OWNER.value),
                output_field=CharField(),
            )
        )
        .select_related("owner")
    )


def _parse_id(document_id: Any) -> uuid.UUID:
    try:
        return document_id if isinstance(document_id, uuid.UUID) else uuid.UUID(str(document_id))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DocumentNotFound(document_id) from exc


def _with_member_role(user: Any, document_id: Any, *, with_owner: bool) -> QuerySet[Document]:
    """One document, annotated with the caller's membership role (one query, none for anonymous callers); its owner
    joined in when ``with_owner``."""
    pk = _parse_id(document_id)
    if not getattr(user, "is_authenticated", False):
        return Document.objects.none()
    member_role = Membership.objects.filter(document=OuterRef("pk"), user=user).values("role")[:1]
    documents = Document.objects.filter(pk=pk).annotate(member_role=Subquery(member_role, output_field=CharField()))
    return documents.select_related("owner") if with_owner else documents


def _checked(document: Document | None, user: Any, document_id: Any, action: Action) -> tuple[Document, str]:
    role = None
    if document is not None:
        role = Role.OWNER if document.owner_id == user.pk else document.member_role  # type: ignore[attr-defined]
    if document is None or role is None:
        raise DocumentNotFound(document_id)
    document.role = role  # type: ignore[attr-defined]
    if not allows(role, action):
        raise AccessDenied(f"{role} may not {action.value} this document")
    return document, role


def authorize(user: Any, document_id: Any, action: Action) -> tuple[Document, str]:
    """Load a document and check ``user`` may perform ``action`` on it.

    Returns:
        The document (with ``role`` set) and the caller's role.

    Raises:
        DocumentNotFound: the document does not exist or the caller has no role on it.
        AccessDenied: the caller can see the document but their role is too low.
    """
    return _checked(_with_member_role(user, document_id, with_owner=True).first(), user, document_id, action)


async def aauthorize(user: Any, document_id: Any, action: Action) -> tuple[Document, str]:
    """Async form of :func:`authorize`, for the WebSocket path (same answers), which never reads the owner.

    It runs on every connection and every access check of a live one, and Django compiles each ``select_related``
    query with a nested function that refers to itself: a reference cycle per query, which the server's rarely run
    cyclic collector (collab/asgi.py) would leave in memory for minutes under clients that reconnect.
    """
    document = await _with_member_role(user, document_id, with_owner=False).afirst()
    return _checked(document, user, document_id, action)
