"""Tests of documents.richtext: the y-prosemirror encoding, Markdown/HTML round trips, sanitising and limits."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pycrdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from documents.exceptions import InvalidContent
from documents.richtext import (
    fragment_of,
    read_nodes,
    to_html,
    to_markdown,
    to_text,
    write_html,
    write_markdown,
    write_nodes,
)

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
TIPTAP_LINK = {"target": "_blank", "rel": "noopener noreferrer nofollow", "class": None, "title": None}


def new_fragment() -> pycrdt.XmlFragment:
    """A fresh document's "default" fragment."""
    return fragment_of(pycrdt.Doc())


def from_markdown(markdown: str) -> pycrdt.XmlFragment:
    """A fragment written from Markdown."""
    fragment = new_fragment()
    write_markdown(fragment, markdown)
    return fragment


def from_html(html: str) -> pycrdt.XmlFragment:
    """A fragment written from HTML."""
    fragment = new_fragment()
    write_html(fragment, html)
    return fragment


def add(parent: Any, tag: str, attrs: dict[str, Any] | None = None) -> pycrdt.XmlElement:
    """Append an element the way y-prosemirror does."""
    return parent.children.append(pycrdt.XmlElement(tag, attrs or {}))


def add_text(parent: Any, *runs: tuple[str, dict[str, Any] | None]) -> pycrdt.XmlText:
    """Append one XmlText holding formatted runs."""
    text = parent.children.append(pycrdt.XmlText())
    for chunk, attrs in runs:
        text.insert(len(text), chunk, attrs)
    return text


def dump(xml: Any) -> list[dict[str, Any]]:
    """The Yjs tree as plain data, in the shape the Node harness prints."""
    out: list[dict[str, Any]] = []
    for child in xml.children:
        if isinstance(child, pycrdt.XmlText):
            out.append({"text": [[chunk, attrs or {}] for chunk, attrs in child.diff()]})
        else:
            out.append({"name": child.tag, "attrs": dict(child.attributes), "children": dump(child)})
    return out


# Markdown round trips --------------------------------------------------------------------------------------------

CANONICAL_MARKDOWN = [
    "Hello world\n",
    "**bold** *italic* ~~strike~~ `code`\n",
    "***bold italic*** and **bold *nested* bold** and *it **strong** it*\n",
    "*~~struck italic~~* ``code with ` tick``\n",
    '[a link](https://example.com/path?q=1) and [titled](https://example.com "The title")\n',
    "[**bold link**](https://example.com) [mail](mailto:a@example.com)\n",
    "line one\\\nline two\\\n*three*\n",
    "- one\n- two\n  - nested\n    - third level\n- back\n",
    "1. first\n2. second\n   - bullet in ordered\n     1. third level\n3. third\n",
    "7. seven\n8. eight\n",
    "0. zero\n",
    "- a\n\n* b\n",
    "1. a\n\n1) b\n",
    "```python\nprint(1)\n\nx = 2\n```\n",
    "```\nplain ``` fence\n```\n",
    "````\n```\ninner\n```\n````\n",
    "> quote\n>\n> - item\n> - item 2\n>\n> > nested quote\n",
    "para\n\n---\n\nafter rule\n",
    "- item\n\n  second paragraph\n",
    "- item\n\n  ```js\n  let a = 1;\n\n  let b;\n  ```\n",
    "1\\. not a list \\*not em\\* # \\<tag> \\[x\\] \\_u\\_ \\~\\~ \\\\ a\\&amp;\n",
    "\\# not heading\n\n\\- not list\n\n\\> not quote\n\n\\+ x\n\n\\= y\n\n12\\) z\n",
    "&#32;&#32;indented&#9;\n",
    "text&#10;with newline\n",
    "-\n  - only nested\n",
    "# Title \\#\n",
]


@pytest.mark.parametrize("markdown", CANONICAL_MARKDOWN)
def test_markdown_round_trip(markdown: str) -> None:
    assert to_markdown(from_markdown(markdown)) == markdown


@pytest.mark.parametrize("level", range(1, 7))
def test_markdown_heading_levels(level: int) -> None:
    markdown = "#" * level + " Heading *text*\n"
    fragment = from_markdown(markdown)
    assert to_markdown(fragment) == markdown
    heading = fragment.children[0]
    assert heading.tag == "heading"
    assert dict(heading.attributes) == {"level": level}
    assert to_html(fragment) == f"<h{level}>Heading <em>text</em></h{level}>"


