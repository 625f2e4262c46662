"""Every node and mark of the editor's documents, declared once.

The editor (frontend/src/editor.js, Tiptap's StarterKit) defines the schema in JavaScript. This table is the
server's copy of it, written out rather than loaded from the editor because it also holds what the editor's schema
does not say: which Markdown tokens and HTML tags stand for each row, and how far attributes are trusted. The
readers, writers, the repair step, the nh3 allowlists (import and export) and the list in docs/protocol.md are
derived from it. tests/test_schema_parity.py checks it against the schema the editor builds
(frontend/scripts/dump-schema.mjs) and checks docs/protocol.md against ``describe()``.

Adding a node or mark is one row here, plus only what is truly special about it: its Markdown syntax in
``markdown_export``, and an HTML case where "its tag, with its attributes, around its content" is not enough.

(About 340 lines: the table itself is most of it, and splitting the table from the lookups derived from it would
give every fact two homes.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from documents.richtext.model import as_int, safe_href
from documents.richtext.values import flag, one_of, pixels, safe_src, widths

ROOT, TEXT = "doc", "text"  # ProseMirror's top node and text node: no XmlElement stands for either
DEFAULT_BLOCK = "paragraph"  # the block stray inline content is wrapped in, and an empty document holds
MAX_START = 999_999_999  # largest ordered list number (CommonMark allows nine digits); the bound holds both ways
MAX_SPAN = 100  # widest colspan and rowspan kept: the editor's table map has a slot for every cell a span covers


@dataclass(frozen=True)
class Attr:
    """An attribute of a node or mark: the editor's default, how far a stored value is trusted, where it is read."""

    name: str
    default: Any = None  # the editor's default, stored when the attribute is missing
    bounds: tuple[int, int] | None = None  # an integer attribute, clamped into [low, high]
    blank: bool = True  # False: text, with an empty value stored as absent (None)
    chars: str | None = None  # a regex class of the characters exports keep (others are dropped)
    html: str | None = None  # the HTML attribute it is read from (and written to, unless it has the default)
    markdown: str | None = None  # the markdown-it token attribute it is read from
    style: str | None = None  # the CSS property of the HTML style attribute (and markdown-it's) it is read from
    valid: Callable[[Any], Any] | None = None  # cleans the value; None from it drops the whole mark
    kept: bool = True  # False: the editor has it, but no import or export carries it and repair drops it
    required: bool = False  # True: a node without a usable value is dropped (an image without a safe source)

    def repaired(self, attrs: Mapping[str, Any]) -> Any:
        """The value to store, from the attrs a reader found (a missing attribute gets the default)."""
        raw = attrs.get(self.name, self.default)
        if self.valid is not None:
            return self.valid(raw)
        if self.bounds is not None:
            return min(max(as_int(raw, self.default), self.bounds[0]), self.bounds[1])
        if not self.blank:
            return str(raw) if raw else None
        return raw

    def rendered(self, attrs: Mapping[str, Any]) -> Any:
        """The value to export: repaired, then stripped to the characters exports keep."""
        value = self.repaired(attrs)
        return value if self.chars is None else re.sub(f"[^{self.chars}]", "", str(value or ""))


@dataclass(frozen=True)
class NodeSpec:
    """A node type: its ProseMirror content and group, attributes, and the HTML tags and Markdown tokens for it."""

    name: str
    content: str = ""  # the ProseMirror content expression, exactly as the editor declares it ("" for a leaf)
    group: str = ""  # the ProseMirror group(s), space-separated
    attrs: tuple[Attr, ...] = ()
    html: tuple[str, ...] = ()  # the tags read as this node; the first is the one written
    html_inner: str | None = None  # a tag written just inside the first one (``<pre><code>``)
    markdown: tuple[str, ...] = ()  # the markdown-it token types read as this node
    marks: str | None = None  # the ProseMirror marks allowed inside ("" none), when not all
    html_type: str | None = None  # the data-type attribute that tells it from another row with the same tag
    markdown_class: str | None = None  # the class a markdown-it plugin gives its token, telling it from another row
    text: str = ""  # what an inline leaf reads as in plain text ("\n": a line break, in every format)

    @cached_property
    def kind(self) -> str:
        """How repair and the renderers treat the content; see ``_KINDS``."""
        return _kind(self)[0]

    @cached_property
    def child(self) -> str:
        """The node type an "items" node holds, or an "item" node starts with."""
        return _kind(self)[1]

    @cached_property
    def block(self) -> bool:
        """Whether the node is in ProseMirror's block group."""
        return "block" in self.group.split()

    @cached_property
    def inline(self) -> bool:
        """Whether the node is in ProseMirror's inline group."""
        return "inline" in self.group.split()

    def rendered(self, name: str, attrs: Mapping[str, Any]) -> Any:
        """The value of one attribute to export, from a node's attrs."""
        return next(attr for attr in self.attrs if attr.name == name).rendered(attrs)

    def repaired_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The attrs to store (None values are not written)."""
        return {attr.name: attr.repaired(attrs) for attr in self.attrs if attr.kept}

    def usable(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a node with these attrs is kept: every required attribute has a usable value."""
        return all(attr.repaired(attrs) is not None for attr in self.attrs if attr.required)


