"""Parse Markdown or HTML into Tiptap/ProseMirror nodes and write them into a pycrdt XmlFragment.

Nodes are repaired to the Tiptap StarterKit schema before writing (a list item starts with a paragraph, a
blockquote holds blocks, a code block holds one unmarked text, the empty document is one empty paragraph) and
encoded as y-prosemirror does; see ``documents.prosemirror`` for the encoding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, cast

import nh3
import pycrdt
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .exceptions import InvalidContent
from .prosemirror import LINK_DEFAULTS, MAX_DEPTH, SAFE_SCHEMES, Inline, Node, Text, as_int, safe_href

if TYPE_CHECKING:
    from typing_extensions import TypeIs

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "maxNesting": 2 * MAX_DEPTH}).enable("strikethrough")
_MD_MARKS = {"strong": "bold", "em": "italic", "s": "strike"}
_MD_BLOCKS = {"bullet_list": "bulletList", "list_item": "listItem"}
_HTML_MARKS = {"strong": "bold", "b": "bold", "em": "italic", "i": "italic", "s": "strike", "strike": "strike"}
_HTML_MARKS |= {"del": "strike", "u": "underline", "code": "code", "a": "link"}
_HTML_INLINE = {*_HTML_MARKS, "span", "ins", "sub", "sup", "mark", "small", "big", "abbr", "acronym", "cite", "q"}
_HTML_INLINE |= {"kbd", "samp", "var", "tt", "dfn", "time", "data", "bdi", "bdo", "font", "img", "wbr", "br", "label"}
_HTML_INLINE |= {"ruby", "rt", "rp", "rtc"}
_VOID = {"br", "hr", "img", "wbr", "area", "col", "input", "meta", "link", "source", "embed", "param", "track", "base"}
_OPTIONAL_END = {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "rb", "rt"}
_OPTIONAL_END |= {"rtc", "rp", "colgroup", "caption"}
_SANITIZE_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}, "pre": {"class"}}
_LANGUAGE_CLASS = re.compile(r"(?:^|\s)language-(\S+)")
_FORWARD_RUNS = 64


def write_markdown(fragment: pycrdt.XmlFragment, markdown: str) -> None:
    """Replace the fragment's whole content with parsed CommonMark (+ strikethrough)."""
    write_nodes(fragment, parse_markdown(markdown))


def write_html(fragment: pycrdt.XmlFragment, html_text: str) -> None:
    """Replace the fragment's whole content with HTML, sanitised by nh3 then parsed."""
    write_nodes(fragment, parse_html(html_text))


def write_nodes(fragment: pycrdt.XmlFragment, nodes: Sequence[Inline]) -> None:
    """Repair nodes to Tiptap's schema, then replace the fragment's content with them in one transaction."""
    blocks = _blocks(nodes, 0) or [Node("paragraph")]
    with fragment.doc.transaction():
        del fragment.children[0 : len(fragment.children)]
        _write_content(fragment, blocks)


def _write_content(parent: pycrdt.XmlFragment | pycrdt.XmlElement, content: Sequence[Inline]) -> None:
    """Write content as y-prosemirror does: an XmlElement per node, one XmlText per stretch of text runs.

    Children are inserted back to front at index 0: appending makes yrs walk the whole list each time.
    Text runs are appended (a smaller encoding) unless there are very many of them.
    """
    groups: list[Node | list[Text]] = []
    for item in content:
        if isinstance(item, Node):
            groups.append(item)
        elif groups and isinstance(groups[-1], list):
            groups[-1].append(item)
        else:
            groups.append([item])
    for group in reversed(groups):
        if isinstance(group, Node):
            attrs = {key: value for key, value in group.attrs.items() if value is not None}
            _write_content(parent.children.insert(0, pycrdt.XmlElement(group.type, attrs)), group.content)
            continue
        text = parent.children.insert(0, pycrdt.XmlText())
        if len(group) <= _FORWARD_RUNS:  # appending encodes smaller, but costs a walk over the text each time
            for run in group:
                text.insert(len(text), run.text, run.marks)
        else:
            for run in reversed(group):
                text.insert(0, run.text, run.marks)


