// Prints the editor's document schema as JSON: every node and mark with its ProseMirror content, group, allowed
// marks, excludes and attribute defaults. The schema is built with getSchema() (no DOM needed) from the very
// extension list the editor uses (editorExtensions in src/editor.js), so tests/test_schema_parity.py can check the
// server's table (documents/richtext/schema.py) against what the editor really stores.
//
// Run from frontend/: node scripts/dump-schema.mjs
import { getSchema } from '@tiptap/core'
import * as Y from 'yjs'
import { editorExtensions } from '../src/editor.js'

// The collaboration extensions need these to be configured, not to contribute to the schema.
const provider = { awareness: null }
const schema = getSchema(editorExtensions({ ydoc: new Y.Doc(), provider, user: { name: '', color: '' } }))

const attrs = (type) =>
  Object.fromEntries(Object.entries(type.attrs).map(([name, attr]) => [name, attr.hasDefault ? attr.default : null]))

const nodes = Object.fromEntries(
  Object.entries(schema.nodes).map(([name, type]) => [
    name,
    {
      content: type.spec.content ?? '',
      group: type.spec.group ?? '',
      marks: type.spec.marks ?? null,
      attrs: attrs(type),
    },
  ]),
)
const marks = Object.fromEntries(
  Object.entries(schema.marks).map(([name, type]) => [name, { excludes: type.spec.excludes ?? null, attrs: attrs(type) }]),
)
process.stdout.write(JSON.stringify({ nodes, marks }, null, 2) + '\n')
