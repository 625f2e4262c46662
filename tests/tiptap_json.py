"""The real Tiptap editor's ``getJSON()`` of Yjs documents, through Node and frontend/node_modules: the reference
the ProseMirror JSON exports (the API's and ``export_documents``') are compared with."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"

_HARNESS = r"""
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
// The editor's own extensions, bound to each document's Y.Doc; carets need a provider and add nothing to the schema.
const extensionsFor = (ydoc) => editorExtensions({ ydoc, provider: { awareness: null }, user: { name: '', color: '' } })
  .filter((extension) => extension.name !== 'collaborationCaret')
let input = ''
for await (const chunk of process.stdin) input += chunk
const out = []
for (const update of JSON.parse(input)) {
  const ydoc = new Y.Doc()
  Y.applyUpdate(ydoc, Buffer.from(update, 'base64'))
  const editor = new Editor({ element: document.createElement('div'), extensions: extensionsFor(ydoc) })
  out.push(editor.getJSON())
  editor.destroy()
}
process.stdout.write(JSON.stringify(out))
process.exit(0)
"""


def skip_without_editor() -> None:
    """Skip the calling test when Node.js or the editor's packages are missing."""
    if shutil.which("node") is None or not (FRONTEND / "node_modules" / "@tiptap" / "core").is_dir():
        pytest.skip("needs Node.js and frontend/node_modules")


def tiptap_json(updates: list[bytes]) -> list[dict[str, Any]]:
    """What the editor's ``getJSON()`` gives for each document, each given as its whole state (one Yjs update)."""
    result = subprocess.run(
        ["node", "--input-type=module", "-e", _HARNESS],
        input=json.dumps([base64.b64encode(update).decode() for update in updates]),
        capture_output=True,
        text=True,
        cwd=FRONTEND,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))
