import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'

export const COLLAB_FIELD = 'default'

/**
 * The editor's extensions: they define the document schema (the nodes, marks and attributes the server's
 * documents/richtext/schema.py must know; frontend/scripts/dump-schema.mjs builds the schema from this list for
 * tests/test_schema_parity.py) and bind the editor to the shared Y.Doc.
 *
 * @param {object} opts
 * @param {import('yjs').Doc} opts.ydoc
 * @param {{awareness: import('y-protocols/awareness').Awareness}} opts.provider
 * @param {{name: string, color: string}} opts.user
 */
export function editorExtensions({ ydoc, provider, user }) {
  return [
    StarterKit.configure({
      // The Collaboration extension brings its own (per-user) undo manager.
      undoRedo: false,
      // No trailing node: every block an editor shows is one of the shared document's (docs/protocol.md).
      // StarterKit's TrailingNode appends an empty paragraph, which nobody typed, whenever the document ends with
      // anything else (a heading, list, quote, code block). In the typing user's editor it goes into the
      // Y.XmlFragment with the keystroke (the REST text gains an empty line that the Markdown export drops); after
      // a remote change it is added while y-prosemirror applies Yjs, so it stays in that view only until its user
      // edits, and then every editor that added one writes its own: they pile up.
      // Nothing else here adds blocks by itself: Placeholder, Dropcursor, Gapcursor and the carets are
      // decorations. A final block is still easy to leave, with a real change everyone gets: ArrowDown at the end
      // of a code block, or Enter three times there, adds a paragraph after it (CodeBlock's exitOnArrowDown and
      // exitOnTripleEnter); Enter on an empty list item or quote line lifts it out; a horizontal rule comes with a
      // paragraph after it, and the gap cursor reaches past one.
      trailingNode: false,
      link: {
        openOnClick: false,
        autolink: true,
        defaultProtocol: 'https',
      },
    }),
    Collaboration.configure({ document: ydoc, field: COLLAB_FIELD }),
    Placeholder.configure({ placeholder: 'Start writing…' }),
    CollaborationCaret.configure({
      provider,
      user: { name: user.name, color: user.color },
    }),
  ]
}

/**
 * Creates the Tiptap editor bound to the shared Y.Doc.
 *
 * @param {object} opts
 * @param {HTMLElement} opts.element  where the editor mounts
 * @param {import('yjs').Doc} opts.ydoc
 * @param {{awareness: import('y-protocols/awareness').Awareness}} opts.provider
 * @param {{name: string, color: string}} opts.user
 * @param {boolean} [opts.editable]
 */
export function createEditor({ element, ydoc, provider, user, editable = true }) {
  return new Editor({
    element,
    editable,
    extensions: editorExtensions({ ydoc, provider, user }),
    editorProps: {
      attributes: {
        class: 'doc-editor__content',
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-label': 'Document content',
        'aria-readonly': editable ? 'false' : 'true',
        spellcheck: 'true',
      },
    },
  })
}