def _check(value: Any, kind: str) -> str:
    """Refuse content that is not a string of valid Unicode."""
    if not isinstance(value, str):
        raise InvalidContent(f"{kind} content must be text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidContent(f"{kind} content is not valid Unicode.") from exc
    return value


# Schema repair ---------------------------------------------------------------------------------------------------


def _blocks(items: Sequence[Inline], depth: int) -> list[Node]:
    """Repair a block sequence: stray inline content becomes paragraphs; refuse absurd nesting."""
    if depth > MAX_DEPTH:
        raise InvalidContent(f"The content is nested more than {MAX_DEPTH} levels deep.")
    out: list[Node] = []
    loose: list[Inline] = []
    for item in [*items, None]:
        if isinstance(item, Text) or (isinstance(item, Node) and item.type == "hardBreak"):
            loose.append(item)
            continue
        if loose:
            out.append(Node("paragraph", content=_inline(loose)))
            loose = []
        if item is not None:
            out.extend(_block(item, depth))
    return out


def _block(node: Node, depth: int) -> list[Node]:
    """Repair one block node (unknown containers are replaced by their content)."""
    kind = node.type
    if kind in ("paragraph", "heading"):
        attrs = {"level": min(max(as_int(node.attrs.get("level"), 1), 1), 6)} if kind == "heading" else {}
        return [Node(kind, attrs, _inline(node.content))]
    if kind == "codeBlock":
        code = "".join(c.text if isinstance(c, Text) else "\n" for c in node.content)
        language = node.attrs.get("language")
        return [Node(kind, {"language": str(language)} if language else {}, [Text(code)] if code else [])]
    if kind == "horizontalRule":
        return [Node(kind)]
    if kind in ("bulletList", "orderedList"):
        items: list[Inline] = [_item(child, depth + 1) for child in node.content if isinstance(child, Node)]
        start = min(max(as_int(node.attrs.get("start"), 1), -999_999_999), 999_999_999)
        attrs = {"start": start} if kind == "orderedList" else {}
        return [Node(kind, attrs, items or [_item(Node("listItem"), depth + 1)])]
    if kind == "listItem":
        return _block(Node("bulletList", content=[node]), depth)
    if kind == "blockquote":
        return [Node(kind, content=cast("list[Inline]", _blocks(node.content, depth + 1) or [Node("paragraph")]))]
    return _blocks(node.content, depth + 1)


def _item(node: Node, depth: int) -> Node:
    """A list item whose first child is a paragraph, as Tiptap's `paragraph block*` demands."""
    content = _blocks(node.content if node.type == "listItem" else [node], depth + 1)
    if not content or content[0].type != "paragraph":
        content.insert(0, Node("paragraph"))
    return Node("listItem", content=cast("list[Inline]", content))


def _inline(items: list[Inline]) -> list[Inline]:
    """Keep text (with schema marks, equal neighbours merged) and hard breaks; flatten anything else."""
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Node):
            out.extend([Node("hardBreak")] if item.type == "hardBreak" else _inline(item.content))
            continue
        marks = _marks(item.marks)
        if out and isinstance(out[-1], Text) and out[-1].marks == marks:
            out[-1] = Text(out[-1].text + item.text, marks)
        elif item.text:
            out.append(Text(item.text, marks))
    return out


