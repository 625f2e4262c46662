"""Membership changes take effect on live connections: a revoked member's sockets close, a new role applies."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Membership


def _announce(document_id: Any, user_id: Any) -> None:
    from .live import announce_access_change

    transaction.on_commit(lambda: announce_access_change(document_id, user_id))


@receiver(post_save, sender=Membership)
def membership_saved(sender: type, instance: Membership, **kwargs: Any) -> None:
    _announce(instance.document_id, instance.user_id)


@receiver(post_delete, sender=Membership)
def membership_deleted(sender: type, instance: Membership, **kwargs: Any) -> None:
    _announce(instance.document_id, instance.user_id)
