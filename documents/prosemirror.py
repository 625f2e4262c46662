"""Read the Tiptap/ProseMirror document held in a pycrdt XmlFragment and render it as text, Markdown or HTML.

The Yjs encoding is the one y-prosemirror (``@tiptap/y-tiptap``) uses: every node is an ``XmlElement`` named after
the node type whose attributes are the node attrs (``None`` attrs omitted, numbers stored as numbers), and each run
of text is an ``XmlText`` whose formatting attributes are the marks: mark name -> the mark's attrs object, e.g.
``{"bold": {}}`` or ``{"link": {"href": ..., "target": "_blank", ...}}``. Writing lives in ``prosemirror_write``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import nh3
import pycrdt

FRAGMENT_NAME = "default"
MAX_DEPTH = 50  # deepest node nesting accepted on import; reading stops descending a little further down
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
MARK_ORDER = ("link", "bold", "italic", "strike", "underline", "code")  # outermost first
LINK_DEFAULTS = {"target": "_blank", "rel": "noopener noreferrer nofollow", "class": None, "title": None}
HTML_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "hr", "br"}
HTML_TAGS |= {"strong", "em", "s", "u", "a"}
HTML_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "code": {"class"}}
_HASHED_MARK = re.compile(r"(.*)--[a-zA-Z0-9+/=]{8}$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LANGUAGE = re.compile(r"[^A-Za-z0-9_+#.-]")


@dataclass
class Text:
    """A run of text with its marks (mark name -> mark attrs)."""

    text: str
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Node:
    """A ProseMirror node: type name, attrs and content (nodes or text runs)."""

    type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    content: list[Node | Text] = field(default_factory=list)


Inline = Text | Node
Mark = tuple[str, tuple[tuple[str, Any], ...]]


def fragment_of(doc: pycrdt.Doc) -> pycrdt.XmlFragment:
    """Return the document's shared XmlFragment that the Tiptap Collaboration extension edits."""
    return doc.get(FRAGMENT_NAME, type=pycrdt.XmlFragment)


def safe_href(href: Any) -> str | None:
    """Return the href if it is relative or uses http/https/mailto, else None."""
    if not isinstance(href, str):
        return None
    href = href.strip()
    probe = re.sub(r"[\x00-\x20\x7f]", "", href)
    match = _SCHEME.match(probe)
    if not href or (match and match.group(1).lower() not in SAFE_SCHEMES):
        return None
    return href


def as_int(value: Any, default: int) -> int:
    """Coerce a node attr (Yjs numbers arrive as floats, or strings from other writers) to an int."""
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


# Reading the fragment --------------------------------------------------------------------------------------------


def read_nodes(fragment: pycrdt.XmlFragment) -> list[Node]:
    """Read the fragment's content into Node/Text trees (top-level stray text is wrapped in a paragraph)."""
    with fragment.doc.transaction():
        content = _read_children(fragment, 0)
    blocks: list[Node] = []
    loose: list[Inline] = []
    for item in [*content, None]:
        if isinstance(item, Text):
            loose.append(item)
            continue
        if loose:
            blocks.append(Node("paragraph", content=loose))
            loose = []
        if item is not None:
            blocks.append(item)
    return blocks


def _read_children(xml: Any, depth: int) -> list[Inline]:
    """Read the children of a fragment or element."""
    out: list[Inline] = []
    if depth > 2 * MAX_DEPTH:
        return out
    for child in xml.children:
        if isinstance(child, pycrdt.XmlText):
            out.extend(_read_text(child))
        elif isinstance(child, pycrdt.XmlElement):
            # pycrdt annotates XmlAttributesView.__iter__ as returning Iterable rather than Iterator
            attrs = {key: _plain(value) for key, value in child.attributes if value is not None}  # type: ignore[attr-defined]
            out.append(Node(child.tag or "paragraph", attrs, _read_children(child, depth + 1)))
        else:
            out.extend(_read_children(child, depth + 1))
    return out


