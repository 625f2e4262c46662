"""Authority ends with access: changes to who may do what reach live connections, in every process.

Per document (``room.access`` / ``room.close`` on the document's group):
    a membership saved or deleted re-checks that user's role; an owner change re-checks the former and the new
    owner; a deleted document closes every connection to it with 4404.
Per user (``user.revoke`` on the process-wide users group, documents/engine/revocation.py), all closing with 4401:
    a deleted API token ends the connections that authenticated with it; a logout ends those made with that session;
    deactivating or deleting the account, or changing its password, ends all of the user's connections.

Stored files follow their rows: an uploaded image's file is deleted with its row (and so with its document).

Every announcement, and every file deletion, waits for the transaction to commit, so the rooms re-read what was
written (and nothing is announced, or deleted, for a change that rolled back). What changes without a signal is
caught by the periodic re-validation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from documents.engine.credentials import SESSION, TOKEN, credential_digest
from documents.exceptions import CloseCode
from documents.models import Document, DocumentImage, Membership

# Set on an instance between pre_save and post_save: its row as it was before the save.
_PREVIOUS_OWNER = "_collab_previous_owner_id"
_PREVIOUS_ACCOUNT = "_collab_previous_account"


def _saves(update_fields: Iterable[str] | None, *names: str) -> bool:
    """Whether a save with ``update_fields`` writes any of the fields ``names``."""
    return update_fields is None or any(name in update_fields for name in names)


# -- per document --------------------------------------------------------------------------------------------------
def _announce(document_id: Any, user_id: Any, using: str | None = None) -> None:
    from documents.bridge import announce_access_change

    transaction.on_commit(lambda: announce_access_change(document_id, user_id), using=using)


@receiver(post_save, sender=Membership)
def membership_saved(sender: type, instance: Membership, **kwargs: Any) -> None:
    _announce(instance.document_id, instance.user_id, kwargs.get("using"))


@receiver(post_delete, sender=Membership)
def membership_deleted(sender: type, instance: Membership, **kwargs: Any) -> None:
    _announce(instance.document_id, instance.user_id, kwargs.get("using"))


@receiver(pre_save, sender=Document)
def document_saving(sender: type, instance: Document, raw: bool = False, **kwargs: Any) -> None:
    """Remember the stored owner of a document about to be saved with its owner (the admin's change form)."""
    if raw or instance._state.adding or not _saves(kwargs.get("update_fields"), "owner", "owner_id"):
        return
    manager = Document._default_manager.using(kwargs.get("using"))
    setattr(instance, _PREVIOUS_OWNER, manager.filter(pk=instance.pk).values_list("owner_id", flat=True).first())


@receiver(post_save, sender=Document)
def document_saved(sender: type, instance: Document, created: bool = False, **kwargs: Any) -> None:
    """A new owner: the former one keeps only what a membership gives them (else 4403); the new one gets owner."""
    previous = instance.__dict__.pop(_PREVIOUS_OWNER, None)
    if created or previous is None or previous == instance.owner_id:
        return
    _announce(instance.pk, previous, kwargs.get("using"))
    _announce(instance.pk, instance.owner_id, kwargs.get("using"))


@receiver(post_delete, sender=Document)
def document_deleted(sender: type, instance: Document, **kwargs: Any) -> None:
    """However a document goes, its sockets close with 4404, also when it is not deleted through
    ``sharing.delete_document`` (which closes them all at once): the members are re-checked as their memberships
    go with it, and the owner here; a re-check that finds no document closes with 4404."""
    _announce(instance.pk, instance.owner_id, kwargs.get("using"))


# -- per user ------------------------------------------------------------------------------------------------------
def _revoke(user_id: Any, reason: str, credential: str | None = None, using: str | None = None) -> None:
    from documents.bridge import announce_user_revoked

    transaction.on_commit(
        lambda: announce_user_revoked(user_id, CloseCode.CREDENTIALS_INVALID, reason, credential), using=using
    )


@receiver(post_delete, sender=Token)
def token_deleted(sender: type, instance: Token, **kwargs: Any) -> None:
    """The connections that authenticated with this API token close (the user's other connections stay)."""
    _revoke(instance.user_id, "API token deleted", credential_digest(TOKEN, instance.key), kwargs.get("using"))


@receiver(user_logged_out)
def logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """The connections made with the session that logs out close (the user's other sessions and tokens stay)."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or user.pk is None or not session_key:
        return
    _revoke(user.pk, "signed out", credential_digest(SESSION, session_key))


def _account_fields(model: Any) -> list[str]:
    """The fields whose change ends an account's connections: the password hash and, if stored, ``is_active``."""
    names = {f.name for f in model._meta.concrete_fields}
    return [name for name in ("password", "is_active") if name in names]


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def account_saving(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """Remember the stored password hash and active flag of an account about to be saved with either."""
    fields = _account_fields(sender)
    if raw or instance._state.adding or not fields or not _saves(kwargs.get("update_fields"), *fields):
        return
    row = sender._default_manager.using(kwargs.get("using")).filter(pk=instance.pk).values(*fields).first()
    if row is not None:
        setattr(instance, _PREVIOUS_ACCOUNT, row)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def account_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """Deactivating an account or changing its password ends every connection of the user, token ones too."""
    previous = instance.__dict__.pop(_PREVIOUS_ACCOUNT, None)
    if created or previous is None:
        return
    if previous.get("is_active", False) and not getattr(instance, "is_active", True):
        _revoke(instance.pk, "account deactivated", using=kwargs.get("using"))
    elif "password" in previous and previous["password"] != instance.password:
        _revoke(instance.pk, "password changed", using=kwargs.get("using"))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _revoke(instance.pk, "account deleted", using=kwargs.get("using"))


# -- stored files --------------------------------------------------------------------------------------------------
@receiver(post_delete, sender=DocumentImage)
def image_deleted(sender: type, instance: DocumentImage, **kwargs: Any) -> None:
    """The file goes once the row's deletion commits (a cascade from its document included); a rollback keeps both."""
    name, storage = instance.file.name, instance.file.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name), using=kwargs.get("using"))
