import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'
import { ImageUpload } from './image-upload.js'
import { TableKit } from '@tiptap/extension-table'
import { TaskItem, TaskList } from '@tiptap/extension-list'
import Image from '@tiptap/extension-image'
import Highlight from '@tiptap/extension-highlight'
import TextAlign from '@tiptap/extension-text-align'

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
    // Column resizing writes colwidth on every drag step; widths from other writers are still kept and shown.
    TableKit.configure({ table: { resizable: false } }),
    TaskList,
    // Called only while the editor is read-only (viewers): false puts the box back as it was, since a viewer's
    // change would not be shared (the server drops their updates).
    TaskItem.configure({ nested: true, onReadOnlyChecked: () => false }),
    // Images are added by upload (site-relative URLs) or by URL; pasted data: URIs would bloat the shared document.
    Image.configure({ inline: false, allowBase64: false }),
    Highlight,
    TextAlign.configure({ types: ['heading', 'paragraph'] }),
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
 * @param {{documentId: string, onError?: (message: string) => void}} [opts.images]  where pasted, dropped and
 *   picked images are uploaded (frontend/src/image-upload.js); without it images can only come from elsewhere
 */
export function createEditor({ element, ydoc, provider, user, editable = true, images = null }) {
  // Uploading adds no node or mark (the image node is in editorExtensions), so the schema stays the same.
  const uploads = images && editable ? [ImageUpload.configure(images)] : []
  return new Editor({
    element,
    editable,
    extensions: [...editorExtensions({ ydoc, provider, user }), ...uploads],
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
