// Formatting toolbar. Every button has an aria-label; toggle buttons expose aria-pressed.

const svg = (body) =>
  `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`

const ICONS = {
  bulletList: svg('<line x1="9" y1="6" x2="20" y2="6"/><line x1="9" y1="12" x2="20" y2="12"/><line x1="9" y1="18" x2="20" y2="18"/><circle cx="4.5" cy="6" r="1" fill="currentColor"/><circle cx="4.5" cy="12" r="1" fill="currentColor"/><circle cx="4.5" cy="18" r="1" fill="currentColor"/>'),
  orderedList: svg('<line x1="10" y1="6" x2="20" y2="6"/><line x1="10" y1="12" x2="20" y2="12"/><line x1="10" y1="18" x2="20" y2="18"/><path d="M4 5h1.5v4" stroke-width="1.6"/><path d="M3.8 14.2c.3-.6 1-.9 1.6-.7.8.3.9 1.2.3 1.8L3.8 17.5h2.4" stroke-width="1.6"/>'),
  blockquote: svg('<path d="M7 7h4v5H8l-1 4"/><path d="M14 7h4v5h-3l-1 4"/>'),
  codeBlock: svg('<rect x="3" y="4" width="18" height="16" rx="2"/><polyline points="9.5 10 7.5 12 9.5 14"/><polyline points="14.5 10 16.5 12 14.5 14"/>'),
  code: svg('<polyline points="9 8 5 12 9 16"/><polyline points="15 8 19 12 15 16"/>'),
  horizontalRule: svg('<line x1="4" y1="12" x2="20" y2="12"/>'),
  link: svg('<path d="M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1"/><path d="M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1"/>'),
  undo: svg('<path d="M9 14 4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11"/>'),
  redo: svg('<path d="m15 14 5-5-5-5"/><path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13"/>'),
}

const text = (t, cls = '') => `<span class="toolbar__glyph ${cls}" aria-hidden="true">${t}</span>`

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

/** The toolbar's buttons, in display order; `null` entries are group separators. */
export const TOOLBAR_ITEMS = [
  { name: 'heading1', label: 'Heading 1', shortcut: 'Ctrl+Alt+1', icon: text('H1', 'toolbar__glyph--heading'), toggle: true,
    isActive: (e) => e.isActive('heading', { level: 1 }), run: (e) => e.chain().focus().toggleHeading({ level: 1 }).run() },
  { name: 'heading2', label: 'Heading 2', shortcut: 'Ctrl+Alt+2', icon: text('H2', 'toolbar__glyph--heading'), toggle: true,
    isActive: (e) => e.isActive('heading', { level: 2 }), run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run() },
  { name: 'heading3', label: 'Heading 3', shortcut: 'Ctrl+Alt+3', icon: text('H3', 'toolbar__glyph--heading'), toggle: true,
    isActive: (e) => e.isActive('heading', { level: 3 }), run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run() },
  null,
  { name: 'bold', label: 'Bold', shortcut: 'Ctrl+B', icon: text('B', 'toolbar__glyph--bold'), toggle: true,
    isActive: (e) => e.isActive('bold'), run: (e) => e.chain().focus().toggleBold().run() },
  { name: 'italic', label: 'Italic', shortcut: 'Ctrl+I', icon: text('I', 'toolbar__glyph--italic'), toggle: true,
    isActive: (e) => e.isActive('italic'), run: (e) => e.chain().focus().toggleItalic().run() },
  { name: 'strike', label: 'Strikethrough', shortcut: 'Ctrl+Shift+S', icon: text('S', 'toolbar__glyph--strike'), toggle: true,
    isActive: (e) => e.isActive('strike'), run: (e) => e.chain().focus().toggleStrike().run() },
  { name: 'code', label: 'Inline code', shortcut: 'Ctrl+E', icon: ICONS.code, toggle: true,
    isActive: (e) => e.isActive('code'), run: (e) => e.chain().focus().toggleCode().run() },
  { name: 'link', label: 'Link', shortcut: 'Ctrl+K', icon: ICONS.link, toggle: true,
    isActive: (e) => e.isActive('link'), run: (e, ctx) => promptForLink(e, ctx.prompt) },
  null,
  { name: 'bulletList', label: 'Bullet list', shortcut: 'Ctrl+Shift+8', icon: ICONS.bulletList, toggle: true,
    isActive: (e) => e.isActive('bulletList'), run: (e) => e.chain().focus().toggleBulletList().run() },
  { name: 'orderedList', label: 'Ordered list', shortcut: 'Ctrl+Shift+7', icon: ICONS.orderedList, toggle: true,
    isActive: (e) => e.isActive('orderedList'), run: (e) => e.chain().focus().toggleOrderedList().run() },
  { name: 'blockquote', label: 'Blockquote', shortcut: 'Ctrl+Shift+B', icon: ICONS.blockquote, toggle: true,
    isActive: (e) => e.isActive('blockquote'), run: (e) => e.chain().focus().toggleBlockquote().run() },
  { name: 'codeBlock', label: 'Code block', shortcut: 'Ctrl+Alt+C', icon: ICONS.codeBlock, toggle: true,
    isActive: (e) => e.isActive('codeBlock'), run: (e) => e.chain().focus().toggleCodeBlock().run() },
  { name: 'horizontalRule', label: 'Horizontal rule', icon: ICONS.horizontalRule, toggle: false,
    isActive: () => false, run: (e) => e.chain().focus().setHorizontalRule().run() },
  null,
  { name: 'undo', label: 'Undo', shortcut: 'Ctrl+Z', icon: ICONS.undo, toggle: false,
    isActive: () => false, can: (e) => e.can().undo(), run: (e) => e.chain().focus().undo().run() },
  { name: 'redo', label: 'Redo', shortcut: 'Ctrl+Shift+Z', icon: ICONS.redo, toggle: false,
    isActive: () => false, can: (e) => e.can().redo(), run: (e) => e.chain().focus().redo().run() },
]

