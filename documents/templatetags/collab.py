"""Template filters for showing users: ``{{ user|user_color }}``."""

from __future__ import annotations

from typing import Any

from django import template

from documents import identity

register = template.Library()


@register.filter
def user_color(user: Any) -> str:
    """The user's stable caret colour (see documents.identity)."""
    return identity.user_color(user)