def test_markdown_nested_lists_structure() -> None:
    fragment = from_markdown("3. a\n   - b\n     1. c\n")
    ordered = dump(fragment)[0]
    assert ordered["name"] == "orderedList"
    assert ordered["attrs"] == {"start": 3}
    item = ordered["children"][0]
    assert [c["name"] for c in item["children"]] == ["paragraph", "bulletList"]
    inner = item["children"][1]["children"][0]["children"][1]
    assert inner["name"] == "orderedList"
    assert inner["attrs"] == {"start": 1}  # Tiptap always stores start
    assert to_text(fragment) == "a\nb\nc"


def test_markdown_softbreak_is_a_space_and_html_is_text() -> None:
    fragment = from_markdown("one\ntwo <b>x</b>\n")
    assert to_text(fragment) == "one two <b>x</b>"
    assert to_html(fragment) == "<p>one two &lt;b&gt;x&lt;/b&gt;</p>"


def test_markdown_images_become_image_blocks_and_unsafe_links_lose_their_mark() -> None:
    fragment = from_markdown("![alt text](https://x/y.png) [bad](javascript:alert(1)) [ok](https://ok.example)\n")
    image = fragment.children[0]
    assert (image.tag, dict(image.attributes)) == ("image", {"src": "https://x/y.png", "alt": "alt text"})
    runs = fragment.children[1].children[0].diff()
    assert runs[0] == ("[bad](javascript:alert(1)) ", None)
    assert runs[1][1] == {"link": {"href": "https://ok.example", **TIPTAP_LINK}}


# y-prosemirror encoding ------------------------------------------------------------------------------------------


def test_marks_are_encoded_like_y_prosemirror() -> None:
    fragment = from_markdown("a **b** *c* ~~d~~ `e` [f](https://x.example/) ***g***\n")
    paragraph = fragment.children[0]
    assert paragraph.tag == "paragraph"
    assert len(paragraph.children) == 1  # consecutive text shares one XmlText
    assert paragraph.children[0].diff() == [
        ("a ", None),
        ("b", {"bold": {}}),
        (" ", None),
        ("c", {"italic": {}}),
        (" ", None),
        ("d", {"strike": {}}),
        (" ", None),
        ("e", {"code": {}}),
        (" ", None),
        ("f", {"link": {"href": "https://x.example/", **TIPTAP_LINK}}),
        (" ", None),
        ("g", {"bold": {}, "italic": {}}),
    ]


def test_node_structure_matches_tiptap_schema() -> None:
    fragment = from_markdown("a\\\nb\n\n> \n\n```js\nx\n```\n\n---\n\n-\n")
    assert dump(fragment) == [
        {
            "name": "paragraph",
            "attrs": {},
            "children": [
                {"text": [["a", {}]]},
                {"name": "hardBreak", "attrs": {}, "children": []},
                {"text": [["b", {}]]},
            ],
        },
        {"name": "blockquote", "attrs": {}, "children": [{"name": "paragraph", "attrs": {}, "children": []}]},
        {"name": "codeBlock", "attrs": {"language": "js"}, "children": [{"text": [["x", {}]]}]},
        {"name": "horizontalRule", "attrs": {}, "children": []},
        {
            "name": "bulletList",
            "attrs": {},
            "children": [
                {"name": "listItem", "attrs": {}, "children": [{"name": "paragraph", "attrs": {}, "children": []}]}
            ],
        },
    ]


def test_code_mark_excludes_other_marks_and_code_block_has_no_marks() -> None:
    fragment = from_html("<p><strong><code>x</code></strong></p><pre><code>a <b>b</b></code></pre>")
    assert fragment.children[0].children[0].diff() == [("x", {"code": {}})]
    assert fragment.children[1].children[0].diff() == [("a b", None)]


@pytest.mark.parametrize("content", ["", "   \n\n", "<!-- nothing -->", "<script>x()</script>"])
def test_empty_content_is_one_empty_paragraph(content: str) -> None:
    for fragment in (
        (from_markdown(content), from_html(content)) if content.strip()[:1] != "<" else (from_html(content),)
    ):
        assert dump(fragment) == [{"name": "paragraph", "attrs": {}, "children": []}]
        assert to_text(fragment) == ""
        assert to_markdown(fragment) == ""
        assert to_html(fragment) == "<p></p>"


def test_write_replaces_content_and_nests_in_an_open_transaction() -> None:
    doc = pycrdt.Doc()
    fragment = fragment_of(doc)
    write_markdown(fragment, "first\n\nsecond\n")
    with doc.transaction():
        write_html(fragment, "<h2>new</h2>")
        write_markdown(fragment, "# newer\n")
    assert to_markdown(fragment) == "# newer\n"
    copy = pycrdt.Doc()
    copy.apply_update(doc.get_update())
    assert to_markdown(fragment_of(copy)) == "# newer\n"


