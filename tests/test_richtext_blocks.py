"""Tables, task lists, images, highlight, underline and text alignment in every format the server reads and writes.

Markdown (GitHub-flavoured), HTML, the Y-XML encoding, ProseMirror JSON and plain text; hostile input (unsafe image
sources, foreign CSS, absurd spans); and cross-checks with the real editor (its own extension list).
"""

from __future__ import annotations

import base64
from typing import Any

import pycrdt
import pytest

from documents.richtext import read_nodes, to_html, to_markdown, to_text, write_nodes
from documents.richtext.prosemirror_json import to_prosemirror_json
from documents.richtext.schema import MAX_SPAN
from documents.richtext.values import MAX_PIXELS
from tests.test_prosemirror import add, add_text, dump, from_html, from_markdown, new_fragment, run_tiptap

CELL = {"colspan": 1, "rowspan": 1}


def cell(kind: str, text: str, **attrs: Any) -> dict[str, Any]:
    """A table cell holding one paragraph of plain text, as dump() shows it."""
    paragraph = {"name": "paragraph", "attrs": {}, "children": [{"text": [[text, {}]]}] if text else []}
    return {"name": kind, "attrs": {**CELL, **attrs}, "children": [paragraph]}


def row(*cells: dict[str, Any]) -> dict[str, Any]:
    """A table row, as dump() shows it."""
    return {"name": "tableRow", "attrs": {}, "children": list(cells)}


# Markdown ---------------------------------------------------------------------------------------------------------

CANONICAL_MARKDOWN = [
    "- [ ] todo\n- [x] done\n",
    "- [ ] parent\n  - [x] nested\n  - [ ] *second*\n- [x] **bold** task\n",
    "- [ ] task\n\n  second paragraph\n",
    "- bullets\n\n* [ ] then tasks\n",
    "| a | b |\n| --- | --- |\n| 1 | 2 |\n",
    "| left | centre | right |\n| :--- | :---: | ---: |\n| 1 | 2 | 3 |\n",
    "| **bold** | `co\\|de` | a \\| b |\n| --- | --- | --- |\n| [link](https://e.example/) |  | ~~gone~~ |\n",
    '![a cat](https://e.example/cat.png "The cat")\n',
    "![](/documents/1/images/2f1c)\n",
    "before\n\n![alt](/x.png)\n\nafter\n",
    "| image |\n| --- |\n| ![alt](/x.png) |\n",
]


@pytest.mark.parametrize("markdown", CANONICAL_MARKDOWN)
def test_markdown_round_trip(markdown: str) -> None:
    assert to_markdown(from_markdown(markdown)) == markdown


def test_markdown_table_structure() -> None:
    fragment = from_markdown("| a | b |\n| :-: | --- |\n| 1 |\n")
    assert dump(fragment) == [
        {
            "name": "table",
            "attrs": {},
            "children": [
                row(cell("tableHeader", "a", align="center"), cell("tableHeader", "b")),
                row(cell("tableCell", "1", align="center"), cell("tableCell", "")),
            ],
        }
    ]


def test_markdown_task_list_structure() -> None:
    fragment = from_markdown("- [x] done\n- [ ] todo\n")
    task_list = dump(fragment)[0]
    assert task_list["name"] == "taskList"
    assert [(item["name"], item["attrs"]) for item in task_list["children"]] == [
        ("taskItem", {"checked": True}),
        ("taskItem", {"checked": False}),
    ]
    assert task_list["children"][0]["children"] == [
        {"name": "paragraph", "attrs": {}, "children": [{"text": [["done", {}]]}]}
    ]


def test_markdown_image_in_a_paragraph_stands_between_its_parts() -> None:
    fragment = from_markdown('see ![the *plan*](https://e.example/p.png "Plan") here\n')
    assert [node["name"] for node in dump(fragment)] == ["paragraph", "image", "paragraph"]
    assert dump(fragment)[1]["attrs"] == {"src": "https://e.example/p.png", "alt": "the plan", "title": "Plan"}
    assert to_text(fragment) == "see\nthe plan\nhere"