def _marks(marks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Encode StarterKit marks as y-prosemirror does: name -> full attrs; code excludes all others, as in Tiptap."""
    if "code" in marks:
        return {"code": {}}
    out: dict[str, dict[str, Any]] = {name: {} for name in ("bold", "italic", "strike", "underline") if name in marks}
    link = marks.get("link") or {}
    href = safe_href(link.get("href"))
    if href:  # attrs a stored link already has (a restored version) are kept, Tiptap's defaults fill the rest
        out["link"] = {"href": href, **{key: link.get(key, value) for key, value in LINK_DEFAULTS.items()}}
        out["link"]["title"] = out["link"]["title"] or None
    return out


# Markdown --------------------------------------------------------------------------------------------------------


def parse_markdown(markdown: str) -> list[Inline]:
    """Parse CommonMark (+ strikethrough, raw HTML kept as text) into nodes."""
    root = Node("doc")
    stack = [root]
    for token in _MARKDOWN.parse(_check(markdown, "Markdown")):
        if token.nesting == 1:
            node = _md_node(token)
            stack[-1].content.append(node)
            stack.append(node)
            if len(stack) > MAX_DEPTH:
                raise InvalidContent(f"The content is nested more than {MAX_DEPTH} levels deep.")
        elif token.nesting == -1:
            stack.pop()
        elif token.type == "inline":
            stack[-1].content.extend(_md_inline(token.children or []))
        elif token.type in ("fence", "code_block"):
            language = token.info.split()[0] if token.info.strip() else None
            code = token.content[:-1] if token.content.endswith("\n") else token.content
            stack[-1].content.append(Node("codeBlock", {"language": language}, [Text(code)]))
        elif token.type == "hr":
            stack[-1].content.append(Node("horizontalRule"))
    return root.content


def parse_markdown_inline(text: str) -> list[Inline]:
    """Parse one line's worth of inline Markdown into text runs and hard breaks."""
    tokens = _MARKDOWN.parseInline(text)
    return _md_inline(tokens[0].children or []) if tokens else []


def _md_node(token: Token) -> Node:
    """The node for an opening block token."""
    kind = token.type.removesuffix("_open")
    if kind == "heading":
        return Node("heading", {"level": int(token.tag[1:])})
    if kind == "ordered_list":
        return Node("orderedList", {"start": as_int(token.attrGet("start"), 1)})
    return Node(_MD_BLOCKS.get(kind, kind))


def _md_inline(tokens: list[Token]) -> list[Inline]:
    """Inline tokens to text runs with marks and hard breaks."""
    out: list[Inline] = []
    open_marks: list[tuple[str, dict[str, Any]]] = []
    for token in tokens:
        kind, marks = token.type, dict(open_marks)
        if kind.endswith("_open"):
            name = "link" if kind == "link_open" else _MD_MARKS.get(kind[:-5], "")
            attrs = {"href": token.attrGet("href"), "title": token.attrGet("title")} if name == "link" else {}
            open_marks.append((name, attrs))
        elif kind.endswith("_close"):
            name = "link" if kind == "link_close" else _MD_MARKS.get(kind[:-6], "")
            index = max((i for i, (n, _a) in enumerate(open_marks) if n == name), default=None)
            if index is not None:
                del open_marks[index]
        elif kind == "hardbreak":
            out.append(Node("hardBreak"))
        elif kind in ("text", "text_special", "html_inline", "image", "code_inline", "softbreak"):
            text = " " if kind == "softbreak" else token.content
            out.append(Text(text, {**marks, "code": {}} if kind == "code_inline" else marks))
    return out


# HTML ------------------------------------------------------------------------------------------------------------


@dataclass
class _Element:
    """A parsed HTML element."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Element | str] = field(default_factory=list)


class _Tree(HTMLParser):
    """Build an element tree, refusing absurd nesting; `loose` treats optional-end-tag elements as flat."""

    def __init__(self, loose: bool) -> None:
        """Start with an empty body."""
        super().__init__(convert_charrefs=True)
        self.loose = loose
        self.stack = [_Element("body")]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element (void elements never hold content)."""
        element = _Element(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID and not (self.loose and tag in _OPTIONAL_END):
            self.stack.append(element)
            if len(self.stack) > 2 * MAX_DEPTH:
                raise InvalidContent(f"The HTML is nested more than {2 * MAX_DEPTH} elements deep.")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closed element holds no content."""
        self.stack[-1].children.append(_Element(tag, {key: value or "" for key, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open element of this name, if any."""
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        """Keep text."""
        self.stack[-1].children.append(data)


def _parse_tree(html_text: str, loose: bool) -> _Element:
    """Parse HTML into an element tree."""
    tree = _Tree(loose)
    tree.feed(html_text)
    tree.close()
    return tree.stack[0]


def parse_html(html_text: str) -> list[Inline]:
    """Sanitise HTML with nh3 (scripts, handlers and unsafe links dropped) and parse it into nodes."""
    _parse_tree(_check(html_text, "HTML"), loose=True)  # refuse deep nesting before nh3 spends time on it
    clean = nh3.clean(html_text, attributes=_SANITIZE_ATTRIBUTES, url_schemes=set(SAFE_SCHEMES), link_rel=None)
    return _html_blocks(_parse_tree(clean, loose=False).children, {})


def _html_blocks(children: list[_Element | str], marks: dict[str, Any]) -> list[Inline]:
    """Block content: runs of inline content become paragraphs; unknown containers give their content."""
    out: list[Inline] = []
    inline: list[Inline] = []
    for child in [*children, None]:
        if isinstance(child, str) or (child is not None and child.tag in _HTML_INLINE and not _has_block(child)):
            inline.extend(_html_inline(child, marks))
            continue
        inline = _tidy(inline)
        if inline:
            out.append(Node("paragraph", content=inline))
        inline = []
        if child is not None and child.tag in _HTML_INLINE:
            out.extend(_html_blocks(child.children, _with_mark(child, marks)))
        elif child is not None:
            out.extend(_html_block(child, marks))
    return out


def _html_block(element: _Element, marks: dict[str, Any]) -> list[Inline]:
    """The node(s) for one block-level element."""
    tag = element.tag
    if tag == "p" or re.fullmatch(r"h[1-6]", tag):
        content = _tidy([i for c in element.children for i in _html_inline(c, marks)])
        return [Node("paragraph", content=content) if tag == "p" else Node("heading", {"level": int(tag[1])}, content)]
    if tag in ("ul", "ol"):
        children = [c for c in element.children if _is_element(c) or c.strip()]
        items = [c if _is_element(c) and c.tag == "li" else _Element("li", children=[c]) for c in children]
        content = [Node("listItem", content=_html_blocks(item.children, marks)) for item in items]
        attrs = {"start": as_int(element.attrs.get("start"), 1)} if tag == "ol" else {}
        return [Node("orderedList" if tag == "ol" else "bulletList", attrs, content)]
    if tag == "li":
        return _html_block(_Element("ul", children=[element]), marks)
    if tag == "blockquote":
        return [Node("blockquote", content=_html_blocks(element.children, marks))]
    if tag == "pre":
        code = _raw_text(element)
        classes = " ".join(e.attrs.get("class", "") for e in [element, *element.children] if _is_element(e))
        language = _LANGUAGE_CLASS.search(classes)
        code = code[1:] if code.startswith("\n") and isinstance(element.children[0], str) else code
        return [Node("codeBlock", {"language": language.group(1) if language else None}, [Text(code)])]
    if tag == "hr":
        return [Node("horizontalRule")]
    return _html_blocks(element.children, marks)


def _html_inline(node: _Element | str, marks: dict[str, Any]) -> list[Inline]:
    """Inline content with collapsed whitespace; block elements met here are flattened to their text."""
    if isinstance(node, str):
        return [Text(re.sub(r"[ \t\n\r\f]+", " ", node), marks)]
    if node.tag == "br":
        return [Node("hardBreak")]
    marks = _with_mark(node, marks)
    return [item for child in node.children for item in _html_inline(child, marks)]


def _with_mark(element: _Element, marks: dict[str, Any]) -> dict[str, Any]:
    """The marks in force inside an element."""
    name = _HTML_MARKS.get(element.tag)
    if name == "link":
        href = safe_href(element.attrs.get("href"))
        return {**marks, "link": {"href": href, "title": element.attrs.get("title")}} if href else marks
    return {**marks, name: {}} if name else marks


def _has_block(element: _Element) -> bool:
    """Whether an inline element wraps block-level elements."""
    return any(_is_element(c) and (c.tag not in _HTML_INLINE or _has_block(c)) for c in element.children)


def _is_element(node: Any) -> TypeIs[_Element]:
    """Whether a tree child is an element (not text)."""
    return isinstance(node, _Element)


def _raw_text(node: _Element | str) -> str:
    """All text inside an element as is, line breaks as newlines."""
    if isinstance(node, str):
        return node
    return "\n" if node.tag == "br" else "".join(_raw_text(child) for child in node.children)


def _tidy(items: list[Inline]) -> list[Inline]:
    """Drop whitespace a browser would not render: at line starts and ends, and repeated spaces."""
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Text):
            after_space = not out or isinstance(out[-1], Node) or out[-1].text.endswith(" ")
            text = item.text.lstrip(" ") if after_space else item.text
            if text:
                out.append(Text(text, item.marks))
            continue
        _strip_end(out)
        out.append(item)
    _strip_end(out)
    return out


def _strip_end(items: list[Inline]) -> None:
    """Strip trailing spaces from the last text run (removing it if it empties)."""
    if items and isinstance(items[-1], Text):
        text = items[-1].text.rstrip(" ")
        if text:
            items[-1] = Text(text, items[-1].marks)
        else:
            items.pop()