def test_reading_accepts_what_a_browser_writes() -> None:
    fragment = new_fragment()
    heading = add(fragment, "heading", {"level": 2.0})  # Yjs numbers arrive as floats
    add_text(heading, ("Title", None))
    paragraph = add(fragment, "paragraph")
    add_text(paragraph, ("x", {"bold": True}), ("y", {"italic--a1B2c3D4": {}}))  # legacy/hashed mark names
    assert to_markdown(fragment) == "## Title\n\n**x***y*\n"
    assert to_html(fragment) == "<h2>Title</h2><p><strong>x</strong><em>y</em></p>"


def test_underline_has_no_markdown_but_keeps_other_marks() -> None:
    fragment = from_html("<p><u>u</u> <strong><u>b</u></strong> <a href='https://e.example/'><u>l</u></a></p>")
    assert fragment.children[0].children[0].diff()[2] == ("b", {"bold": {}, "underline": {}})
    assert to_markdown(fragment) == "u **b** [l](https://e.example/)\n"


def test_read_then_write_keeps_a_browser_document() -> None:
    source = from_markdown(CANONICAL_MARKDOWN[5] + "\n" + "".join(CANONICAL_MARKDOWN[7:20]))
    paragraph = add(source, "paragraph")
    link = {"href": "https://e.example/", "target": "_self", "rel": "me", "class": "c", "title": "t"}
    add_text(paragraph, ("u", {"underline": {}}), ("l", {"link": link, "bold": {}}))
    copy = new_fragment()
    write_nodes(copy, read_nodes(source))
    assert dump(copy) == dump(source)


# Plain text ------------------------------------------------------------------------------------------------------


def test_to_text_of_hand_built_fragment() -> None:
    fragment = new_fragment()
    add_text(add(fragment, "heading", {"level": 1}), ("Title", None))
    paragraph = add(fragment, "paragraph")
    add_text(paragraph, ("Hello ", None), ("bold", {"bold": {}}))
    add(paragraph, "hardBreak")
    add_text(paragraph, ("after break", None))
    add(fragment, "paragraph")
    bullets = add(fragment, "bulletList")
    first = add(bullets, "listItem")
    add_text(add(first, "paragraph"), ("one", None))
    nested = add(add(first, "orderedList", {"start": 1}), "listItem")
    add_text(add(nested, "paragraph"), ("nested", None))
    add_text(add(add(bullets, "listItem"), "paragraph"), ("two", None))
    quote = add(fragment, "blockquote")
    add_text(add(quote, "paragraph"), ("quoted", None))
    add_text(add(fragment, "codeBlock", {"language": "py"}), ("a = 1\nb = 2", None))
    add(fragment, "horizontalRule")
    add_text(add(fragment, "paragraph"), ("end", None))
    assert to_text(fragment).split("\n") == [
        "Title",
        "Hello bold",
        "after break",
        "",
        "one",
        "nested",
        "two",
        "quoted",
        "a = 1",
        "b = 2",
        "",
        "end",
    ]
    assert to_markdown(fragment) == (
        "# Title\n\nHello **bold**\\\nafter break\n\n- one\n  1. nested\n- two\n\n> quoted\n\n"
        "```py\na = 1\nb = 2\n```\n\n---\n\nend\n"
    )


# HTML round trips ------------------------------------------------------------------------------------------------

CANONICAL_HTML = [
    '<p>Hello <strong>bold</strong> <em>it</em> <s>st</s> <code>c</code> <a href="https://example.com/">l</a></p>',
    "<h1>a</h1><h2>b</h2><h3>c</h3><h4>d</h4><h5>e</h5><h6>f</h6>",
    "<ul><li><p>a</p><ul><li><p>b</p><ul><li><p>c</p></li></ul></li></ul></li></ul>",
    '<ol start="3"><li><p>x</p><ul><li><p>y</p><ol><li><p>z</p></li></ol></li></ul></li></ol>',
    "<blockquote><p>q</p><ul><li><p>i</p></li></ul><blockquote><p>n</p></blockquote></blockquote>",
    '<pre><code class="language-js">let a = 1;\n\nlet b = 2;</code></pre><pre><code>plain &lt;b&gt;</code></pre>',
    "<p>a<br>b</p><hr><p><strong><em>both</em></strong> <strong>b <em>n</em></strong></p>",
    '<p>1 &lt; 2 &amp; 3 &gt; 0 "q"</p>',
    '<p><a href="mailto:a@example.com"><strong>mail</strong></a> <a href="/relative">r</a></p>',
    "<p></p><p>after empty</p>",
    '<p><u>under</u> <strong><u>bold under</u></strong> <a href="https://example.com/"><u>link</u></a></p>',
]


