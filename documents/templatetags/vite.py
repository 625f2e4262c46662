"""``{% vite_assets "src/main.js" %}``: the script and stylesheet tags of a built Vite entry, from its manifest."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()
logger = logging.getLogger("documents.vite")

MISSING_NOTICE = "frontend not built: run make run"

# (manifest path, mtime) -> parsed manifest; re-read only when a rebuild changes the file.
_cache: dict[tuple[str, int], dict[str, Any]] = {}
_cache_lock = threading.Lock()


def load_manifest(path: Path) -> dict[str, Any] | None:
    """The parsed manifest at ``path``, cached until the file changes; None when it is missing or unreadable."""
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    with _cache_lock:
        if key not in _cache:
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                logger.warning("unreadable Vite manifest %s", path)
                return None
            _cache.clear()
            _cache[key] = manifest
        return _cache[key]


def _chunks(manifest: dict[str, Any], entry: str) -> list[dict[str, Any]]:
    """The entry chunk followed by every chunk it statically imports, each once, in dependency order."""
    seen: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = [entry]
    while pending:
        name = pending.pop(0)
        if name in seen or name not in manifest:
            continue
        seen.add(name)
        ordered.append(manifest[name])
        pending.extend(manifest[name].get("imports", []))
    return ordered


def _not_built(reason: str) -> SafeString:
    return format_html('<!-- {} -->\n<p class="notice notice--error" role="alert">{}</p>', reason, MISSING_NOTICE)


@register.simple_tag
def vite_assets(entry: str) -> SafeString:
    """Stylesheet links, module preloads and the module script of ``entry``, or a visible notice when not built."""
    path = Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json"
    manifest = load_manifest(path)
    if manifest is None:
        return _not_built("Vite manifest .vite/manifest.json not found in FRONTEND_DIST")
    chunks = _chunks(manifest, entry)
    if not chunks:
        return _not_built(f"{entry} is not an entry of the Vite manifest")
    css = list(dict.fromkeys(name for chunk in chunks for name in chunk.get("css", [])))
    styles = format_html_join("\n", '<link rel="stylesheet" href="{}">', ((static(name),) for name in css))
    preloads = format_html_join(
        "\n", '<link rel="modulepreload" href="{}">', ((static(chunk["file"]),) for chunk in chunks[1:])
    )
    script = format_html('<script type="module" src="{}"></script>', static(chunks[0]["file"]))
    return format_html("{}\n{}\n{}", styles, preloads, script)