def test_a_table_without_header_row_gets_its_first_row_as_header() -> None:
    fragment = from_html("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>")
    markdown = to_markdown(fragment)
    assert markdown == "| a | b |\n| --- | --- |\n| c | d |\n"
    assert dump(from_markdown(markdown))[0]["children"][0] == row(cell("tableHeader", "a"), cell("tableHeader", "b"))


def test_markdown_flattens_cells_with_blocks_and_spans() -> None:
    fragment = from_html(
        "<table><tr><th colspan='2'>wide</th></tr>"
        "<tr><td><p>one</p><ul><li>two</li></ul><pre><code>x = 1</code></pre></td><td>a<br>b</td></tr></table>"
    )
    assert to_markdown(fragment) == "| wide |  |\n| --- | --- |\n| one two `x = 1` | a b |\n"


def test_markdown_has_no_underline_highlight_alignment_or_image_size() -> None:
    fragment = from_html(
        '<p style="text-align: center"><u>under</u> <mark>marked</mark> plain</p>'
        '<img src="/x.png" alt="x" width="200" height="100">'
    )
    assert to_markdown(fragment) == "under marked plain\n\n![x](/x.png)\n"
    assert to_markdown(from_markdown("<u>under</u> ==marked==\n")) == "\\<u>under\\</u> ==marked==\n"


def test_markdown_task_list_after_a_bullet_list_stays_apart() -> None:
    fragment = from_html('<ul><li>bullet</li></ul><ul data-type="taskList"><li data-type="taskItem">task</li></ul>')
    assert [node["name"] for node in dump(from_markdown(to_markdown(fragment)))] == ["bulletList", "taskList"]


def test_markdown_items_without_a_box_in_a_task_list_are_unchecked_tasks() -> None:
    assert to_markdown(from_markdown("- [x] a\n- b\n")) == "- [x] a\n- [ ] b\n"


GFM_DOCUMENT = """# Release notes

Some **bold**, *italic*, ~~struck~~, `code` and a [link](https://e.example/) with ***both***.

| Feature | Status | Owner |
| :--- | :---: | ---: |
| Tables | **done** | [ann](mailto:ann@e.example) |
| Tasks | *in progress* | `bob` |

- [x] write the parser
- [ ] write the docs
  - [ ] the format table

![Diagram](https://e.example/diagram.png "Architecture")

1. first
2. second
"""


def test_github_flavoured_markdown_imports_and_exports_equal_in_meaning() -> None:
    fragment = from_markdown(GFM_DOCUMENT)
    assert [node["name"] for node in dump(fragment)] == [
        "heading",
        "paragraph",
        "table",
        "taskList",
        "image",
        "orderedList",
    ]
    assert to_markdown(fragment) == GFM_DOCUMENT
    assert dump(from_markdown(to_markdown(fragment))) == dump(fragment)
    html = to_html(fragment)
    assert dump(from_html(html)) == dump(fragment)
    assert '<th style="text-align:center"><p>Status</p></th>' in html
    assert '<li data-type="taskItem" data-checked="true"><p>write the parser</p></li>' in html


# HTML -------------------------------------------------------------------------------------------------------------

CANONICAL_HTML = [
    "<table><tbody><tr><th><p>a</p></th><th><p>b</p></th></tr><tr><td><p>1</p></td><td><p>2</p></td></tr></tbody></table>",
    '<table><tbody><tr><td colspan="2" colwidth="120,80"><p>wide</p></td></tr>'
    '<tr><td rowspan="2"><p>tall</p></td><td style="text-align:right"><p>r</p></td></tr>'
    "<tr><td><p>x</p></td></tr></tbody></table>",
    '<ul data-type="taskList"><li data-type="taskItem" data-checked="true"><p>done</p>'
    '<ul data-type="taskList"><li data-type="taskItem" data-checked="false"><p>nested</p></li></ul></li></ul>',
    '<img src="https://e.example/a.png" alt="A" title="T" width="320" height="200"><img src="/documents/1/images/u">',
    "<p><mark>marked</mark> <u>under</u> <strong><u><mark>all</mark></u></strong></p>",
    '<p style="text-align:center">c</p><h2 style="text-align:justify">j</h2><p style="text-align:right">r</p>',
]