def _read_text(xml_text: pycrdt.XmlText) -> list[Text]:
    """Read an XmlText's formatted runs; embeds are skipped."""
    runs = []
    for value, attrs in xml_text.diff():
        if isinstance(value, str) and value:
            marks = {_HASHED_MARK.sub(r"\1", key): v if isinstance(v, dict) else {} for key, v in (attrs or {}).items()}
            runs.append(Text(value, {k: v for k, v in marks.items() if v is not None}))
    return runs


def _plain(value: Any) -> Any:
    """Turn integral floats (how Yjs numbers arrive) back into ints."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Plain text ------------------------------------------------------------------------------------------------------


def to_text(fragment: pycrdt.XmlFragment) -> str:
    """Plain text: one line per paragraph-like block, hard breaks as newlines, rules as empty lines."""
    return "\n".join(_text_block(node) for node in read_nodes(fragment))


def _text_block(node: Node) -> str:
    """Plain text of one block."""
    if node.type == "horizontalRule":
        return ""
    if node.type in ("paragraph", "heading", "codeBlock") or any(isinstance(c, Text) for c in node.content):
        return _text_inline(node.content)
    return "\n".join(_text_block(c) for c in node.content if isinstance(c, Node))


def _text_inline(content: Sequence[Inline]) -> str:
    """Plain text of inline content."""
    return "".join(c.text if isinstance(c, Text) else "\n" if c.type == "hardBreak" else "" for c in content)


# Inline runs shared by the Markdown and HTML renderers ------------------------------------------------------------


def _runs(content: Sequence[Inline]) -> list[tuple[str | None, tuple[Mark, ...]]]:
    """Merge inline content into (text, marks) runs; a hard break is a (None, ()) run."""
    runs: list[tuple[str | None, tuple[Mark, ...]]] = []
    for item in content:
        if isinstance(item, Node):
            if item.type == "hardBreak":
                runs.append((None, ()))
            continue
        marks = tuple(sorted(((n, tuple(sorted(a.items()))) for n, a in item.marks.items() if n in MARK_ORDER)))
        if runs and runs[-1][0] is not None and runs[-1][1] == marks:
            runs[-1] = (runs[-1][0] + item.text, marks)
        elif item.text:
            runs.append((item.text, marks))
    return runs


def _order(runs: list[tuple[str | None, tuple[Mark, ...]]], i: int, active: list[Mark]) -> tuple[list[Mark], int]:
    """Order run i's marks (and count those kept open): open ones keep their place, new ones open longest first."""
    marks = runs[i][1]
    kept = active[: next((k for k, m in enumerate(active) if m not in marks), len(active))]

    def reach(mark: Mark) -> int:
        """Index of the first run from i on that lacks the mark."""
        return next((j for j in range(i, len(runs)) if mark not in runs[j][1]), len(runs))

    new = sorted((m for m in marks if m not in kept), key=lambda m: (-reach(m), MARK_ORDER.index(m[0])))
    return kept + new, len(kept)


def _render_runs(runs: list, opener: Callable, closer: Callable, text: Callable, brk: str) -> str:
    """Render runs, opening and closing marks as a properly nested stack."""
    out: list[str] = []
    active: list[Mark] = []
    for i, (chunk, _marks) in enumerate(runs):
        wanted, keep = _order(runs, i, active)
        out.extend(closer(m) for m in reversed(active[keep:]))
        out.extend(opener(m) for m in wanted[keep:])
        active = wanted
        out.append(brk if chunk is None else text(chunk, dict(wanted)))
    out.extend(closer(m) for m in reversed(active))
    return "".join(out)


# Markdown --------------------------------------------------------------------------------------------------------

_MD_ESCAPE = re.compile(r"[\\`*_\[\]<~]|&(?=#?[0-9A-Za-z]+;)")
_MD_BLOCK_START = re.compile(r"^(?:[#>+=-]|\d+(?=[.)]))")
_MD_DELIMITERS = {"bold": "**", "italic": "*", "strike": "~~"}
_MD_MARKS = ("link", "bold", "italic", "strike", "code")  # underline has no Markdown
_BAD_ENTITIES = {0x0B, 0x85, *range(0x1C, 0x20)}  # whitespace that Markdown character references cannot spell


