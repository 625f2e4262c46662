import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'

export const COLLAB_FIELD = 'default'

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
    extensions: [
      StarterKit.configure({
        // The Collaboration extension brings its own (per-user) undo manager.
        undoRedo: false,
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
    ],
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