@pytest.mark.parametrize("html", CANONICAL_HTML)
def test_html_round_trip(html: str) -> None:
    assert to_html(from_html(html)) == html


def test_html_reads_tiptaps_rendering() -> None:
    fragment = from_html(
        '<table style="min-width: 50px"><colgroup><col style="min-width: 25px"><col></colgroup><tbody>'
        '<tr><th colspan="1" rowspan="1"><p>h</p></th><th colspan="1" rowspan="1"><p>i</p></th></tr></tbody></table>'
        '<ul data-type="taskList"><li data-checked="true" data-type="taskItem"><label><input type="checkbox" '
        'checked="checked"><span></span></label><div><p>done</p></div></li></ul>'
    )
    assert to_html(fragment) == (
        "<table><tbody><tr><th><p>h</p></th><th><p>i</p></th></tr></tbody></table>"
        '<ul data-type="taskList"><li data-type="taskItem" data-checked="true"><p>done</p></li></ul>'
    )


@pytest.mark.parametrize(
    "src",
    [
        "javascript:alert(1)",
        " JaVa\tScRiPt:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "vbscript:x",
        "//evil.example/x.png",
        "relative.png",
        "",
    ],
)
def test_unsafe_image_sources_drop_the_image_everywhere(src: str) -> None:
    for fragment in (
        from_html(f'<p>a</p><img src="{src}" alt="x">'),
        from_markdown(f"a\n\n![x]({src})\n"),
    ):
        assert "image" not in [node["name"] for node in dump(fragment)]
    stored = new_fragment()
    add(stored, "image", {"src": src, "alt": "x"})
    assert to_html(stored) == ""
    assert to_markdown(stored) == ""
    assert to_text(stored) == ""
    copy = new_fragment()
    write_nodes(copy, read_nodes(stored))
    assert dump(copy) == [{"name": "paragraph", "attrs": {}, "children": []}]


def test_foreign_css_and_unknown_alignments_are_dropped() -> None:
    fragment = from_html(
        '<p style="color: red; text-align: center; background: url(javascript:x)">a</p>'
        '<p style="text-align: evil">b</p><p style="position: fixed">c</p>'
        '<table><tr><td style="text-align: justify; width: 9999px">d</td></tr></table>'
    )
    assert to_html(fragment) == (
        '<p style="text-align:center">a</p><p>b</p><p>c</p><table><tbody><tr><td><p>d</p></td></tr></tbody></table>'
    )
    stored = new_fragment()
    add_text(add(stored, "paragraph", {"textAlign": "center;color:red"}), ("x", None))
    assert to_html(stored) == "<p>x</p>"
    assert to_prosemirror_json(stored)["content"][0]["attrs"] == {"textAlign": None}


def test_absurd_spans_and_sizes_are_clamped() -> None:
    fragment = from_html(
        '<table><tr><td colspan="1000000000" rowspan="1000000000" colwidth="1,2,x">a</td></tr>'
        '<tr><td colspan="-5">b</td></tr></table><img src="/x.png" width="1e12" height="-3">'
    )
    table, image = dump(fragment)
    first, second = table["children"]
    assert first["children"][0]["attrs"] == {"colspan": MAX_SPAN, "rowspan": 2}  # as far as the grid reaches
    assert second["children"] == [cell("tableCell", "b")]  # beside the span that covers the row's first slots
    assert first["children"][1] == cell("tableCell", "")  # the first row padded to the table's width
    assert image["attrs"] == {"src": "/x.png", "width": MAX_PIXELS}


def test_stored_tables_are_made_rectangular() -> None:
    stored = new_fragment()
    table = add(stored, "table")
    first = add(table, "tableRow")
    add_text(add(add(first, "tableHeader", {"rowspan": 9}), "paragraph"), ("h", None))
    add_text(add(first, "paragraph"), ("stray", None))
    add(table, "tableRow")
    copy = new_fragment()
    write_nodes(copy, read_nodes(stored))
    assert dump(copy) == [
        {
            "name": "table",
            "attrs": {},
            "children": [
                row(cell("tableHeader", "h", rowspan=2), cell("tableCell", "stray")),
                row(cell("tableCell", "")),
            ],
        }
    ]