@dataclass(frozen=True)
class MarkSpec:
    """A mark: its attributes, the HTML tags and Markdown tokens for it."""

    name: str
    attrs: tuple[Attr, ...] = ()
    html: tuple[str, ...] = ()  # the tags read as this mark; the first is the one written
    markdown: tuple[str, ...] = ()  # markdown-it token types: "<x>_open" (closed by "<x>_close") or a leaf token
    delimiter: str | None = None  # the Markdown delimiter run written on each side (emphasis-like marks)
    excludes: str | None = None  # the ProseMirror excludes ("_": no other mark goes with it)

    def repaired_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The attrs to store (None values included, as y-prosemirror writes them); None drops the mark."""
        out = {attr.name: attr.repaired(attrs) for attr in self.attrs if attr.kept}
        return None if any(a.valid and a.kept and out[a.name] is None for a in self.attrs) else out


_LEVEL = Attr("level", 1, bounds=(1, 6))
_LANGUAGE = Attr("language", blank=False, chars="A-Za-z0-9_+#.-", html="class")  # HTML spells it language-<name>
_TEXT_ALIGN = Attr("textAlign", style="text-align", valid=one_of("left", "center", "right", "justify"))
_CELL_ATTRS = (
    Attr("colspan", 1, bounds=(1, MAX_SPAN), html="colspan"),
    Attr("rowspan", 1, bounds=(1, MAX_SPAN), html="rowspan"),
    Attr("colwidth", valid=widths, html="colwidth"),
    Attr("align", style="text-align", valid=one_of("left", "center", "right")),  # a pipe table's column alignment
)
_IMAGE_ATTRS = (
    Attr("src", valid=safe_src, html="src", markdown="src", required=True),
    Attr("alt", blank=False, html="alt"),  # markdown-it gives the alt text as the token's content
    Attr("title", blank=False, html="title", markdown="title"),
    Attr("width", valid=pixels, html="width"),
    Attr("height", valid=pixels, html="height"),
)
NODES: tuple[NodeSpec, ...] = (
    NodeSpec(ROOT, "block+"),
    NodeSpec(DEFAULT_BLOCK, "inline*", "block", (_TEXT_ALIGN,), html=("p",), markdown=("paragraph_open",)),
    NodeSpec(
        "heading",
        "inline*",
        "block",
        (_TEXT_ALIGN, _LEVEL),
        html=tuple(f"h{n}" for n in range(1, 7)),
        markdown=("heading_open",),
    ),
    NodeSpec("bulletList", "listItem+", "block list", html=("ul",), markdown=("bullet_list_open",)),
    NodeSpec(
        "orderedList",
        "listItem+",
        "block list",
        (Attr("start", 1, bounds=(-MAX_START, MAX_START), html="start", markdown="start"), Attr("type", kept=False)),
        html=("ol",),
        markdown=("ordered_list_open",),
    ),
    NodeSpec("listItem", "paragraph block*", html=("li",), markdown=("list_item_open",)),
    NodeSpec("blockquote", "block+", "block", html=("blockquote",), markdown=("blockquote_open",)),
    NodeSpec("codeBlock", "text*", "block", (_LANGUAGE,), ("pre",), "code", markdown=("fence", "code_block"), marks=""),
    NodeSpec("horizontalRule", "", "block", html=("hr",), markdown=("hr",)),
    NodeSpec("hardBreak", "", "inline", html=("br",), markdown=("hardbreak",), text="\n"),
    NodeSpec(TEXT, "", "inline"),
    NodeSpec("table", "tableRow+", "block", html=("table",), html_inner="tbody", markdown=("table_open",)),
    NodeSpec("tableRow", "(tableCell | tableHeader)*", html=("tr",), markdown=("tr_open",)),
    NodeSpec("tableHeader", "block+", "", _CELL_ATTRS, html=("th",), markdown=("th_open",)),
    NodeSpec("tableCell", "block+", "", _CELL_ATTRS, html=("td",), markdown=("td_open",)),
    NodeSpec(
        "taskList",
        "taskItem+",
        "block list",
        html=("ul",),
        markdown=("bullet_list_open",),
        html_type="taskList",
        markdown_class="contains-task-list",
    ),
    NodeSpec(
        "taskItem",
        "paragraph block*",
        attrs=(Attr("checked", False, valid=flag, html="data-checked"),),
        html=("li",),
        markdown=("list_item_open",),
        html_type="taskItem",
        markdown_class="task-list-item",
    ),
    NodeSpec("image", "", "block", _IMAGE_ATTRS, html=("img",), markdown=("image",)),
)

_LINK_ATTRS = (
    Attr("href", valid=safe_href, html="href", markdown="href"),
    Attr("target", "_blank"),
    Attr("rel", "noopener noreferrer nofollow"),
    Attr("class"),
    Attr("title", blank=False, html="title", markdown="title"),
)
# Outermost first: marks that open on the same character nest in this order when rendered.
MARKS: tuple[MarkSpec, ...] = (
    MarkSpec("link", _LINK_ATTRS, html=("a",), markdown=("link_open",)),
    MarkSpec("bold", html=("strong", "b"), markdown=("strong_open",), delimiter="**"),
    MarkSpec("italic", html=("em", "i"), markdown=("em_open",), delimiter="*"),
    MarkSpec("strike", html=("s", "strike", "del"), markdown=("s_open",), delimiter="~~"),
    MarkSpec("underline", html=("u",)),  # GitHub-flavoured Markdown has no underline
    MarkSpec("highlight", html=("mark",)),  # nor highlight
    MarkSpec("code", html=("code",), markdown=("code_inline",), excludes="_"),
)

# What repair and the renderers do with each content expression; group 1 names the child node type.
_KINDS = (
    ("inline", re.compile(r"inline\*")),  # text and inline nodes
    ("plain", re.compile(r"text\*")),  # unmarked text only (with marks "")
    ("blocks", re.compile(r"block\+")),  # one or more blocks
    ("items", re.compile(r"(\w+)\+")),  # one or more of the child type
    ("row", re.compile(r"\((\w+) \| \w+\)\*")),  # cells of either type (the first is what stray content goes in)
    ("item", re.compile(r"(\w+) block\*")),  # the child type, then any blocks
    ("leaf", re.compile(r"")),  # nothing
)


def _kind(spec: NodeSpec) -> tuple[str, str]:
    """The kind of a node's content expression and its child type (``RuntimeError`` if no rule knows it)."""
    for kind, pattern in _KINDS:
        match = pattern.fullmatch(spec.content)
        if match and (kind != "plain" or spec.marks == ""):
            return kind, match.group(1) if match.groups() else ""
    raise RuntimeError(f"richtext schema: no repair rule for {spec.name}'s content {spec.content!r}")