@pytest.mark.parametrize("html", CANONICAL_HTML)
def test_html_round_trip(html: str) -> None:
    assert to_html(from_html(html)) == html


def test_html_unknown_tags_keep_their_text() -> None:
    fragment = from_html(
        "<div>one</div><div>two <span>three</span></div><section><b>bold</b> loose   text</section>"
        "<dl><dt>term</dt></dl><custom-tag>custom</custom-tag><li>orphan</li>"
    )
    assert to_html(fragment) == (
        "<p>one</p><p>two three</p><p><strong>bold</strong> loose text</p><p>term</p><p>custom</p>"
        "<ul><li><p>orphan</p></li></ul>"
    )


def test_html_scripts_handlers_and_javascript_links_are_stripped() -> None:
    fragment = from_html(
        '<p onclick="steal()">hi<script>alert(1)</script> <a href="javascript:alert(1)">bad</a> '
        '<a href="https://ok.example/" onmouseover="x()">ok</a> <a href=" JaVa\tScRiPt:alert(2)">bad2</a></p>'
        "<img src=x onerror=alert(1)><style>p{}</style><iframe src='https://evil'></iframe>"
    )
    html = to_html(fragment)
    assert html == '<p>hi bad <a href="https://ok.example/">ok</a> bad2</p>'
    assert "script" not in to_markdown(fragment).lower()


def test_to_html_sanitises_what_a_client_stored() -> None:
    fragment = new_fragment()
    paragraph = add(fragment, "paragraph", {"onclick": "x()"})
    add_text(
        paragraph,
        ("<script>alert(1)</script>", None),
        ("bad", {"link": {"href": "javascript:alert(1)"}}),
        ("data", {"link": {"href": "data:text/html,x"}}),
    )
    add_text(add(fragment, "codeBlock", {"language": '"><script>'}), ("</code><script>", None))
    html = to_html(fragment)
    assert html == (
        '<p>&lt;script&gt;alert(1)&lt;/script&gt;baddata</p><pre><code class="language-script">'
        "&lt;/code&gt;&lt;script&gt;</code></pre>"
    )
    assert "](javascript" not in to_markdown(fragment)


# Limits ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, b"# bytes", 42, ["x"], "lone \ud800 surrogate"])
def test_non_text_content_is_invalid(value: Any) -> None:
    fragment = new_fragment()
    with pytest.raises(InvalidContent):
        write_markdown(fragment, value)
    with pytest.raises(InvalidContent):
        write_html(fragment, value)


@pytest.mark.parametrize(
    "markdown",
    ["> " * 60 + "deep\n", "".join("  " * i + "- x\n" for i in range(60)), "> " * 5000 + "x"],
)
def test_absurdly_nested_markdown_is_invalid(markdown: str) -> None:
    with pytest.raises(InvalidContent):
        from_markdown(markdown)


@pytest.mark.parametrize("html", ["<blockquote>" * 60 + "x", "<ul><li>" * 30 + "x", "<div>" * 100_000, "<span>" * 200])
def test_absurdly_nested_html_is_invalid(html: str) -> None:
    with pytest.raises(InvalidContent):
        from_html(html)


def test_failed_write_leaves_the_document_untouched() -> None:
    fragment = from_markdown("keep me\n")
    with pytest.raises(InvalidContent):
        write_markdown(fragment, "> " * 60 + "x")
    assert to_text(fragment) == "keep me"


def test_moderate_nesting_is_fine() -> None:
    markdown = "".join("  " * i + "- level\n" for i in range(12))
    assert to_markdown(from_markdown(markdown)) == markdown


# Property: text survives Markdown --------------------------------------------------------------------------------

# These are stripped at the edges of a line and Markdown has no character reference for them; NUL becomes U+FFFD.
UNSPELLABLE = "\x00\x0b\x1c\x1d\x1e\x1f\x85"
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters=UNSPELLABLE))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_random_text_survives_markdown(text: str) -> None:
    fragment = new_fragment()
    paragraph = add(fragment, "paragraph")
    if text:
        add_text(paragraph, (text, None))
    assert to_text(from_markdown(to_markdown(fragment))) == text


