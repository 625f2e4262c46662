"""Export a document as HTML like Tiptap's ``getHTML()``, then limited by nh3 to the table's tags and attributes.

A node is its row's first tag (and its inner tag: a table's <tbody>), with its data-type and the row's HTML
attributes that differ from their defaults (booleans always, as Tiptap writes ``data-checked``; style properties in
one style attribute), around its content; headings and code blocks are spelled specially. Marks nest as
``inline_runs`` orders them.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import nh3
import pycrdt

from documents.richtext import schema
from documents.richtext.inline_runs import render_runs, runs_of
from documents.richtext.model import SAFE_SCHEMES, Inline, Mark, Node, Text, safe_href
from documents.richtext.plain_text import inline_text
from documents.richtext.yxml import read_nodes

_LINK = "link"


def to_html(fragment: pycrdt.XmlFragment) -> str:
    """HTML like Tiptap's getHTML(), limited by nh3 to the document's tags, attributes and link schemes."""
    return sanitise("".join(_block(node) for node in read_nodes(fragment)))


def sanitise(
    raw: str,
    without: frozenset[str] = frozenset(),
    attribute_filter: Callable[[str, str, str], str | None] | None = None,
) -> str:
    """HTML limited to the document's tags (less ``without``), attributes, their values and link schemes;
    ``attribute_filter`` (nh3's: tag, attribute, value -> the value kept, or None to drop it) narrows them further."""
    return nh3.clean(
        raw,
        tags=set(schema.HTML_TAGS) - without,
        attributes=schema.HTML_ATTRIBUTES,
        tag_attribute_values=schema.HTML_ATTRIBUTE_VALUES,
        filter_style_properties=set(schema.STYLE_PROPERTIES),
        url_schemes=set(SAFE_SCHEMES),
        attribute_filter=attribute_filter,
        link_rel=None,
    )


def _block(node: Node) -> str:
    """HTML for one block node; an unknown one gives its blocks (or a paragraph, if it holds text)."""
    spec = schema.block(node.type)
    if spec is None:
        if any(isinstance(c, Text) for c in node.content):
            return _element(schema.ELEMENTS[schema.DEFAULT_BLOCK], node, _inline(node.content))
        return "".join(_block(c) for c in node.content if isinstance(c, Node))
    if not spec.usable(node.attrs):
        return ""
    special = SPECIAL_BLOCKS.get(spec.name)
    if special is not None:
        return special(node)
    if spec.kind == "leaf":
        return f"<{spec.html[0]}{_attributes(spec, node)}>"
    if spec.kind == "inline":
        return _element(spec, node, _inline(node.content))
    return _element(spec, node, "".join(_child(c) for c in node.content if isinstance(c, Node)))


def _child(node: Node) -> str:
    """HTML for a node inside a container: a block, or a part of its parent (a table's row, a row's cell)."""
    spec = schema.element(node.type)
    if spec is None or spec.block or spec.inline or spec.kind == "item":
        return _block(node)
    return _element(spec, node, "".join(_child(c) for c in node.content if isinstance(c, Node)))


def _element(spec: schema.NodeSpec, node: Node, inner: str) -> str:
    """The row's tag, with its attributes, around the inner HTML."""
    tag = spec.html[0]
    if spec.html_inner:
        inner = f"<{spec.html_inner}>{inner}</{spec.html_inner}>"
    return f"<{tag}{_attributes(spec, node)}>{inner}</{tag}>"


def _attributes(spec: schema.NodeSpec, node: Node) -> str:
    """The node's HTML attributes, those with their default left out."""
    out = f' data-type="{spec.html_type}"' if spec.html_type else ""
    style = []
    for attr in (a for a in spec.attrs if a.kept and (a.html or a.style)):
        value = attr.rendered(node.attrs)
        if value is None or (value == attr.default and not isinstance(value, bool)):
            continue
        if attr.style:
            style.append(f"{attr.style}: {value}")
        else:
            text = (
                str(value).lower()
                if isinstance(value, bool)
                else ",".join(map(str, value))
                if isinstance(value, list)
                else str(value)
            )
            out += f' {attr.html}="{html.escape(text)}"'
    return out + (f' style="{html.escape("; ".join(style))}"' if style else "")


def _heading(node: Node) -> str:
    """<h1> to <h6>, by level."""
    level = schema.rendered(node.type, "level", node.attrs)
    attributes = _attributes(schema.ELEMENTS[node.type], node)
    return f"<h{level}{attributes}>{_inline(node.content)}</h{level}>"


def _code(node: Node) -> str:
    """<pre><code>, the language as a language-* class."""
    language = schema.rendered(node.type, "language", node.attrs)
    attr = f' class="language-{language}"' if language else ""
    return f"<pre><code{attr}>{html.escape(inline_text(node.content), quote=False)}</code></pre>"


SPECIAL_BLOCKS: dict[str, Callable[[Node], str]] = {"heading": _heading, "codeBlock": _code}


def _inline(content: Sequence[Inline]) -> str:
    """Inline HTML with properly nested mark elements."""
    return render_runs(runs_of(content), _open, _close, lambda chunk, _m: html.escape(chunk, False), "<br>")


def _open(mark: Mark) -> str:
    """Start tag for a mark (nothing for a link whose href is unsafe)."""
    if mark[0] == _LINK:
        href = safe_href(dict(mark[1]).get("href"))
        return f'<a href="{html.escape(href)}">' if href else ""
    return f"<{schema.MARK_SPECS[mark[0]].html[0]}>"


def _close(mark: Mark) -> str:
    """End tag for a mark."""
    if mark[0] == _LINK:
        return "</a>" if safe_href(dict(mark[1]).get("href")) else ""
    return f"</{schema.MARK_SPECS[mark[0]].html[0]}>"
