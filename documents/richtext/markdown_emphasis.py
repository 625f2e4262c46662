"""Inline Markdown export: marked text as CommonMark emphasis, code spans and links, checked by parsing it back.

Written by hand: Python's Markdown libraries parse Markdown but do not write it from per-character mark sets
(prosemirror-markdown, which does, is JavaScript). CommonMark decides emphasis by delimiter runs and flanking
rules, so some mark layouts cannot be spelled as they are. So the runs are rendered, the result is parsed back with
the importer's own parser, and when a run's characters or mark names do not come back, the emphasis of the
offending run is dropped (``_plainer``) and it is tried again. Whitespace at the edges of emphasis is moved outside
it first (``_shift_spaces``), as the flanking rules need. The text always survives; at worst some emphasis is lost.
Which marks have Markdown, and their delimiters, comes from ``schema``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from documents.richtext import schema
from documents.richtext.inline_runs import render_runs, runs_of
from documents.richtext.markdown_import import parse_markdown_inline
from documents.richtext.model import Inline, Mark, Node, Text, safe_href

_MD_ESCAPE = re.compile(r"[\\`*_\[\]<~]|&(?=#?[0-9A-Za-z]+;)")
_MD_BLOCK_START = re.compile(r"^(?:[#>+=-]|\d+(?=[.)]))")
_MD_DELIMITERS = {spec.name: spec.delimiter for spec in schema.MARKS if spec.delimiter}
_MD_MARKS = frozenset(spec.name for spec in schema.MARKS if spec.markdown)  # underline has no Markdown
_CODE = next(spec.name for spec in schema.MARKS if "code_inline" in spec.markdown)
_LINK = next(spec.name for spec in schema.MARKS if "link_open" in spec.markdown)
_BAD_ENTITIES = {0x0B, 0x85, *range(0x1C, 0x20)}  # whitespace that Markdown character references cannot spell


def inline_markdown(content: Sequence[Inline]) -> str:
    """Inline Markdown, checked by parsing it back: emphasis CommonMark cannot express is dropped, never the text."""
    while content and isinstance(content[-1], Node) and schema.is_break(content[-1].type):
        content = content[:-1]
    runs = _shift_spaces([(chunk, tuple(m for m in marks if m[0] in _MD_MARKS)) for chunk, marks in runs_of(content)])
    while True:
        text = render_runs(runs, _md_open, _md_close, _md_text, "\\\n")
        text = "\n".join(_md_guard(line) for line in text.split("\n"))
        index = _md_mismatch(text, runs)
        plainer = None if index is None else _plainer(runs, index)
        if plainer is None:  # round-trips, or plain text with characters Markdown cannot spell
            return text
        runs = _shift_spaces(plainer)


def image_markdown(node: Node) -> str:
    """An image as ``![alt](src "title")`` (nothing for a node without a safe source, or not an image)."""
    spec = schema.element(node.type)
    src = spec.rendered("src", node.attrs) if spec and any(a.name == "src" for a in spec.attrs) else None
    if not src or not spec:
        return ""
    alt = inline_markdown([Text(spec.rendered("alt", node.attrs) or "")]).replace("\n", " ")
    return f"![{alt}]" + destination(src, spec.rendered("title", node.attrs))


def _md_mismatch(text: str, runs: list) -> int | None:
    """Index of the first run whose characters or mark names do not come back from parsing the Markdown."""
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
    if mark[0] == _LINK:
        return "[" if safe_href(dict(mark[1]).get("href")) else ""
    return _MD_DELIMITERS.get(mark[0], "")


def _md_close(mark: Mark) -> str:
    """Closing delimiter of a mark; a link closes with its destination and optional title."""
    if mark[0] != _LINK:
        return _MD_DELIMITERS.get(mark[0], "")
    attrs = dict(mark[1])
    href = safe_href(attrs.get("href"))
    return "]" + destination(href, attrs.get("title")) if href else ""


def destination(url: str, title: Any) -> str:
    """A link's or image's ``(destination "title")``, escaped so that it parses back as it is."""
    dest = re.sub(r"[\\()]", r"\\\g<0>", re.sub(r"[\x00-\x20\x7f<>]", lambda m: f"%{ord(m.group(0)):02X}", url))
    title = re.sub(r'[\\"]', r"\\\g<0>", str(title or "")).replace("\n", " ")
    return f'({dest} "{title}")' if title else f"({dest})"


def _md_text(chunk: str, marks: dict[str, Any]) -> str:
    """Escape text for Markdown, or emit a code span for code-marked text."""
    if _CODE not in marks:
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
