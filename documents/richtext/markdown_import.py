"""Import GitHub-flavoured Markdown with markdown-it-py: tokens become nodes by ``schema``'s token names.

CommonMark plus GitHub's strikethrough, pipe tables and task lists (``mdit_py_plugins.tasklists``). markdown-it-py
is the CommonMark reference parser's port, so what the export writes reads back exactly; raw HTML is disabled (it
stays text) and nesting is limited before the parser recurses far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pycrdt
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.tasklists import tasklists_plugin

from documents.richtext import schema
from documents.richtext.model import MAX_DEPTH, Inline, Node, Text, checked_input, too_deep
from documents.richtext.values import style_value
from documents.richtext.yxml import write_nodes

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "maxNesting": 2 * MAX_DEPTH}).enable(["strikethrough", "table"])
_MARKDOWN.use(tasklists_plugin)
_TEXT_TOKENS = ("text", "text_special", "html_inline", "softbreak")  # softbreak reads as a space
_SECTIONS = ("thead_open", "thead_close", "tbody_open", "tbody_close")  # a table's rows are its content directly
_CHECKBOX = "task-list-item-checkbox"  # the class of the raw <input> the task list plugin puts first in an item


def write_markdown(fragment: pycrdt.XmlFragment, markdown: str) -> None:
    """Replace the fragment's whole content with parsed CommonMark; raises InvalidContent for unusable input."""
    write_nodes(fragment, parse_markdown(markdown))


def parse_markdown(markdown: str) -> list[Inline]:
    """Parse CommonMark (+ strikethrough, raw HTML kept as text) into nodes."""
    root = Node(schema.ROOT)
    stack = [root]
    for token in _MARKDOWN.parse(checked_input(markdown, "Markdown")):
        if token.type in _SECTIONS:
            continue
        if token.nesting == 1:
            node = _open_node(token)
            stack[-1].content.append(node)
            stack.append(node)
            if len(stack) > MAX_DEPTH:
                raise too_deep()
        elif token.nesting == -1:
            stack.pop()
        elif token.type == "inline":
            stack[-1].content.extend(_inline(_task_box(stack, token.children or [])))
        elif (spec := schema.NODE_BY_TOKEN.get(token.type)) is not None:
            stack[-1].content.append(_leaf_node(spec, token))
    return root.content


def parse_markdown_inline(text: str) -> list[Inline]:
    """Parse one line's worth of inline Markdown into text runs and hard breaks."""
    tokens = _MARKDOWN.parseInline(text)
    return _inline(tokens[0].children or []) if tokens else []


def _attrs(spec: schema.NodeSpec | schema.MarkSpec, token: Token) -> dict[str, Any]:
    """The attrs the table reads from a token's attributes, as they are (repair cleans them)."""
    return {attr.name: token.attrGet(attr.markdown) for attr in spec.attrs if attr.markdown}


def _open_node(token: Token) -> Node:
    """The node for an opening block token (an unknown one gives a container that repair flattens)."""
    spec = schema.node_for_token(token.type, str(token.attrGet("class") or ""))
    if spec is None:
        return Node(token.type.removesuffix("_open"))
    read = _ATTRS_FROM_TAG.get(spec.name)
    attrs = read(token.tag) if read else _attrs(spec, token)
    attrs |= {a.name: style_value(str(token.attrGet("style") or ""), a.style) for a in spec.attrs if a.style}
    return Node(spec.name, spec.repaired_attrs(attrs))


def _task_box(stack: list[Node], children: list[Token]) -> list[Token]:
    """The first line of a task item without its checkbox, which becomes the item's ``checked`` attribute."""
    item = stack[-2] if len(stack) > 1 and not stack[-2].content[:-1] else None  # the paragraph is its first block
    spec = schema.element(item.type) if item is not None else None
    box = children[0] if children and children[0].type == "html_inline" and _CHECKBOX in children[0].content else None
    if item is None or spec is None or not spec.markdown_class or box is None:
        return children
    item.attrs["checked"] = 'checked="checked"' in box.content
    rest = children[1:]
    if rest and rest[0].type == "text":
        rest[0].content = rest[0].content.removeprefix(" ")
    return rest


# Attributes that markdown-it gives as the token's HTML tag rather than as attributes.
_ATTRS_FROM_TAG: dict[str, Callable[[str], dict[str, Any]]] = {"heading": lambda tag: {"level": int(tag[1:])}}


def _leaf_node(spec: schema.NodeSpec, token: Token) -> Node:
    """The node for a block token without children: a code block holds its text, a leaf is empty."""
    if spec.kind != "plain":
        return Node(spec.name)
    language = token.info.split()[0] if token.info.strip() else None
    code = token.content[:-1] if token.content.endswith("\n") else token.content
    return Node(spec.name, {"language": language}, [Text(code)])


def _inline(tokens: list[Token]) -> list[Inline]:
    """Inline tokens to text runs with marks and inline nodes (hard breaks)."""
    out: list[Inline] = []
    open_marks: list[tuple[str, dict[str, Any]]] = []
    for token in tokens:
        kind, marks = token.type, dict(open_marks)
        if kind.endswith("_open"):
            spec = schema.MARK_BY_TOKEN.get(kind)
            open_marks.append((spec.name, _attrs(spec, token)) if spec else ("", {}))
        elif kind.endswith("_close"):
            spec = schema.MARK_BY_TOKEN.get(kind.removesuffix("_close") + "_open")
            name = spec.name if spec else ""
            index = max((i for i, (n, _a) in enumerate(open_marks) if n == name), default=None)
            if index is not None:
                del open_marks[index]
        elif (node := schema.NODE_BY_TOKEN.get(kind)) is not None and node.inline:
            out.append(Node(node.name))
        elif node is not None:  # a block leaf written inline (an image), which repair moves out of the paragraph
            alt = "".join(c.text for c in _inline(token.children or []) if isinstance(c, Text))
            out.append(Node(node.name, {**_attrs(node, token), "alt": alt}))
        elif (mark := schema.MARK_BY_TOKEN.get(kind)) is not None:  # a leaf token that is marked text: a code span
            out.append(Text(token.content, {**marks, mark.name: {}}))
        elif kind in _TEXT_TOKENS:
            out.append(Text(" " if kind == "softbreak" else token.content, marks))
    return out
