"""Import HTML: sanitised by nh3, parsed with the standard library's html.parser, mapped to nodes by ``schema``.

nh3 (ammonia) removes scripts, event handlers and unsafe links and keeps only the attributes the table reads.
The mapping from elements to nodes is written here because ProseMirror's own (DOMParser) is JavaScript and needs a
DOM. The input is parsed twice: first loosely (elements with optional end tags, such as <p> and <li>, taken as
flat) only to refuse absurd nesting before nh3 spends time on it, then, once clean, into the tree that is mapped.
Tags map as the table says; elements it lacks give their content (phrasing ones as inline content, others as
blocks), the way a browser shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import nh3
import pycrdt

from documents.richtext import schema
from documents.richtext.model import MAX_DEPTH, SAFE_SCHEMES, Inline, Node, Text, checked_input, too_deep
from documents.richtext.values import style_value
from documents.richtext.yxml import write_nodes

if TYPE_CHECKING:
    from typing_extensions import TypeIs

# Phrasing elements beyond the table's (their content is inline), void elements and optional end tags: HTML's rules.
_PHRASING = {"span", "ins", "sub", "sup", "small", "big", "abbr", "acronym", "cite", "q", "kbd", "samp"}
_PHRASING |= {"var", "tt", "dfn", "time", "data", "bdi", "bdo", "font", "img", "wbr", "label", "ruby", "rt", "rp"}
_PHRASING |= {"rtc"}
_INLINE = {*schema.MARK_BY_TAG, *(tag for tag, spec in schema.NODE_BY_TAG.items() if spec.inline), *_PHRASING}
_VOID = {"br", "hr", "img", "wbr", "area", "col", "input", "meta", "link", "source", "embed", "param", "track", "base"}
_OPTIONAL_END = {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "rb", "rt"}
_OPTIONAL_END |= {"rtc", "rp", "colgroup", "caption"}
_LANGUAGE_CLASS = re.compile(r"(?:^|\s)language-(\S+)")


def write_html(fragment: pycrdt.XmlFragment, html_text: str) -> None:
    """Replace the fragment's whole content with sanitised, parsed HTML; raises InvalidContent for unusable input."""
    write_nodes(fragment, parse_html(html_text))


def parse_html(html_text: str) -> list[Inline]:
    """Sanitise HTML with nh3 (scripts, handlers and unsafe links dropped) and parse it into nodes."""
    _parse_tree(checked_input(html_text, "HTML"), loose=True)  # refuse deep nesting before nh3 spends time on it
    clean = nh3.clean(
        html_text,
        attributes=schema.HTML_ATTRIBUTES,
        tag_attribute_values=schema.HTML_ATTRIBUTE_VALUES,
        filter_style_properties=set(schema.STYLE_PROPERTIES),
        url_schemes=set(SAFE_SCHEMES),
        link_rel=None,
    )
    return _blocks(_parse_tree(clean, loose=False).children, {})


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
                raise too_deep(2 * MAX_DEPTH, "HTML", "elements")

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


def _blocks(children: list[_Element | str], marks: dict[str, Any]) -> list[Inline]:
    """Block content: runs of inline content become paragraphs; unknown containers give their content."""
    out: list[Inline] = []
    inline: list[Inline] = []
    for child in [*children, None]:
        if isinstance(child, str) or (child is not None and child.tag in _INLINE and not _has_block(child)):
            inline.extend(_inline(child, marks))
            continue
        inline = _tidy(inline)
        if inline:
            out.append(Node(schema.DEFAULT_BLOCK, content=inline))
        inline = []
        if child is not None and child.tag in _INLINE:
            out.extend(_blocks(child.children, _with_mark(child, marks)))
        elif child is not None:
            out.extend(_block(child, marks))
    return out


def _spec(element: _Element) -> schema.NodeSpec | None:
    """The row an element stands for (by its data-type where rows share a tag)."""
    return schema.node_for_tag(element.tag, element.attrs.get("data-type"))