def to_markdown(fragment: pycrdt.XmlFragment) -> str:
    """CommonMark (+ ~~strikethrough~~) for the document, ending with a newline unless empty."""
    body = _md_blocks(read_nodes(fragment))
    return body + "\n" if body else ""


def _md_blocks(nodes: Sequence[Inline]) -> str:
    """Blocks separated by blank lines; a list right after a list of its kind switches marker to stay apart."""
    parts: list[str] = []
    previous, alternate = None, False
    for node in nodes:
        flip = isinstance(node, Node) and previous == node.type and not alternate
        text = _md_block(node, flip) if isinstance(node, Node) else ""
        if text:  # empty paragraphs have no Markdown
            parts.append(text)
            previous, alternate = cast(Node, node).type, flip  # only a Node gives text
    return "\n\n".join(parts)


def _md_block(node: Node, alternate: bool = False) -> str:
    """Markdown for one block node."""
    kind = node.type
    if kind == "heading":
        level = min(max(as_int(node.attrs.get("level"), 1), 1), 6)
        content = [c if isinstance(c, Text) else Text(" ") for c in node.content]  # no line breaks in a heading
        text = re.sub(r"(^|\s)(#+)$", r"\1\\\2", _md_inline(content))
        return "#" * level + (" " + text if text else "")
    if kind in ("bulletList", "orderedList"):
        return _md_list(node, alternate)
    if kind == "blockquote":
        return "\n".join("> " + line if line else ">" for line in _md_blocks(node.content).split("\n"))
    if kind == "codeBlock":
        return _md_code(node)
    if kind == "horizontalRule":
        return "---"
    if kind == "paragraph" or any(isinstance(c, Text) for c in node.content):
        return _md_inline(node.content)
    return _md_blocks(node.content)


def _md_list(node: Node, alternate: bool) -> str:
    """A bullet or ordered list; item content is indented under its marker."""
    start = min(max(as_int(node.attrs.get("start"), 1), 0), 999_999_999)
    lines = []
    for number, item in enumerate((c for c in node.content if isinstance(c, Node)), start):
        bullet = "* " if alternate else "- "
        marker = f"{number}{')' if alternate else '.'} " if node.type == "orderedList" else bullet
        lines.append(re.sub(r"^(\S+) (?=\n|$)", r"\1", marker + _indent(_md_item(item), len(marker))))
    return "\n".join(lines)


def _md_item(item: Node) -> str:
    """The blocks of a list item: a nested list follows its paragraph directly (tight list)."""
    out = ""
    for index, child in enumerate(c for c in item.content if isinstance(c, Node)):
        if index and child.type == "paragraph" and not child.content:
            continue
        text = _md_block(child)
        out += ("\n" if child.type.endswith("List") else "\n\n") + text if index else text
    return out


def _indent(text: str, width: int) -> str:
    """Indent every line but the first by width spaces, leaving blank lines blank."""
    return "\n".join(" " * width + line if line and index else line for index, line in enumerate(text.split("\n")))


def _md_code(node: Node) -> str:
    """A fenced code block, the fence longer than any backtick run inside."""
    code = _text_inline(node.content)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"^ {0,3}(`+)", code, re.M)), default=0))
    language = _LANGUAGE.sub("", str(node.attrs.get("language") or ""))
    return f"{fence}{language}\n{code}\n{fence}" if code else f"{fence}{language}\n{fence}"


def _md_inline(content: Sequence[Inline]) -> str:
    """Inline Markdown, checked by parsing it back: emphasis CommonMark cannot express is dropped, never the text."""
    while content and isinstance(content[-1], Node) and content[-1].type == "hardBreak":
        content = content[:-1]
    runs = _shift_spaces([(chunk, tuple(m for m in marks if m[0] in _MD_MARKS)) for chunk, marks in _runs(content)])
    while True:
        text = _render_runs(runs, _md_open, _md_close, _md_text, "\\\n")
        text = "\n".join(_md_guard(line) for line in text.split("\n"))
        index = _md_mismatch(text, runs)
        plainer = None if index is None else _plainer(runs, index)
        if plainer is None:  # round-trips, or plain text with characters Markdown cannot spell
            return text
        runs = _shift_spaces(plainer)


