"""Cleaners of attribute values that come from outside: image sources, pixel sizes, column widths, flags, keywords.

Each takes what a reader found (a Yjs number, an HTML attribute string, a markdown-it attribute, anything a client
stored) and returns the value the editor may hold, or None when there is none; ``schema``'s rows name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from documents.richtext.model import as_int

MAX_PIXELS = 10_000  # largest image dimension and column width kept, in CSS pixels
MAX_WIDTHS = 100  # most column widths a cell holds (one per column it spans)


def safe_src(src: Any) -> str | None:
    """Return an image source if it is an http(s) URL or a site-relative path (/documents/...), else None.

    Unlike links, no other scheme and no page-relative path: a data: URI would put the file in the shared document,
    and a path without its leading slash means something else on every page that shows the document.
    """
    if not isinstance(src, str):
        return None
    src = src.strip()
    probe = re.sub(r"[\x00-\x20\x7f]", "", src)
    if re.match(r"https?://[^/\\]", probe, re.I) or re.match(r"/(?![/\\])", probe):
        return src
    return None


def one_of(*values: str) -> Callable[[Any], str | None]:
    """A validator keeping only the given words (any case), such as the alignments CSS and the editor share."""
    return lambda value: value.strip().lower() if isinstance(value, str) and value.strip().lower() in values else None


def pixels(value: Any) -> int | None:
    """A dimension in CSS pixels, clamped to [1, MAX_PIXELS]; None when absent or not a number."""
    number = as_int(value, 0) if value not in (None, "") else 0
    return min(number, MAX_PIXELS) if number > 0 else None


def widths(value: Any) -> list[int] | None:
    """Column widths (Tiptap stores a list, HTML spells it "120,80"): each clamped, at most MAX_WIDTHS of them."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    found = [pixels(item) for item in items[:MAX_WIDTHS]]
    return [width or 0 for width in found] if any(found) else None


def flag(value: Any) -> bool:
    """A boolean attribute as Tiptap reads it: true, "true" or "" (HTML's bare attribute)."""
    return value is True or value in ("", "true")


def style_value(style: str | None, prop: str) -> str | None:
    """The value of one CSS property in a style attribute (``text-align: center``), else None."""
    for declaration in (style or "").split(";"):
        name, _, value = declaration.partition(":")
        if name.strip().lower() == prop:
            return value.strip()
    return None