def _attrs(spec: schema.NodeSpec, element: _Element) -> dict[str, Any]:
    """The attrs the row reads from the element's attributes (and its style), repaired."""
    read = _ATTRS_FROM_TAG.get(spec.name)
    attrs: dict[str, Any] = {attr.name: element.attrs.get(attr.html) for attr in spec.attrs if attr.html}
    attrs |= {a.name: style_value(element.attrs.get("style"), a.style) for a in spec.attrs if a.style}
    return spec.repaired_attrs(attrs | read(element.tag) if read else attrs)


def _block(element: _Element, marks: dict[str, Any]) -> list[Inline]:
    """The node(s) for one block-level element."""
    spec = _spec(element)
    if spec is None:
        return _blocks(element.children, marks)
    attrs = _attrs(spec, element)
    if spec.kind == "inline":
        return [Node(spec.name, attrs, _tidy([i for c in element.children for i in _inline(c, marks)]))]
    if spec.kind == "items":
        child = schema.ELEMENTS[spec.child]
        items = [
            c if _is_element(c) and c.tag == child.html[0] else _Element(child.html[0], children=[c])
            for c in _items(element)
        ]
        return [Node(spec.name, attrs, [Node(spec.child, _attrs(child, i), _blocks(i.children, marks)) for i in items])]
    if spec.kind == "item":
        return _block(_Element(schema.ELEMENTS[schema.list_of(spec.name)].html[0], children=[element]), marks)
    if spec.kind == "blocks":
        return [Node(spec.name, attrs, _blocks(element.children, marks))]
    if spec.kind == "plain":
        return [_code(spec, element)]
    return [Node(spec.name, attrs)]  # a leaf


# Attributes that HTML spells in the tag name rather than as attributes.
_ATTRS_FROM_TAG: dict[str, Callable[[str], dict[str, Any]]] = {"heading": lambda tag: {"level": int(tag[1])}}


def _items(element: _Element) -> list[_Element | str]:
    """A list's or table's items: elements the table lacks between them and it give their own (a table's <tbody>),
    and empty ones (a <colgroup>'s <col>) nothing."""
    out: list[_Element | str] = []
    for child in element.children:
        if _is_element(child) and _spec(child) is None and child.tag not in _INLINE:
            out.extend(_items(child))
        elif _is_element(child) or child.strip():
            out.append(child)
    return out


def _code(spec: schema.NodeSpec, element: _Element) -> Node:
    """A code block: the text as is, without the newline that may follow <pre>; language-* class names its language."""
    code = _raw_text(element)
    classes = " ".join(e.attrs.get("class", "") for e in [element, *element.children] if _is_element(e))
    language = _LANGUAGE_CLASS.search(classes)
    code = code[1:] if code.startswith("\n") and isinstance(element.children[0], str) else code
    return Node(spec.name, {"language": language.group(1) if language else None}, [Text(code)])


def _inline(node: _Element | str, marks: dict[str, Any]) -> list[Inline]:
    """Inline content with collapsed whitespace; block elements met here are flattened to their text."""
    if isinstance(node, str):
        return [Text(re.sub(r"[ \t\n\r\f]+", " ", node), marks)]
    spec = _spec(node)
    if spec is not None and (spec.inline or spec.kind == "leaf"):  # a block leaf here (<img>) is moved out by repair
        return [Node(spec.name, _attrs(spec, node))]
    marks = _with_mark(node, marks)
    return [item for child in node.children for item in _inline(child, marks)]


def _with_mark(element: _Element, marks: dict[str, Any]) -> dict[str, Any]:
    """The marks in force inside an element (a mark whose attributes are not valid, such as an unsafe link, is not)."""
    spec = schema.MARK_BY_TAG.get(element.tag)
    if spec is None:
        return marks
    attrs = spec.repaired_attrs({attr.name: element.attrs.get(attr.html) for attr in spec.attrs if attr.html})
    return marks if attrs is None else {**marks, spec.name: attrs}


def _has_block(element: _Element) -> bool:
    """Whether an inline element wraps block-level elements."""
    return any(_is_element(c) and (c.tag not in _INLINE or _has_block(c)) for c in element.children)


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
