import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { createToolbar, TOOLBAR_ITEMS } from './toolbar.js'
import { createLinkPopover } from './link-popover.js'

const LABELS = [
  'Heading 1', 'Heading 2', 'Heading 3', 'Bold', 'Italic', 'Underline', 'Strikethrough', 'Highlight', 'Inline code',
  'Link', 'Bullet list', 'Ordered list', 'Task list', 'Blockquote', 'Code block', 'Horizontal rule', 'Image', 'Align left',
  'Align center', 'Align right', 'Justify', 'Insert table', 'Add row below', 'Delete row', 'Add column right',
  'Delete column', 'Toggle header row', 'Delete table', 'Undo', 'Redo',
]

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function setup({ editable = true, images = null } = {}) {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  const bar = document.createElement('div')
  document.body.append(bar, host)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' }, editable, images })
  const popover = createLinkPopover(editor)
  const toolbar = createToolbar(bar, editor, { readOnly: !editable })
  cleanup.push(() => {
    popover.destroy()
    toolbar.destroy()
    editor.destroy()
    provider.awareness.destroy()
  })
  const button = (label) => bar.querySelector(`button[aria-label="${label}"]`)
  return { ydoc, provider, editor, toolbar, bar, button }
}

/** Two users' editors on two Y.Docs that exchange every update, like two browsers through the server. */
function setupPair() {
  const docs = [new Y.Doc(), new Y.Doc()]
  docs.forEach((doc, index) => {
    doc.on('update', (update, origin) => {
      if (origin !== 'peer') Y.applyUpdate(docs[1 - index], update, 'peer')
    })
  })
  const editors = docs.map((ydoc, index) => {
    const provider = { awareness: new Awareness(ydoc) }
    const host = document.createElement('div')
    document.body.append(host)
    const editor = createEditor({ element: host, ydoc, provider, user: { name: `user${index}`, color: '#2563eb' } })
    cleanup.push(() => {
      editor.destroy()
      provider.awareness.destroy()
    })
    return editor
  })
  return { docs, editors }
}

/** A key press as the browser delivers it to ProseMirror. */
const press = (editor, key) => editor.view.dom.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }))

/** What a user sees (the view's top-level elements) and what is shared (the Y.XmlFragment's), side by side. */
const blocks = (editor, ydoc) => ({
  shown: [...editor.view.dom.children].map((el) => el.tagName.toLowerCase()),
  shared: ydoc.getXmlFragment('default').toArray().map((node) => node.nodeName),
})