MARK_SETS = st.sampled_from(
    [None, {"bold": {}}, {"italic": {}}, {"strike": {}}, {"code": {}}, {"bold": {}, "italic": {}}]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab *_`[]\\#-1.", min_size=1, max_size=6), MARK_SETS), max_size=6))
def test_random_marked_text_keeps_its_text_through_markdown(runs: list[tuple[str, dict[str, Any] | None]]) -> None:
    fragment = new_fragment()
    paragraph = add(fragment, "paragraph")
    if runs:
        add_text(paragraph, *runs)
    assert to_text(from_markdown(to_markdown(fragment))) == "".join(chunk for chunk, _marks in runs)


# Cross-check with the real Tiptap editor (frontend/node_modules) --------------------------------------------------

TIPTAP_HARNESS = r"""
import { JSDOM } from 'jsdom'
const dom = new JSDOM('<!doctype html><html><body></body></html>')
for (const k of ['window', 'document', 'navigator', 'Node', 'HTMLElement', 'Element', 'getComputedStyle',
  'MutationObserver', 'DOMParser']) {
  if (!(k in globalThis)) globalThis[k] = k === 'window' ? dom.window : dom.window[k]
}
const { Editor } = await import('@tiptap/core')
const { pathToFileURL } = await import('node:url')
const { editorExtensions } = await import(pathToFileURL(process.cwd() + '/src/editor.js'))
const Y = await import('yjs')
const dump = (type) => type.toArray().map((t) => t instanceof Y.XmlText
  ? { text: t.toDelta().map((d) => [d.insert, d.attributes || {}]) }
  : { name: t.nodeName, attrs: t.getAttributes(), children: dump(t) })
// The editor's own extensions, bound to each job's Y.Doc; carets need a provider and add nothing to the schema.
const extensionsFor = (ydoc) => editorExtensions({ ydoc, provider: { awareness: null }, user: { name: '', color: '' } })
  .filter((extension) => extension.name !== 'collaborationCaret')
let input = ''
for await (const chunk of process.stdin) input += chunk
const out = []
for (const job of JSON.parse(input)) {
  const ydoc = new Y.Doc()
  if (job.update) Y.applyUpdate(ydoc, Buffer.from(job.update, 'base64'))
  const editor = new Editor({ element: document.createElement('div'), extensions: extensionsFor(ydoc) })
  if (job.html !== undefined) editor.commands.setContent(job.html)
  out.push({ html: editor.getHTML(), json: editor.getJSON(), yjs: dump(ydoc.getXmlFragment('default')) })
  editor.destroy()
}
process.stdout.write(JSON.stringify(out))
process.exit(0)
"""


def run_tiptap(jobs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run jobs through the editor's own extensions (frontend/src/editor.js) on a Y.Doc; skip without Node."""
    if shutil.which("node") is None or not (FRONTEND / "node_modules" / "@tiptap" / "y-tiptap").is_dir():
        pytest.skip("needs Node.js and frontend/node_modules")
    result = subprocess.run(
        ["node", "--input-type=module", "-e", TIPTAP_HARNESS],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        cwd=FRONTEND,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.node
def test_tiptap_writes_the_same_yjs_for_html() -> None:
    results = run_tiptap([{"html": html} for html in CANONICAL_HTML])
    for html, result in zip(CANONICAL_HTML, results, strict=True):
        assert dump(from_html(html)) == result["yjs"], html


@pytest.mark.node
def test_tiptap_writes_the_same_yjs_for_markdown() -> None:
    renderer = MarkdownIt("commonmark").enable("strikethrough")
    # Entities and code spans render differently in HTML; for `<li><ul>` Tiptap's DOM parser splits the list.
    sources = [md for md in CANONICAL_MARKDOWN if "&#" not in md and "``" not in md and not md.startswith("-\n")]
    jobs = [{"html": renderer.render(md).replace("\n</code>", "</code>")} for md in sources]
    for markdown, result in zip(sources, run_tiptap(jobs), strict=True):
        assert dump(from_markdown(markdown)) == result["yjs"], markdown


@pytest.mark.node
def test_tiptap_reads_what_we_write() -> None:
    sources = [*CANONICAL_MARKDOWN, "# Title\n\nText with **bold** and [link](https://example.com/)\n"]
    updates = []
    for markdown in sources:
        doc = pycrdt.Doc()
        write_markdown(fragment_of(doc), markdown)
        updates.append({"update": base64.b64encode(doc.get_update()).decode()})
    for markdown, job, result in zip(sources, updates, run_tiptap(updates), strict=True):
        doc = pycrdt.Doc()
        doc.apply_update(base64.b64decode(job["update"]))
        assert result["yjs"] == dump(fragment_of(doc)), markdown  # the editor kept every node and mark as stored
        if "&#" not in markdown:  # HTML collapses the whitespace that Markdown spells as references
            assert dump(from_html(result["html"])) == dump(fragment_of(doc)), markdown  # it renders the same doc
