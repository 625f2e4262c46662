// Formatting toolbar. Every button has an aria-label; toggle buttons expose aria-pressed.

import { h } from './dom.js'
import { icon } from './icons.js'

/** Prompts for a URL and applies, changes or removes the link on the selection. */
export function promptForLink(editor, promptFn = (msg, def) => window.prompt(msg, def)) {
  const previous = editor.getAttributes('link').href || ''
  const answer = promptFn('Link URL (leave empty to remove the link)', previous || 'https://')
  if (answer === null || answer === undefined) return false
  const url = String(answer).trim()
  if (url === '' || url === 'https://') {
    return editor.chain().focus().extendMarkRange('link').unsetLink().run()
  }
  const href = /^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('/') || url.startsWith('#') ? url : `https://${url}`
  return editor.chain().focus().extendMarkRange('link').setLink({ href }).run()
}

/** The toolbar's buttons, in display order; `null` entries are group separators; `icon` names an icons.js icon. */
export const TOOLBAR_ITEMS = [
  { name: 'heading1', label: 'Heading 1', shortcut: 'Ctrl+Alt+1', icon: 'heading1', toggle: true,
    isActive: (e) => e.isActive('heading', { level: 1 }), run: (e) => e.chain().focus().toggleHeading({ level: 1 }).run() },
  { name: 'heading2', label: 'Heading 2', shortcut: 'Ctrl+Alt+2', icon: 'heading2', toggle: true,
    isActive: (e) => e.isActive('heading', { level: 2 }), run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run() },
  { name: 'heading3', label: 'Heading 3', shortcut: 'Ctrl+Alt+3', icon: 'heading3', toggle: true,
    isActive: (e) => e.isActive('heading', { level: 3 }), run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run() },
  null,
  { name: 'bold', label: 'Bold', shortcut: 'Ctrl+B', icon: 'bold', toggle: true,
    isActive: (e) => e.isActive('bold'), run: (e) => e.chain().focus().toggleBold().run() },
  { name: 'italic', label: 'Italic', shortcut: 'Ctrl+I', icon: 'italic', toggle: true,
    isActive: (e) => e.isActive('italic'), run: (e) => e.chain().focus().toggleItalic().run() },
  { name: 'strike', label: 'Strikethrough', shortcut: 'Ctrl+Shift+S', icon: 'strike', toggle: true,
    isActive: (e) => e.isActive('strike'), run: (e) => e.chain().focus().toggleStrike().run() },
  { name: 'code', label: 'Inline code', shortcut: 'Ctrl+E', icon: 'code', toggle: true,
    isActive: (e) => e.isActive('code'), run: (e) => e.chain().focus().toggleCode().run() },
  { name: 'link', label: 'Link', shortcut: 'Ctrl+K', icon: 'link', toggle: true,
    isActive: (e) => e.isActive('link'), run: (e, ctx) => promptForLink(e, ctx.prompt) },
  null,
  { name: 'bulletList', label: 'Bullet list', shortcut: 'Ctrl+Shift+8', icon: 'bulletList', toggle: true,
    isActive: (e) => e.isActive('bulletList'), run: (e) => e.chain().focus().toggleBulletList().run() },
  { name: 'orderedList', label: 'Ordered list', shortcut: 'Ctrl+Shift+7', icon: 'orderedList', toggle: true,
    isActive: (e) => e.isActive('orderedList'), run: (e) => e.chain().focus().toggleOrderedList().run() },
  { name: 'blockquote', label: 'Blockquote', shortcut: 'Ctrl+Shift+B', icon: 'blockquote', toggle: true,
    isActive: (e) => e.isActive('blockquote'), run: (e) => e.chain().focus().toggleBlockquote().run() },
  { name: 'codeBlock', label: 'Code block', shortcut: 'Ctrl+Alt+C', icon: 'codeBlock', toggle: true,
    isActive: (e) => e.isActive('codeBlock'), run: (e) => e.chain().focus().toggleCodeBlock().run() },
  { name: 'horizontalRule', label: 'Horizontal rule', icon: 'horizontalRule', toggle: false,
    isActive: () => false, run: (e) => e.chain().focus().setHorizontalRule().run() },
  null,
  { name: 'undo', label: 'Undo', shortcut: 'Ctrl+Z', icon: 'undo', toggle: false,
    isActive: () => false, can: (e) => e.can().undo(), run: (e) => e.chain().focus().undo().run() },
  { name: 'redo', label: 'Redo', shortcut: 'Ctrl+Shift+Z', icon: 'redo', toggle: false,
    isActive: () => false, can: (e) => e.can().redo(), run: (e) => e.chain().focus().redo().run() },
]

/**
 * Renders the toolbar into `container`.
 * Viewers get the same buttons, all disabled, and clicking does nothing.
 *
 * @returns {{element: HTMLElement, update: () => void, destroy: () => void}}
 */
export function createToolbar(container, editor, { readOnly = false, prompt } = {}) {
  /** @type {Array<{item: any, button: HTMLButtonElement}>} */
  const buttons = []
  const groups = [[]]
  for (const item of TOOLBAR_ITEMS) {
    if (item === null) {
      groups.push([])
      continue
    }
    const button = h(
      'button',
      {
        type: 'button',
        className: `toolbar__button toolbar__button--${item.name}`,
        dataset: { action: item.name },
        'aria-label': item.label,
        title: item.shortcut ? `${item.label} (${item.shortcut})` : item.label,
        'aria-pressed': item.toggle ? 'false' : undefined,
        disabled: readOnly,
      },
      icon(item.icon),
    )
    // Keep the editor selection when clicking with the mouse.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', () => {
      if (readOnly || !editor.isEditable) return
      item.run(editor, { prompt })
      update()
    })
    groups.at(-1).push(button)
    buttons.push({ item, button })
  }

  const toolbar = h(
    'div',
    {
      id: 'editor-toolbar',
      className: 'toolbar',
      role: 'toolbar',
      'aria-label': 'Formatting',
      dataset: readOnly ? { readonly: 'true' } : undefined,
      'aria-disabled': readOnly ? 'true' : undefined,
    },
    h('div', { className: 'toolbar__inner' }, [
      groups.map((group) => h('div', { className: 'toolbar__group' }, group)),
      readOnly ? h('span', { className: 'toolbar__readonly', text: 'View only' }) : null,
    ]),
  )

  function update() {
    if (editor.isDestroyed) return
    for (const { item, button } of buttons) {
      if (item.toggle) {
        const active = !!item.isActive(editor)
        button.setAttribute('aria-pressed', active ? 'true' : 'false')
        button.classList.toggle('is-active', active)
      }
      if (readOnly) {
        button.disabled = true
      } else if (item.can) {
        let possible = false
        try {
          possible = !!item.can(editor)
        } catch {
          possible = false
        }
        button.disabled = !possible
      }
    }
  }

  const onKeyDown = (event) => {
    if (readOnly || !editor.isEditable) return
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'k') {
      event.preventDefault()
      promptForLink(editor, prompt)
      update()
    }
  }
  const editorDom = editor.view && editor.view.dom
  if (editorDom) editorDom.addEventListener('keydown', onKeyDown)

  editor.on('transaction', update)
  editor.on('selectionUpdate', update)
  editor.on('focus', update)
  update()
  container.appendChild(toolbar)

  return {
    element: toolbar,
    update,
    destroy() {
      editor.off('transaction', update)
      editor.off('selectionUpdate', update)
      editor.off('focus', update)
      if (editorDom) editorDom.removeEventListener('keydown', onKeyDown)
      toolbar.remove()
    },
  }
}