/**
 * Renders the toolbar into `container`.
 * Viewers get the same buttons, all disabled, and clicking does nothing.
 *
 * @returns {{element: HTMLElement, update: () => void, destroy: () => void}}
 */
export function createToolbar(container, editor, { readOnly = false, prompt } = {}) {
  const toolbar = document.createElement('div')
  toolbar.id = 'editor-toolbar'
  toolbar.className = 'toolbar'
  toolbar.setAttribute('role', 'toolbar')
  toolbar.setAttribute('aria-label', 'Formatting')
  if (readOnly) {
    toolbar.dataset.readonly = 'true'
    toolbar.setAttribute('aria-disabled', 'true')
  }

  const inner = document.createElement('div')
  inner.className = 'toolbar__inner'
  toolbar.appendChild(inner)

  /** @type {Array<{item: any, button: HTMLButtonElement}>} */
  const buttons = []
  let group = document.createElement('div')
  group.className = 'toolbar__group'
  inner.appendChild(group)

  for (const item of TOOLBAR_ITEMS) {
    if (item === null) {
      group = document.createElement('div')
      group.className = 'toolbar__group'
      inner.appendChild(group)
      continue
    }
    const button = document.createElement('button')
    button.type = 'button'
    button.className = `toolbar__button toolbar__button--${item.name}`
    button.dataset.action = item.name
    button.setAttribute('aria-label', item.label)
    button.title = item.shortcut ? `${item.label} (${item.shortcut})` : item.label
    button.innerHTML = item.icon
    if (item.toggle) button.setAttribute('aria-pressed', 'false')
    if (readOnly) button.disabled = true
    // Keep the editor selection when clicking with the mouse.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', () => {
      if (readOnly || !editor.isEditable) return
      item.run(editor, { prompt })
      update()
    })
    group.appendChild(button)
    buttons.push({ item, button })
  }

  if (readOnly) {
    const badge = document.createElement('span')
    badge.className = 'toolbar__readonly'
    badge.textContent = 'View only'
    inner.appendChild(badge)
  }

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
