"""How a user appears to collaborators: a display name and a stable caret colour."""

from __future__ import annotations

import hashlib
from typing import Any

# Distinguishable, readable on white, and pleasant next to each other (caret and selection colours).
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#0f9b9b",
    "#d6336c",
    "#6b8e23",
    "#9a6324",
    "#1c7ed6",
    "#c2255c",
    "#5f3dc4",
)
ANONYMOUS_COLOR = "#868e96"


def user_color(user: Any) -> str:
    """A colour from PALETTE that stays the same for a user across sessions and processes."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return ANONYMOUS_COLOR
    digest = hashlib.sha256(str(pk).encode()).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def display_name(user: Any) -> str:
    """The name shown next to a user's caret and in member lists."""
    if not getattr(user, "is_authenticated", False):
        return "anonymous"
    return str(user.get_username())
