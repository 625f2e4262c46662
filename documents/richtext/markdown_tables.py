"""Tables as GitHub-flavoured Markdown pipe tables, which hold far less than the editor's tables.

A pipe table is a header row, an alignment row and body rows of one line of inline content per cell. So the first
row is always written as the header (a table without header cells comes back with one); a cell's blocks are
flattened into one line of their inline content, separated by spaces (a code block becomes a code span, a list its
items' text); a cell spanning several columns is followed by empty cells, and rows spanning several rows are not
kept; column widths are lost; each column's alignment is the first row's.
"""

from __future__ import annotations

from collections.abc import Sequence

from documents.richtext import schema
from documents.richtext.markdown_emphasis import image_markdown, inline_markdown
from documents.richtext.model import Inline, Node, Text
from documents.richtext.plain_text import inline_text

_RULES = {None: "---", "left": ":---", "center": ":---:", "right": "---:"}
_CODE = next(spec.name for spec in schema.MARKS if "code_inline" in spec.markdown)


def pipe_table(node: Node, _alternate: bool = False) -> str:
    """The table as a pipe table: header row, alignment row, body rows, all as wide as the widest row."""
    grid: list[list[tuple[str, str | None]]] = []
    for row in (r for r in node.content if isinstance(r, Node)):
        cells: list[tuple[str, str | None]] = []
        for child in (c for c in row.content if isinstance(c, Node)):
            cell = child if child.type in schema.cell_types() else Node(schema.cell_types()[0], content=[child])
            align = schema.rendered(cell.type, "align", cell.attrs)
            span = schema.rendered(cell.type, "colspan", cell.attrs)
            cells.extend([(_cell(cell), align)] + [("", align)] * (span - 1))
        grid.append(cells)
    width = max((len(cells) for cells in grid), default=0)
    if not width:
        return ""
    grid = [cells + [("", None)] * (width - len(cells)) for cells in grid]
    rule: list[tuple[str, str | None]] = [(_RULES.get(align, "---"), None) for _text, align in grid[0]]
    return "\n".join(_line(cells) for cells in [grid[0], rule, *grid[1:]])


def _line(cells: Sequence[tuple[str, str | None]]) -> str:
    """One row of the pipe table."""
    return "| " + " | ".join(text for text, _align in cells) + " |"


def _cell(cell: Node) -> str:
    """A cell's content as one line of inline Markdown, with its pipes escaped."""
    parts = [image_markdown(p) if isinstance(p, Node) else inline_markdown(p) for p in _flat(cell.content)]
    return " ".join(part for part in parts if part).replace("|", "\\|")


def _flat(content: Sequence[Inline]) -> list[list[Inline] | Node]:
    """The inline content of every paragraph-like block inside, in order (line breaks read as spaces); images."""
    out: list[list[Inline] | Node] = []
    for node in (c for c in content if isinstance(c, Node)):
        kind = schema.kind_of(node.type)
        if kind == "inline":
            out.append([Text(" ") if isinstance(c, Node) and schema.is_break(c.type) else c for c in node.content])
        elif kind == "plain":
            out.append([Text(inline_text(node.content).replace("\n", " "), {_CODE: {}})])
        elif kind == "leaf":
            out.append(node)
        else:
            out.extend(_flat(node.content))
    return out