def _md_mismatch(text: str, runs: list) -> int | None:
    """Index of the first run whose characters or mark names do not come back from parsing the Markdown."""
    from .prosemirror_write import parse_markdown_inline

    parsed: list[tuple[str, frozenset[str]]] = []
    for item in parse_markdown_inline(text):
        names = frozenset(n for n in item.marks if n in _MD_MARKS) if isinstance(item, Text) else frozenset()
        parsed.extend((c, names) for c in (item.text if isinstance(item, Text) else "\n"))
    wanted = [(c, frozenset(m[0] for m in marks), i) for i, (chunk, marks) in enumerate(runs) for c in chunk or "\n"]
    for position, want in enumerate(wanted):
        if position >= len(parsed) or parsed[position] != want[:2]:
            return want[2]
    return len(runs) - 1 if len(parsed) > len(wanted) else None


def _plainer(runs: list, index: int) -> list | None:
    """Drop the emphasis (else all marks) of the first marked run at, before or after index; None if none is."""
    for i in (index, index - 1, index + 1, *range(len(runs))):
        if 0 <= i < len(runs) and runs[i][1]:
            rest = tuple(m for m in runs[i][1] if m[0] not in _MD_DELIMITERS)
            return [*runs[:i], (runs[i][0], rest if rest != runs[i][1] else ()), *runs[i + 1 :]]
    return None


def _shift_spaces(runs: list) -> list:
    """Move whitespace at the edges of emphasis outside its delimiters, as CommonMark flanking rules need."""
    return _reversed(_shift_leading(_reversed(_shift_leading(runs))))


def _reversed(runs: list) -> list:
    """The runs back to front, each text reversed too (so trailing whitespace becomes leading)."""
    return [(None if chunk is None else chunk[::-1], marks) for chunk, marks in reversed(runs)]


def _shift_leading(runs: list) -> list:
    """Move leading whitespace out of emphasis that opens on it, merging runs that end up alike."""
    out: list = []
    for chunk, marks in runs:
        before = out[-1][1] if out else ()
        if chunk is not None and any(m[0] in _MD_DELIMITERS and m not in before for m in marks):
            lead = chunk[: len(chunk) - len(chunk.lstrip())]
            pieces = [
                (lead, tuple(m for m in marks if m in before or m[0] not in _MD_DELIMITERS)),
                (chunk[len(lead) :], marks),
            ]
        else:
            pieces = [(chunk, marks)]
        for piece in pieces:
            if piece[0] and out and out[-1][0] is not None and out[-1][1] == piece[1]:
                out[-1] = (out[-1][0] + piece[0], piece[1])
            elif piece[0] or piece[0] is None:
                out.append(piece)
    return out


def _md_open(mark: Mark) -> str:
    """Opening delimiter of a mark (nothing for a link whose href is unsafe)."""
    if mark[0] == "link":
        return "[" if safe_href(dict(mark[1]).get("href")) else ""
    return _MD_DELIMITERS.get(mark[0], "")


def _md_close(mark: Mark) -> str:
    """Closing delimiter of a mark; a link closes with its destination and optional title."""
    if mark[0] != "link":
        return _MD_DELIMITERS.get(mark[0], "")
    attrs = dict(mark[1])
    href = safe_href(attrs.get("href"))
    if not href:
        return ""
    dest = re.sub(r"[\\()]", r"\\\g<0>", re.sub(r"[\x00-\x20\x7f<>]", lambda m: f"%{ord(m.group(0)):02X}", href))
    title = re.sub(r'[\\"]', r"\\\g<0>", str(attrs.get("title") or "")).replace("\n", " ")
    return f']({dest} "{title}")' if title else f"]({dest})"


