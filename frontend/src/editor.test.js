import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { createToolbar, TOOLBAR_ITEMS } from './toolbar.js'

const LABELS = [
  'Heading 1', 'Heading 2', 'Heading 3', 'Bold', 'Italic', 'Strikethrough', 'Inline code', 'Link',
  'Bullet list', 'Ordered list', 'Blockquote', 'Code block', 'Horizontal rule', 'Undo', 'Redo',
]

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function setup({ editable = true } = {}) {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  const bar = document.createElement('div')
  document.body.append(bar, host)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' }, editable })
  let prompted = null
  const toolbar = createToolbar(bar, editor, { readOnly: !editable, prompt: () => prompted })
  cleanup.push(() => {
    toolbar.destroy()
    editor.destroy()
    provider.awareness.destroy()
  })
  const button = (label) => bar.querySelector(`button[aria-label="${label}"]`)
  return { ydoc, provider, editor, toolbar, bar, button, setPrompt: (v) => (prompted = v) }
}

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

  it('adds and removes a link through the prompt', () => {
    const { editor, button, setPrompt } = setup()
    editor.commands.insertContent('docs')
    editor.commands.selectAll()
    setPrompt('example.com/page')
    button('Link').click()
    expect(editor.getAttributes('link').href).toBe('https://example.com/page')
    expect(button('Link').getAttribute('aria-pressed')).toBe('true')
    setPrompt('')
    button('Link').click()
    expect(editor.isActive('link')).toBe(false)
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
