"""The richtext table (documents/richtext/schema.py) against the editor's schema, the docs and the renderers.

The editor builds its schema from its extension list (frontend/src/editor.js); frontend/scripts/dump-schema.mjs
prints it. Every node, mark and attribute there must be a row or attribute of the table, with the same content
expression, group and defaults, and the table must hold nothing the editor lacks: else the server drops what the
editor stores, or writes what the editor cannot open.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from documents.richtext import html_export, markdown_export, schema
from tests.services import require

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"


def editor_schema() -> dict[str, Any]:
    """The editor's schema as dump-schema.mjs prints it (skip, or fail under CI, without Node or node_modules)."""
    require(shutil.which("node") is not None, "Node.js is not installed (needed to build the editor's schema)")
    require((FRONTEND / "node_modules" / "@tiptap" / "core").is_dir(), "frontend/node_modules is missing (npm ci)")
    result = subprocess.run(
        ["node", "scripts/dump-schema.mjs"], cwd=FRONTEND, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def table_schema() -> dict[str, Any]:
    """The table in the same shape."""

    def attrs(spec: schema.NodeSpec | schema.MarkSpec) -> dict[str, Any]:
        return {attr.name: attr.default for attr in spec.attrs}

    return {
        "nodes": {
            spec.name: {"content": spec.content, "group": spec.group, "marks": spec.marks, "attrs": attrs(spec)}
            for spec in schema.NODES
        },
        "marks": {spec.name: {"excludes": spec.excludes, "attrs": attrs(spec)} for spec in schema.MARKS},
    }


def differences(editor: dict[str, Any], table: dict[str, Any]) -> list[str]:
    """Every node, mark, attribute or property on which the editor and the table disagree."""
    out = []
    for section in ("nodes", "marks"):
        for name in editor[section].keys() - table[section].keys():
            out.append(f"{section[:-1]} {name!r}: in the editor, not in the table")
        for name in table[section].keys() - editor[section].keys():
            out.append(f"{section[:-1]} {name!r}: in the table, not in the editor")
        for name in editor[section].keys() & table[section].keys():
            ours, theirs = table[section][name], editor[section][name]
            for attr in theirs["attrs"].keys() - ours["attrs"].keys():
                out.append(f"{section[:-1]} {name!r}: attribute {attr!r} in the editor, not in the table")
            for attr in ours["attrs"].keys() - theirs["attrs"].keys():
                out.append(f"{section[:-1]} {name!r}: attribute {attr!r} in the table, not in the editor")
            for attr in theirs["attrs"].keys() & ours["attrs"].keys():
                if ours["attrs"][attr] != theirs["attrs"][attr]:
                    wanted, have = theirs["attrs"][attr], ours["attrs"][attr]
                    out.append(f"{section[:-1]} {name!r}: {attr!r} defaults to {wanted!r} in the editor, {have!r} here")
            for key in theirs.keys() - {"attrs"}:
                if ours[key] != theirs[key]:
                    out.append(f"{section[:-1]} {name!r}: {key} is {theirs[key]!r} in the editor, {ours[key]!r} here")
    return sorted(out)


@pytest.mark.node
def test_the_table_matches_the_editors_schema() -> None:
    assert differences(editor_schema(), table_schema()) == []


def test_differences_are_found() -> None:
    table = table_schema()
    editor = json.loads(json.dumps(table))
    editor["nodes"]["details"] = {"content": "block+", "group": "block", "marks": None, "attrs": {}}
    editor["marks"]["bold"]["attrs"]["weight"] = None
    del editor["marks"]["underline"]
    editor["nodes"]["heading"]["attrs"]["level"] = 2
    editor["nodes"]["codeBlock"]["marks"] = None
    assert differences(editor, table) == [
        "mark 'bold': attribute 'weight' in the editor, not in the table",
        "mark 'underline': in the table, not in the editor",
        "node 'codeBlock': marks is None in the editor, '' here",
        "node 'details': in the editor, not in the table",
        "node 'heading': 'level' defaults to 2 in the editor, 1 here",
    ]


def test_docs_list_the_tables_nodes_and_marks() -> None:
    protocol = " ".join((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8").split())
    assert schema.describe() in protocol
    assert "`underline`" in schema.describe() and "`highlight`" in schema.describe()


def test_every_block_row_has_its_markdown_and_html() -> None:
    for spec in schema.ELEMENTS.values():
        assert spec.html, f"{spec.name} has no HTML tag"
        if spec.block and spec.kind != "inline":
            assert spec.name in markdown_export.BLOCK_SYNTAX, f"{spec.name} has no Markdown syntax"
    for spec in schema.MARKS:
        assert spec.html, f"{spec.name} has no HTML tag"
    for special in (*markdown_export.BLOCK_SYNTAX, *html_export.SPECIAL_BLOCKS):
        assert special in schema.ELEMENTS, f"a renderer for {special}, which the table lacks"


def test_allowlists_come_from_the_table() -> None:
    cell = {"colspan", "rowspan", "colwidth", "style"}
    assert {
        "a": {"href", "title"},
        "code": {"class"},
        "ol": {"start"},
        "pre": {"class"},
        "li": {"data-checked"},
        "img": {"src", "alt", "title", "width", "height"},
        "td": cell,
        "th": cell,
        **{tag: {"style"} for tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6")},
    } == schema.HTML_ATTRIBUTES
    assert {"li": {"data-type": {"taskItem"}}, "ul": {"data-type": {"taskList"}}} == schema.HTML_ATTRIBUTE_VALUES
    assert {"text-align"} == schema.STYLE_PROPERTIES
    tags = {"p", "h1", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "hr", "br", "a", "u", "mark", "img"}
    assert tags | {"table", "tbody", "tr", "th", "td"} <= schema.HTML_TAGS