ELEMENTS = {spec.name: spec for spec in NODES if spec.name not in (ROOT, TEXT)}  # the nodes stored as XmlElements
MARK_SPECS = {spec.name: spec for spec in MARKS}
MARK_ORDER = tuple(MARK_SPECS)
KINDS = {name: spec.kind for name, spec in ELEMENTS.items()}  # computed now: an unknown content fails at import


def element(name: str) -> NodeSpec | None:
    """The row of a node type stored as an XmlElement (None for unknown types, and for doc and text)."""
    return ELEMENTS.get(name)


def block(name: str) -> NodeSpec | None:
    """The row of a node type that stands as a block (in the block group, or a list item); None for others."""
    spec = ELEMENTS.get(name)
    return spec if spec is not None and (spec.block or spec.kind == "item") else None


def kind_of(name: str) -> str | None:
    """The content kind of a node type (None when unknown)."""
    return KINDS.get(name)


def is_inline(name: str) -> bool:
    """Whether a node type is an inline node (such as a hard break)."""
    spec = ELEMENTS.get(name)
    return spec is not None and spec.inline


def rendered(node: str, name: str, attrs: Mapping[str, Any]) -> Any:
    """The value to export of attribute ``name`` of a node of type ``node``, from its attrs."""
    return ELEMENTS[node].rendered(name, attrs)