describe('editor + toolbar', () => {
  it('binds the editor to the Y.Doc field "default" and publishes the user in awareness', () => {
    const { ydoc, editor, provider } = setup()
    editor.commands.insertContent('Hello world')
    const xml = ydoc.getXmlFragment('default').toString()
    expect(xml).toContain('Hello world')
    expect(provider.awareness.getLocalState().user).toEqual({ name: 'alice', color: '#2563eb' })
    expect(editor.extensionManager.extensions.find((e) => e.name === 'undoRedo')).toBeUndefined()
    const link = editor.extensionManager.extensions.find((e) => e.name === 'link')
    expect(link.options.openOnClick).toBe(false)
  })

  it('renders every button with an aria-label', () => {
    const { bar } = setup()
    const labels = [...bar.querySelectorAll('button')].map((b) => b.getAttribute('aria-label'))
    expect(labels).toEqual(LABELS)
    expect(TOOLBAR_ITEMS.filter(Boolean)).toHaveLength(LABELS.length)
    expect(bar.querySelector('[role="toolbar"]').getAttribute('aria-label')).toBe('Formatting')
  })

  it('toggles marks and nodes and reflects the active state with aria-pressed', () => {
    const { editor, button, ydoc } = setup()
    editor.commands.insertContent('Some text')
    editor.commands.selectAll()
    expect(button('Bold').getAttribute('aria-pressed')).toBe('false')
    button('Bold').click()
    expect(editor.isActive('bold')).toBe(true)
    expect(button('Bold').getAttribute('aria-pressed')).toBe('true')
    expect(ydoc.getXmlFragment('default').toString()).toContain('<bold>')

    editor.commands.setTextSelection(3)
    button('Heading 2').click()
    expect(editor.isActive('heading', { level: 2 })).toBe(true)
    expect(button('Heading 2').getAttribute('aria-pressed')).toBe('true')
    expect(button('Heading 1').getAttribute('aria-pressed')).toBe('false')

    button('Bullet list').click()
    expect(editor.isActive('bulletList')).toBe(true)
    expect(button('Bullet list').getAttribute('aria-pressed')).toBe('true')
  })

  it('undo/redo come from the collaboration undo manager', () => {
    const { editor, button, ydoc } = setup()
    expect(button('Undo').disabled).toBe(true)
    editor.commands.insertContent('typed')
    editor.view.dispatch(editor.state.tr) // let the toolbar refresh
    expect(button('Undo').disabled).toBe(false)
    button('Undo').click()
    expect(ydoc.getXmlFragment('default').toString()).not.toContain('typed')
    expect(button('Redo').disabled).toBe(false)
    button('Redo').click()
    expect(ydoc.getXmlFragment('default').toString()).toContain('typed')
  })

  it('offers the image button where images upload, to editors only', () => {
    expect(setup().button('Image').disabled).toBe(true)
    const uploading = setup({ images: { documentId: 'd1' } })
    expect(uploading.button('Image').disabled).toBe(false)
    expect(uploading.editor.extensionManager.extensions.some((x) => x.name === 'imageUpload')).toBe(true)
    const viewing = setup({ editable: false, images: { documentId: 'd1' } })
    expect(viewing.button('Image').disabled).toBe(true)
    expect(viewing.editor.extensionManager.extensions.some((x) => x.name === 'imageUpload')).toBe(false)
  })

  it('adds and removes a link through the link button and its popover', () => {
    const { editor, button } = setup()
    editor.commands.insertContent('docs')
    editor.commands.selectAll()
    button('Link').click()
    const form = () => document.querySelector('#link-popover form')
    form().querySelector('input').value = 'example.com/page'
    form().requestSubmit()
    expect(editor.getAttributes('link').href).toBe('https://example.com/page')
    expect(button('Link').getAttribute('aria-pressed')).toBe('true')
    button('Link').click()
    document.querySelector('.link-popover__remove').click()
    expect(editor.isActive('link')).toBe(false)
  })

  it('shows no block the shared document does not hold when a change from elsewhere ends it with a code block', () => {
    const { docs, editors } = setupPair()
    const [alice, bob] = editors
    // As the server writes a PUT of the content: one Yjs change that both editors get from outside.
    const fragment = docs[0].getXmlFragment('default')
    docs[0].transact(() => {
      const heading = new Y.XmlElement('heading')
      heading.setAttribute('level', 1)
      heading.insert(0, [new Y.XmlText('Setup')])
      const code = new Y.XmlElement('codeBlock')
      code.insert(0, [new Y.XmlText('make install')])
      fragment.insert(0, [heading, code])
    }, 'server')
    const expected = { shown: ['h1', 'pre'], shared: ['heading', 'codeBlock'] }
    expect(blocks(alice, docs[0])).toEqual(expected)
    expect(blocks(bob, docs[1])).toEqual(expected)

    // Their own edits write nothing they were not shown.
    bob.commands.insertContentAt(bob.state.doc.content.size - 1, ' --user')
    alice.commands.insertContentAt(1, 'Local ')
    expect(blocks(alice, docs[0])).toEqual(expected)
    expect(blocks(bob, docs[1])).toEqual(expected)
    expect(bob.getText()).toBe(alice.getText())
    expect(alice.getText()).toBe('Local Setup\n\nmake install --user')
    expect(alice.extensionManager.extensions.find((e) => e.name === 'trailingNode')).toBeUndefined()
  })

  it('leaves a final code block with ArrowDown or a third Enter, adding a paragraph everyone gets', () => {
    const { docs, editors } = setupPair()
    const [alice, bob] = editors
    alice.commands.setContent('<pre><code>npm ci</code></pre>')
    alice.commands.setTextSelection(alice.state.doc.content.size - 1)
    press(alice, 'ArrowDown')
    alice.commands.insertContent('After the code.')
    expect(blocks(bob, docs[1])).toEqual({ shown: ['pre', 'p'], shared: ['codeBlock', 'paragraph'] })
    expect(bob.getJSON().content.map((node) => node.content[0].text)).toEqual(['npm ci', 'After the code.'])

    bob.commands.setContent('<pre><code>npm test</code></pre>')
    bob.commands.setTextSelection(bob.state.doc.content.size - 1)
    for (let i = 0; i < 3; i++) press(bob, 'Enter')
    bob.commands.insertContent('Done.')
    expect(blocks(alice, docs[0])).toEqual({ shown: ['pre', 'p'], shared: ['codeBlock', 'paragraph'] })
    expect(alice.getJSON().content.map((node) => node.content[0].text)).toEqual(['npm test', 'Done.'])
  })

  it('viewers get a read-only editor and disabled toolbar', () => {
    const { editor, bar } = setup({ editable: false })
    expect(editor.isEditable).toBe(false)
    const buttons = [...bar.querySelectorAll('button')]
    expect(buttons.length).toBe(LABELS.length)
    expect(buttons.every((b) => b.disabled)).toBe(true)
    buttons[3].click()
    expect(editor.isActive('bold')).toBe(false)
  })
})