def _md_text(chunk: str, marks: dict[str, Any]) -> str:
    """Escape text for Markdown, or emit a code span for code-marked text."""
    if "code" not in marks:
        escaped = _MD_ESCAPE.sub(lambda m: "\\" + m.group(0), chunk)
        return escaped.replace("\n", "&#10;").replace("\r", "&#13;")
    code = chunk.replace("\n", " ")
    ticks = "`" * (1 + max((len(run) for run in re.findall(r"`+", code)), default=0))
    pad = " " if code[0] == "`" or code[-1] == "`" or (code[0] == code[-1] == " " and code.strip(" ")) else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _md_guard(line: str) -> str:
    """Spell a line's edge whitespace as entities and escape a start that Markdown would read as block syntax."""
    body = line.strip()
    start = line.index(body[0]) if body else len(line)
    lead, trail = line[:start], line[start + len(body) :]
    body = _MD_BLOCK_START.sub(lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), body)
    return "".join(map(_entity, lead)) + body + "".join(map(_entity, trail))


def _entity(char: str) -> str:
    """A numeric character reference for a whitespace character (kept raw if Markdown has no reference for it)."""
    return char if ord(char) in _BAD_ENTITIES else f"&#{ord(char)};"


# HTML ------------------------------------------------------------------------------------------------------------

_HTML_MARKS = {"bold": "strong", "italic": "em", "strike": "s", "underline": "u", "code": "code"}


def to_html(fragment: pycrdt.XmlFragment) -> str:
    """HTML like Tiptap's getHTML(), limited by nh3 to the document's tags, attributes and link schemes."""
    raw = "".join(_html_block(node) for node in read_nodes(fragment))
    return nh3.clean(raw, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, url_schemes=set(SAFE_SCHEMES), link_rel=None)


def _html_block(node: Node) -> str:
    """HTML for one block node."""
    kind, inner = node.type, "".join(_html_block(c) for c in node.content if isinstance(c, Node))
    if kind == "heading":
        level = min(max(as_int(node.attrs.get("level"), 1), 1), 6)
        return f"<h{level}>{_html_inline(node.content)}</h{level}>"
    if kind == "orderedList":
        start = as_int(node.attrs.get("start"), 1)
        return f'<ol start="{start}">{inner}</ol>' if start != 1 else f"<ol>{inner}</ol>"
    if kind in ("bulletList", "listItem", "blockquote"):
        tag = {"bulletList": "ul", "listItem": "li", "blockquote": "blockquote"}[kind]
        return f"<{tag}>{inner}</{tag}>"
    if kind == "codeBlock":
        language = _LANGUAGE.sub("", str(node.attrs.get("language") or ""))
        attr = f' class="language-{language}"' if language else ""
        return f"<pre><code{attr}>{html.escape(_text_inline(node.content), quote=False)}</code></pre>"
    if kind == "horizontalRule":
        return "<hr>"
    if kind == "paragraph" or any(isinstance(c, Text) for c in node.content):
        return f"<p>{_html_inline(node.content)}</p>"
    return inner


def _html_inline(content: Sequence[Inline]) -> str:
    """Inline HTML with properly nested mark elements."""
    return _render_runs(_runs(content), _html_open, _html_close, lambda chunk, _m: html.escape(chunk, False), "<br>")


def _html_open(mark: Mark) -> str:
    """Start tag for a mark (nothing for a link whose href is unsafe)."""
    if mark[0] == "link":
        href = safe_href(dict(mark[1]).get("href"))
        return f'<a href="{html.escape(href)}">' if href else ""
    return f"<{_HTML_MARKS[mark[0]]}>"


def _html_close(mark: Mark) -> str:
    """End tag for a mark."""
    if mark[0] == "link":
        return "</a>" if safe_href(dict(mark[1]).get("href")) else ""
    return f"</{_HTML_MARKS[mark[0]]}>"


# Writing (implemented in prosemirror_write) ----------------------------------------------------------------------


def write_markdown(fragment: pycrdt.XmlFragment, markdown: str) -> None:
    """Replace the fragment's content with parsed CommonMark; raises InvalidContent for unusable input."""
    from .prosemirror_write import write_markdown as write

    write(fragment, markdown)


def write_html(fragment: pycrdt.XmlFragment, html_text: str) -> None:
    """Replace the fragment's content with sanitised, parsed HTML; raises InvalidContent for unusable input."""
    from .prosemirror_write import write_html as write

    write(fragment, html_text)
