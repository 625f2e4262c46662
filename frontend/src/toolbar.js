// Formatting toolbar. Every button has an aria-label; toggle buttons expose aria-pressed.

import { h } from './dom.js'
import { icon } from './icons.js'
import { openLinkPopover } from './link-popover.js'
import { pickImage } from './image-upload.js'

/** The image-upload options of an editor that uploads images (createEditor's `images`), else null. */
const uploadsOf = (editor) => editor.extensionManager.extensions.find((x) => x.name === 'imageUpload')?.options ?? null

/** A text-alignment button: pressed when the block at the selection has that alignment; again removes it. */
const align = (value, label, shortcut) => ({
  name: `align${value[0].toUpperCase()}${value.slice(1)}`, label, shortcut, icon: `align-${value}`, toggle: true,
  isActive: (e) => e.isActive({ textAlign: value }), run: (e) => e.chain().focus().toggleTextAlign(value).run(),
})

/** A table command shown only while the selection is in a table (`inTable`); disabled where it cannot apply. */
const tableCommand = (name, label, command) => ({
  name, label, icon: name, toggle: false, inTable: true,
  isActive: () => false, can: (e) => e.can()[command](), run: (e) => e.chain().focus()[command]().run(),
})

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
  { name: 'underline', label: 'Underline', shortcut: 'Ctrl+U', icon: 'underline', toggle: true,
    isActive: (e) => e.isActive('underline'), run: (e) => e.chain().focus().toggleUnderline().run() },
  { name: 'strike', label: 'Strikethrough', shortcut: 'Ctrl+Shift+S', icon: 'strike', toggle: true,
    isActive: (e) => e.isActive('strike'), run: (e) => e.chain().focus().toggleStrike().run() },
  { name: 'highlight', label: 'Highlight', shortcut: 'Ctrl+Shift+H', icon: 'highlight', toggle: true,
    isActive: (e) => e.isActive('highlight'), run: (e) => e.chain().focus().toggleHighlight().run() },
  { name: 'code', label: 'Inline code', shortcut: 'Ctrl+E', icon: 'code', toggle: true,
    isActive: (e) => e.isActive('code'), run: (e) => e.chain().focus().toggleCode().run() },
  { name: 'link', label: 'Link', shortcut: 'Ctrl+K', icon: 'link', toggle: true,
    isActive: (e) => e.isActive('link'), run: (e) => openLinkPopover(e) },
  null,
  { name: 'bulletList', label: 'Bullet list', shortcut: 'Ctrl+Shift+8', icon: 'bulletList', toggle: true,
    isActive: (e) => e.isActive('bulletList'), run: (e) => e.chain().focus().toggleBulletList().run() },
  { name: 'orderedList', label: 'Ordered list', shortcut: 'Ctrl+Shift+7', icon: 'orderedList', toggle: true,
    isActive: (e) => e.isActive('orderedList'), run: (e) => e.chain().focus().toggleOrderedList().run() },
  { name: 'taskList', label: 'Task list', shortcut: 'Ctrl+Shift+9', icon: 'taskList', toggle: true,
    isActive: (e) => e.isActive('taskList'), run: (e) => e.chain().focus().toggleTaskList().run() },
  { name: 'blockquote', label: 'Blockquote', shortcut: 'Ctrl+Shift+B', icon: 'blockquote', toggle: true,
    isActive: (e) => e.isActive('blockquote'), run: (e) => e.chain().focus().toggleBlockquote().run() },
  { name: 'codeBlock', label: 'Code block', shortcut: 'Ctrl+Alt+C', icon: 'codeBlock', toggle: true,
    isActive: (e) => e.isActive('codeBlock'), run: (e) => e.chain().focus().toggleCodeBlock().run() },
  { name: 'horizontalRule', label: 'Horizontal rule', icon: 'horizontalRule', toggle: false,
    isActive: () => false, run: (e) => e.chain().focus().setHorizontalRule().run() },
  { name: 'image', label: 'Image', icon: 'image', toggle: false, isActive: () => false,
    can: (e) => uploadsOf(e) !== null, run: (e) => pickImage(e, uploadsOf(e).documentId, uploadsOf(e)) },
  null,
  align('left', 'Align left', 'Ctrl+Shift+L'),
  align('center', 'Align center', 'Ctrl+Shift+E'),
  align('right', 'Align right', 'Ctrl+Shift+R'),
  align('justify', 'Justify', 'Ctrl+Shift+J'),
  null,
  { name: 'insertTable', label: 'Insert table', icon: 'table', toggle: false,
    isActive: () => false, can: (e) => e.can().insertTable({ rows: 3, cols: 3, withHeaderRow: true }),
    run: (e) => e.chain().focus().insertTable({ rows: 3, cols: 3, withHeaderRow: true }).run() },
  tableCommand('addRowAfter', 'Add row below', 'addRowAfter'),
  tableCommand('deleteRow', 'Delete row', 'deleteRow'),
  tableCommand('addColumnAfter', 'Add column right', 'addColumnAfter'),
  tableCommand('deleteColumn', 'Delete column', 'deleteColumn'),
  tableCommand('toggleHeaderRow', 'Toggle header row', 'toggleHeaderRow'),
  tableCommand('deleteTable', 'Delete table', 'deleteTable'),
  null,
  { name: 'undo', label: 'Undo', shortcut: 'Ctrl+Z', icon: 'undo', toggle: false,
    isActive: () => false, can: (e) => e.can().undo(), run: (e) => e.chain().focus().undo().run() },
  { name: 'redo', label: 'Redo', shortcut: 'Ctrl+Shift+Z', icon: 'redo', toggle: false,
    isActive: () => false, can: (e) => e.can().redo(), run: (e) => e.chain().focus().redo().run() },
]

/**
 * Renders the toolbar into `container`.
 * Viewers get the same buttons, all disabled, and clicking does nothing. Table commands (`inTable`) are hidden
 * unless the selection is in a table, so the table group is one button until there is a table to work on.
 *
 * @returns {{element: HTMLElement, update: () => void, destroy: () => void}}
 */
export function createToolbar(container, editor, { readOnly = false } = {}) {
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
        hidden: item.inTable ? true : undefined,
      },
      icon(item.icon),
    )
    // Keep the editor selection when clicking with the mouse.
    button.addEventListener('mousedown', (event) => event.preventDefault())
    button.addEventListener('click', () => {
      if (readOnly || !editor.isEditable) return
      item.run(editor)
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
    const inTable = editor.isActive('table')
    for (const { item, button } of buttons) {
      if (item.inTable) button.hidden = !inTable
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
      toolbar.remove()
    },
  }
}
