"""Tables made rectangular before they are written, the way the editor's table plugin would make them on opening.

prosemirror-tables maps every table into a grid of slots and, whenever a table's grid has holes, overlapping spans
or rows spanning past the end, fixes it with a change of its own. In a shared document that change is written by
every editor that opens the table, so the server writes tables that need no fixing: spans clamped to the grid
(a cell spans at most the free slots to its right and the rows below it), column widths only when there is one per
spanned column, and short rows padded with empty cells (header cells in a row of headers).
"""

from __future__ import annotations

from typing import Any, cast

from documents.richtext import schema
from documents.richtext.model import Inline, Node


def rectangular(table: Node) -> Node:
    """The table (rows of repaired cells) with its spans clamped to its grid and its short rows padded."""
    rows = [row for row in table.content if isinstance(row, Node)]
    taken: list[set[int]] = [set() for _ in rows]
    out_rows: list[Node] = []
    for index, row in enumerate(rows):
        column, cells = 0, []
        for cell in (c for c in row.content if isinstance(c, Node)):
            while column in taken[index]:
                column += 1
            span = 0
            while span < cell.attrs.get("colspan", 1) and column + span not in taken[index]:
                span += 1
            down = min(cell.attrs.get("rowspan", 1), len(rows) - index)
            for below in taken[index : index + down]:
                below.update(range(column, column + span))
            cells.append(Node(cell.type, _spans(cell.attrs, span, down), cell.content))
            column += span
        out_rows.append(Node(row.type, row.attrs, cast("list[Inline]", cells)))
    width = max((max(slots) + 1 for slots in taken if slots), default=1)
    for index, row in enumerate(out_rows):
        headers = bool(row.content) and all(cast(Node, c).type != _CELL for c in row.content)
        for _ in range(width - len(taken[index])):
            row.content.append(_empty(_HEADER if headers else _CELL))
    return Node(table.type, table.attrs, cast("list[Inline]", out_rows))


def _spans(attrs: dict[str, Any], colspan: int, rowspan: int) -> dict[str, Any]:
    """A cell's attrs with its clamped spans; its column widths only if there is one for each spanned column."""
    widths = attrs.get("colwidth")
    return {
        **attrs,
        "colspan": colspan,
        "rowspan": rowspan,
        "colwidth": widths if len(widths or ()) == colspan else None,
    }


_CELL, _HEADER = schema.cell_types()  # a row's content: "(tableCell | tableHeader)*"


def _empty(cell: str) -> Node:
    """An empty cell of the given type."""
    return Node(cell, schema.ELEMENTS[cell].repaired_attrs({}), [Node(schema.DEFAULT_BLOCK)])
