"""Rich text: the Tiptap/ProseMirror document in a Yjs XmlFragment, read and written as text, Markdown and HTML.

Everything outside this package imports from here. Inside, the modules form layers (pyproject.toml's import-linter
contract): ``model`` (trees, limits), ``values`` (cleaners of attribute values) and ``schema`` (the one table of
nodes and marks) at the bottom; ``repair`` (with ``tables``) and ``inline_runs``; ``yxml`` (the y-prosemirror
encoding); the importers (``markdown_import``, ``html_import``) and ``plain_text``; ``markdown_emphasis`` and
``markdown_tables``; and the exporters (``markdown_export``, ``html_export``) on top.
"""

from documents.richtext.html_export import to_html
from documents.richtext.html_import import parse_html, write_html
from documents.richtext.markdown_export import to_markdown
from documents.richtext.markdown_import import parse_markdown, write_markdown
from documents.richtext.model import FRAGMENT_NAME, MAX_DEPTH, Inline, Node, Text, fragment_of
from documents.richtext.plain_text import to_text
from documents.richtext.yxml import read_nodes, write_nodes

__all__ = [
    "FRAGMENT_NAME",
    "MAX_DEPTH",
    "Inline",
    "Node",
    "Text",
    "fragment_of",
    "parse_html",
    "parse_markdown",
    "read_nodes",
    "to_html",
    "to_markdown",
    "to_text",
    "write_html",
    "write_markdown",
    "write_nodes",
]