def is_break(name: str) -> bool:
    """Whether a node type is a line break within inline content."""
    spec = ELEMENTS.get(name)
    return spec is not None and spec.inline and spec.text == "\n"


def cell_types() -> tuple[str, str]:
    """The two node types a table row holds: the plain cell (where stray content goes) and the header cell."""
    row = next(spec for spec in ELEMENTS.values() if spec.kind == "row")
    cell, header = re.findall(r"\w+", row.content)
    return cell, header


def list_of(item: str) -> str:
    """The first node type (in table order) that holds items of this type: where a stray item goes."""
    return next(spec.name for spec in ELEMENTS.values() if spec.kind == "items" and spec.child == item)


# Rows told apart by a data-type (HTML) or a plugin's class (Markdown) are looked up by it; the others by tag or token.
NODE_BY_TAG = {tag: spec for spec in ELEMENTS.values() if not spec.html_type for tag in spec.html}
NODE_BY_TYPE = {spec.html_type: spec for spec in ELEMENTS.values() if spec.html_type}
NODE_BY_TOKEN = {token: spec for spec in ELEMENTS.values() if not spec.markdown_class for token in spec.markdown}
NODE_BY_CLASS = {spec.markdown_class: spec for spec in ELEMENTS.values() if spec.markdown_class}
MARK_BY_TAG = {tag: spec for spec in MARKS for tag in spec.html}
MARK_BY_TOKEN = {token: spec for spec in MARKS for token in spec.markdown}


def node_for_tag(tag: str, data_type: str | None) -> NodeSpec | None:
    """The row an HTML element stands for: by its data-type when a row claims it for this tag, else by its tag."""
    spec = NODE_BY_TYPE.get(data_type or "")
    return spec if spec is not None and tag in spec.html else NODE_BY_TAG.get(tag)


def node_for_token(token: str, classes: str | None) -> NodeSpec | None:
    """The row a markdown-it token stands for: by a plugin's class when a row claims it for this token, else by type."""
    spec = NODE_BY_CLASS.get(classes or "")
    return spec if spec is not None and token in spec.markdown else NODE_BY_TOKEN.get(token)


def _tags(spec: NodeSpec | MarkSpec) -> tuple[str, ...]:
    """Every tag a row reads or writes."""
    inner = spec.html_inner if isinstance(spec, NodeSpec) else None
    return (*spec.html, inner) if inner else spec.html


# The nh3 allowlists. Exports allow the table's tags; imports allow nh3's default (safe) tags, whose structure the
# HTML reader uses (a <div> still separates paragraphs). Both allow only the attributes the table reads.
_ROWS: tuple[NodeSpec | MarkSpec, ...] = (*ELEMENTS.values(), *MARKS)
HTML_TAGS = frozenset(tag for spec in _ROWS for tag in _tags(spec))
_READ = {tag: [a for spec in _ROWS if tag in _tags(spec) for a in spec.attrs if a.kept] for tag in sorted(HTML_TAGS)}
HTML_ATTRIBUTES = {
    tag: names
    for tag, attrs in _READ.items()
    if (names := {n for a in attrs for n in (a.html, a.style and "style") if n})
}
# Attributes allowed with given values only: a row's data-type, and the one CSS property rows read from style.
HTML_ATTRIBUTE_VALUES = {
    tag: {"data-type": {name for name, spec in NODE_BY_TYPE.items() if tag in spec.html}}
    for tag in sorted({tag for spec in NODE_BY_TYPE.values() for tag in spec.html})
}
STYLE_PROPERTIES = frozenset(attr.style for spec in _ROWS for attr in spec.attrs if attr.style)


def describe() -> str:
    """The nodes and marks with their attributes, as docs/protocol.md lists them."""

    def one(spec: NodeSpec | MarkSpec) -> str:
        attrs = ", ".join(f"`{attr.name}`" for attr in spec.attrs if attr.kept)
        return f"`{spec.name}` ({attrs})" if attrs else f"`{spec.name}`"

    return f"nodes {', '.join(map(one, ELEMENTS.values()))}; marks {', '.join(map(one, MARKS))}"
