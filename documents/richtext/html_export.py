"""Export a document as HTML like Tiptap's ``getHTML()``, then limited by nh3 to the table's tags and attributes.

A node is its row's first tag, with the row's HTML attributes that differ from their defaults, around its
content; headings and code blocks are spelled specially. Marks nest as ``inline_runs`` orders them.
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
    raw = "".join(_block(node) for node in read_nodes(fragment))
    tags, attributes = set(schema.HTML_TAGS), schema.HTML_ATTRIBUTES
    return nh3.clean(raw, tags=tags, attributes=attributes, url_schemes=set(SAFE_SCHEMES), link_rel=None)


def _block(node: Node) -> str:
    """HTML for one block node; an unknown one gives its blocks (or a paragraph, if it holds text)."""
    spec = schema.block(node.type)
    if spec is None:
        if any(isinstance(c, Text) for c in node.content):
            return _element(schema.ELEMENTS[schema.DEFAULT_BLOCK], node, _inline(node.content))
        return "".join(_block(c) for c in node.content if isinstance(c, Node))
    special = SPECIAL_BLOCKS.get(spec.name)
    if special is not None:
        return special(node)
    if spec.kind == "leaf":
        return f"<{spec.html[0]}{_attributes(spec, node)}>"
    if spec.kind == "inline":
        return _element(spec, node, _inline(node.content))
    return _element(spec, node, "".join(_block(c) for c in node.content if isinstance(c, Node)))


def _element(spec: schema.NodeSpec, node: Node, inner: str) -> str:
    """The row's tag, with its attributes, around the inner HTML."""
    tag = spec.html[0]
    return f"<{tag}{_attributes(spec, node)}>{inner}</{tag}>"


def _attributes(spec: schema.NodeSpec, node: Node) -> str:
    """The node's HTML attributes, those with their default left out."""
    out = ""
    for attr in spec.attrs:
        value = attr.rendered(node.attrs) if attr.html and attr.kept else None
        if value is not None and value != attr.default:
            out += f' {attr.html}="{html.escape(str(value))}"'
    return out


def _heading(node: Node) -> str:
    """<h1> to <h6>, by level."""
    level = schema.rendered(node.type, "level", node.attrs)
    return f"<h{level}>{_inline(node.content)}</h{level}>"


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
