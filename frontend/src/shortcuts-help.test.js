import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { availableShortcuts, createShortcutsButton, createShortcutsHelp, formatKeys, isMacPlatform, keysText, SHORTCUT_GROUPS } from './shortcuts-help.js'

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function makeEditor() {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  document.body.append(host)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' } })
  cleanup.push(() => {
    editor.destroy()
    provider.awareness.destroy()
  })
  return editor
}

function setup(opts = {}) {
  const editor = makeEditor()
  const header = document.createElement('div')
  document.body.append(header)
  const help = createShortcutsHelp({ container: document.body, editor, ...opts })
  const button = createShortcutsButton(header, help)
  cleanup.unshift(() => help.destroy())
  return { editor, help, button }
}

const press = (target, key, init = {}) =>
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init }))

describe('key labels', () => {
  it('shows ⌘ ⌥ ⇧ on a Mac and Ctrl Alt Shift elsewhere', () => {
    expect(formatKeys('Mod-Alt-1', { mac: true })).toEqual(['⌘', '⌥', '1'])
    expect(formatKeys('Mod-Shift-z')).toEqual(['Ctrl', 'Shift', 'Z'])
    expect(keysText('Mod-Shift-h')).toBe('Ctrl+Shift+H')
    expect(keysText('Mod-Shift-h', { mac: true })).toBe('⌘⇧H')
    expect(keysText('Mod-/')).toBe('Ctrl+/')
  })

  it('recognises Apple platforms', () => {
    expect(isMacPlatform({ platform: 'MacIntel' })).toBe(true)
    expect(isMacPlatform({ userAgentData: { platform: 'macOS' } })).toBe(true)
    expect(isMacPlatform({ platform: 'iPhone' })).toBe(true)
    expect(isMacPlatform({ platform: 'Win32' })).toBe(false)
    expect(isMacPlatform({ platform: 'Linux x86_64' })).toBe(false)
  })

  it('lists the keys the installed extensions really bind', async () => {
    const read = async (name) => (await import('node:fs')).readFileSync(`node_modules/@tiptap/${name}`, 'utf8')
    const sources = {
      highlight: await read('extension-highlight/src/highlight.ts'),
      textAlign: await read('extension-text-align/src/text-align.ts'),
      taskList: await read('extension-list/src/task-list/task-list.ts'),
      strike: await read('extension-strike/src/strike.ts'),
      codeBlock: await read('extension-code-block/src/code-block.ts'),
      blockquote: await read('extension-blockquote/src/blockquote.tsx'),
      underline: await read('extension-underline/src/underline.ts'),
    }
    const items = SHORTCUT_GROUPS.flatMap((g) => g.items)
    for (const [extension, source] of Object.entries(sources)) {
      const mine = items.filter((item) => item.extension === extension)
      expect(mine.length).toBeGreaterThan(0)
      for (const item of mine) expect(source).toContain(`'${item.keys[0]}'`)
    }
  })
})

describe('shortcuts dialog', () => {
  it('lists only shortcuts of extensions the editor has', () => {
    const editor = makeEditor()
    const names = availableShortcuts(editor).flatMap((g) => g.items.map((i) => i.label))
    expect(names).toContain('Bold')
    expect(names).toContain('Heading 2')
    expect(names).toContain('Insert or edit link')
    const has = (ext) => editor.extensionManager.extensions.some((e) => e.name === ext)
    expect(names.includes('Highlight')).toBe(has('highlight'))
    expect(names.includes('Align center')).toBe(has('textAlign'))
    expect(availableShortcuts(null).flatMap((g) => g.items)).toHaveLength(SHORTCUT_GROUPS.flatMap((g) => g.items).length)
  })

  it('is a labelled dialog with Ctrl labels off a Mac', () => {
    const { help } = setup({ mac: false })
    const dialog = help.dialog
    expect(dialog.tagName).toBe('DIALOG')
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')).textContent).toBe('Keyboard shortcuts')
    const row = [...dialog.querySelectorAll('.shortcuts-dialog__row')].find((r) => r.querySelector('dt').textContent === 'Bold')
    expect([...row.querySelectorAll('kbd')].map((k) => k.textContent)).toEqual(['Ctrl', 'B'])
    expect(row.querySelector('.shortcut-keys').getAttribute('aria-label')).toBe('Ctrl+B')
    const redo = [...dialog.querySelectorAll('.shortcuts-dialog__row')].find((r) => r.querySelector('dt').textContent === 'Redo')
    expect(redo.querySelector('dd').textContent).toContain(' or ')
  })

  it('shows ⌘ on a Mac', () => {
    const { help } = setup({ mac: true })
    const row = [...help.dialog.querySelectorAll('.shortcuts-dialog__row')].find((r) => r.querySelector('dt').textContent === 'Heading 1')
    expect(row.querySelector('.shortcut-keys').getAttribute('aria-label')).toBe('⌘⌥1')
  })

  it('opens with Ctrl+/ or Cmd+/ and the ? button, closes with Escape, and gives focus back', () => {
    const { help, button, editor } = setup()
    editor.view.focus()
    press(editor.view.dom, '/', { ctrlKey: true })
    expect(help.isOpen()).toBe(true)
    expect(help.dialog.contains(document.activeElement)).toBe(true)
    press(document.activeElement, 'Escape')
    expect(help.isOpen()).toBe(false)
    expect(document.activeElement).toBe(editor.view.dom)

    button.focus()
    button.click()
    expect(help.isOpen()).toBe(true)
    expect(button.getAttribute('aria-haspopup')).toBe('dialog')
    help.dialog.querySelector('.shortcuts-dialog__close').click()
    expect(help.isOpen()).toBe(false)
    expect(document.activeElement).toBe(button)

    press(document.body, '/', { metaKey: true })
    expect(help.isOpen()).toBe(true)
    press(document.body, '/', { metaKey: true })
    expect(help.isOpen()).toBe(false)
  })

  it('removes the dialog and its key listener on destroy', () => {
    const { help } = setup()
    help.destroy()
    expect(document.getElementById('shortcuts-dialog')).toBeNull()
    press(document.body, '/', { ctrlKey: true })
    expect(help.isOpen()).toBe(false)
  })
})