def test_html_data_types_other_than_the_tables_are_plain_lists() -> None:
    fragment = from_html('<ul data-type="evil"><li data-type="taskItem" data-checked="true">a</li></ul>')
    assert dump(fragment)[0]["name"] == "bulletList"
    assert dump(fragment)[0]["children"][0]["name"] == "listItem"


# Y-XML, ProseMirror JSON and plain text ---------------------------------------------------------------------------


def test_read_then_write_keeps_every_new_node_and_mark() -> None:
    source = from_html("".join(CANONICAL_HTML))
    copy = new_fragment()
    write_nodes(copy, read_nodes(source))
    assert dump(copy) == dump(source)
    assert to_html(copy) == "".join(CANONICAL_HTML)


def test_prosemirror_json_of_the_new_nodes() -> None:
    fragment = from_html(
        '<table><tr><th style="text-align: right">h</th></tr></table>'
        '<ul data-type="taskList"><li data-type="taskItem" data-checked="true">t</li></ul>'
        '<img src="/x.png" alt="a"><p style="text-align: center"><mark>m</mark><u>u</u></p>'
    )
    paragraph = {"type": "paragraph", "attrs": {"textAlign": None}}
    assert to_prosemirror_json(fragment)["content"] == [
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {
                            "type": "tableHeader",
                            "attrs": {"colspan": 1, "rowspan": 1, "colwidth": None, "align": "right"},
                            "content": [{**paragraph, "content": [{"type": "text", "text": "h"}]}],
                        }
                    ],
                }
            ],
        },
        {
            "type": "taskList",
            "content": [
                {
                    "type": "taskItem",
                    "attrs": {"checked": True},
                    "content": [{**paragraph, "content": [{"type": "text", "text": "t"}]}],
                }
            ],
        },
        {"type": "image", "attrs": {"src": "/x.png", "alt": "a", "title": None, "width": None, "height": None}},
        {
            "type": "paragraph",
            "attrs": {"textAlign": "center"},
            "content": [
                {"type": "text", "text": "m", "marks": [{"type": "highlight"}]},
                {"type": "text", "text": "u", "marks": [{"type": "underline"}]},
            ],
        },
    ]


def test_plain_text_of_tables_tasks_and_images() -> None:
    fragment = from_markdown(
        "| a | b |\n| --- | --- |\n| 1 | two words |\n\n- [ ] todo\n- [x] done\n  - [ ] nested\n\n![alt text](/x.png)\n"
    )
    assert to_text(fragment).split("\n") == ["a\tb", "1\ttwo words", "[ ] todo", "[x] done", "[ ] nested", "alt text"]


# The real editor ---------------------------------------------------------------------------------------------------

EDITOR_HTML = [
    *CANONICAL_HTML[:1],
    '<table><tbody><tr><td colspan="2"><p>wide</p></td></tr><tr><td><p>a</p></td><td style="text-align:right">'
    "<p>r</p></td></tr></tbody></table>",
    *CANONICAL_HTML[2:],
]


@pytest.mark.node
def test_the_editor_writes_the_same_yjs_and_json_for_html() -> None:
    results = run_tiptap([{"html": html} for html in EDITOR_HTML])
    for html, result in zip(EDITOR_HTML, results, strict=True):
        fragment = from_html(html)
        assert dump(fragment) == result["yjs"], html
        assert to_prosemirror_json(fragment) == result["json"], html


@pytest.mark.node
def test_the_editor_keeps_what_we_write() -> None:
    sources = [*CANONICAL_MARKDOWN, GFM_DOCUMENT]
    jobs = []
    for markdown in sources:
        fragment = from_markdown(markdown)
        jobs.append({"update": base64.b64encode(fragment.doc.get_update()).decode()})
    for markdown, job, result in zip(sources, jobs, run_tiptap(jobs), strict=True):
        doc = pycrdt.Doc()
        doc.apply_update(base64.b64decode(job["update"]))
        fragment = doc.get("default", type=pycrdt.XmlFragment)
        assert result["yjs"] == dump(fragment), markdown  # nothing dropped, nothing fixed by the table plugin
        assert result["json"] == to_prosemirror_json(fragment), markdown
        assert dump(from_html(result["html"])) == dump(fragment), markdown
