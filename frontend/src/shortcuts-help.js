// Keyboard-shortcut help: a modal <dialog> listing the editor's shortcuts, opened with Ctrl+/ (⌘/ on a Mac) or
// the header's "?" button and closed with Escape. The keys are those the Tiptap extensions bind
// (addKeyboardShortcuts, in Tiptap's "Mod-Shift-x" notation, Mod being ⌘ on a Mac and Ctrl elsewhere); a row
// whose extension the editor does not have is left out, so the list never promises a key that does nothing.
// The native modal dialog keeps focus inside itself and makes the page behind it inert.

import { h } from './dom.js'
import { icon } from './icons.js'

/** Groups of {label, keys (one or more alternatives), extension (the Tiptap extension that binds them)}. */
export const SHORTCUT_GROUPS = [
  {
    title: 'Text formatting',
    items: [
      { label: 'Bold', keys: ['Mod-b'], extension: 'bold' },
      { label: 'Italic', keys: ['Mod-i'], extension: 'italic' },
      { label: 'Underline', keys: ['Mod-u'], extension: 'underline' },
      { label: 'Strikethrough', keys: ['Mod-Shift-s'], extension: 'strike' },
      { label: 'Inline code', keys: ['Mod-e'], extension: 'code' },
      { label: 'Highlight', keys: ['Mod-Shift-h'], extension: 'highlight' },
      { label: 'Insert or edit link', keys: ['Mod-k'], extension: 'link' },
    ],
  },
  {
    title: 'Paragraphs',
    items: [
      { label: 'Normal text', keys: ['Mod-Alt-0'], extension: 'paragraph' },
      { label: 'Heading 1', keys: ['Mod-Alt-1'], extension: 'heading' },
      { label: 'Heading 2', keys: ['Mod-Alt-2'], extension: 'heading' },
      { label: 'Heading 3', keys: ['Mod-Alt-3'], extension: 'heading' },
      { label: 'Numbered list', keys: ['Mod-Shift-7'], extension: 'orderedList' },
      { label: 'Bulleted list', keys: ['Mod-Shift-8'], extension: 'bulletList' },
      { label: 'Checklist', keys: ['Mod-Shift-9'], extension: 'taskList' },
      { label: 'Indent list item', keys: ['Tab'], extension: 'listItem' },
      { label: 'Outdent list item', keys: ['Shift-Tab'], extension: 'listItem' },
      { label: 'Quote', keys: ['Mod-Shift-b'], extension: 'blockquote' },
      { label: 'Code block', keys: ['Mod-Alt-c'], extension: 'codeBlock' },
      { label: 'Line break', keys: ['Shift-Enter'], extension: 'hardBreak' },
      { label: 'Align left', keys: ['Mod-Shift-l'], extension: 'textAlign' },
      { label: 'Align center', keys: ['Mod-Shift-e'], extension: 'textAlign' },
      { label: 'Align right', keys: ['Mod-Shift-r'], extension: 'textAlign' },
      { label: 'Justify', keys: ['Mod-Shift-j'], extension: 'textAlign' },
    ],
  },
  {
    title: 'Editing',
    items: [
      { label: 'Undo', keys: ['Mod-z'], extension: 'collaboration' },
      { label: 'Redo', keys: ['Mod-Shift-z', 'Mod-y'], extension: 'collaboration' },
      { label: 'Show keyboard shortcuts', keys: ['Mod-/'] },
      { label: 'Close a dialog or the link box', keys: ['Escape'] },
    ],
  },
]

const MAC_KEYS = { Mod: '⌘', Alt: '⌥', Shift: '⇧', Ctrl: '⌃', Enter: 'Return', Escape: 'Esc' }
const OTHER_KEYS = { Mod: 'Ctrl', Alt: 'Alt', Shift: 'Shift', Ctrl: 'Ctrl', Enter: 'Enter', Escape: 'Esc' }

/** Whether the user is on an Apple platform, where Mod means ⌘. */
export function isMacPlatform(nav = typeof navigator !== 'undefined' ? navigator : null) {
  if (!nav) return false
  const platform = (nav.userAgentData && nav.userAgentData.platform) || nav.platform || nav.userAgent || ''
  return /mac|iphone|ipad|ipod/i.test(platform)
}

/** "Mod-Shift-z" → ['⌘', '⇧', 'Z'] on a Mac, ['Ctrl', 'Shift', 'Z'] elsewhere. */
export function formatKeys(combo, { mac = false } = {}) {
  const names = mac ? MAC_KEYS : OTHER_KEYS
  // A trailing "-" would be the minus key itself; none of the shortcuts above use it.
  return combo.split('-').map((part) => names[part] || (part.length === 1 ? part.toUpperCase() : part))
}

/** The same, as one accessible string ("Ctrl+Shift+Z"; on a Mac "⌘⇧Z"). */
export const keysText = (combo, opts) => formatKeys(combo, opts).join(opts && opts.mac ? '' : '+')

/** The groups the editor can honour: rows whose extension it lacks are dropped, then empty groups. */
export function availableShortcuts(editor) {
  const names = editor ? new Set(editor.extensionManager.extensions.map((e) => e.name)) : null
  return SHORTCUT_GROUPS.map((group) => ({
    title: group.title,
    items: group.items.filter((item) => !item.extension || !names || names.has(item.extension)),
  })).filter((group) => group.items.length > 0)
}

function renderCombo(combo, mac) {
  const keys = formatKeys(combo, { mac })
  return h('span', { className: 'shortcut-keys', 'aria-label': keysText(combo, { mac }) }, [
    keys.map((key, i) => [i > 0 && !mac ? h('span', { className: 'shortcut-keys__plus', 'aria-hidden': 'true', text: '+' }) : null,
      h('kbd', { 'aria-hidden': 'true', text: key })]),
  ])
}

/**
 * Builds the dialog (hidden) into `container` and listens for Ctrl+/ on the whole page.
 * @returns {{dialog: HTMLDialogElement, open: () => void, close: () => void, toggle: () => void, isOpen: () => boolean, destroy: () => void}}
 */
export function createShortcutsHelp({ container = document.body, editor = null, mac = isMacPlatform(), target = document } = {}) {
  const closeButton = h('button', { type: 'button', className: 'icon-button shortcuts-dialog__close', 'aria-label': 'Close keyboard shortcuts', title: 'Close (Esc)' }, icon('close'))
  const sections = availableShortcuts(editor).map((group, index) => {
    const id = `shortcuts-group-${index}`
    return h('section', { className: 'shortcuts-dialog__group', 'aria-labelledby': id }, [
      h('h3', { id, className: 'shortcuts-dialog__subtitle', text: group.title }),
      h('dl', { className: 'shortcuts-dialog__list' }, group.items.map((item) =>
        h('div', { className: 'shortcuts-dialog__row' }, [
          h('dt', { text: item.label }),
          h('dd', {}, item.keys.map((combo, i) => [i > 0 ? h('span', { className: 'shortcut-keys__or', text: ' or ' }) : null, renderCombo(combo, mac)])),
        ]),
      )),
    ])
  })
  const dialog = h('dialog', { id: 'shortcuts-dialog', className: 'shortcuts-dialog', 'aria-labelledby': 'shortcuts-dialog-title' }, [
    h('div', { className: 'shortcuts-dialog__header' }, [
      h('h2', { id: 'shortcuts-dialog-title', className: 'shortcuts-dialog__title', text: 'Keyboard shortcuts' }),
      closeButton,
    ]),
    h('div', { className: 'shortcuts-dialog__body' }, sections),
  ])
  dialog.dataset.platform = mac ? 'mac' : 'other'
  container.appendChild(dialog)

  let returnFocus = null
  const isOpen = () => dialog.open

  function open() {
    if (dialog.open) return
    returnFocus = document.activeElement
    if (typeof dialog.showModal === 'function') {
      try {
        dialog.showModal()
      } catch {
        dialog.setAttribute('open', '')
      }
    } else dialog.setAttribute('open', '')
    closeButton.focus()
  }

  function close() {
    if (!dialog.open) return
    if (typeof dialog.close === 'function') dialog.close()
    else dialog.removeAttribute('open')
    onClosed()
  }

  // Focus goes back where it was (the editor, the "?" button), however the dialog was closed: here, or by the
  // browser's own Escape handling, whose "close" event comes a task later.
  function onClosed() {
    const back = returnFocus
    returnFocus = null
    if (back && back.isConnected && typeof back.focus === 'function') back.focus()
  }
  const toggle = () => (dialog.open ? close() : open())
  const onKeyDown = (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key === '/') {
      event.preventDefault()
      toggle()
    }
  }
  const onDialogKey = (event) => {
    if (event.key !== 'Escape') return
    event.preventDefault()
    close()
  }
  // A click on the backdrop lands on the dialog element itself.
  const onDialogClick = (event) => {
    if (event.target === dialog) close()
  }
  closeButton.addEventListener('click', close)
  dialog.addEventListener('close', onClosed)
  dialog.addEventListener('keydown', onDialogKey)
  dialog.addEventListener('click', onDialogClick)
  target.addEventListener('keydown', onKeyDown)

  return {
    dialog,
    open,
    close,
    toggle,
    isOpen,
    destroy() {
      target.removeEventListener('keydown', onKeyDown)
      dialog.removeEventListener('close', onClosed)
      close()
      dialog.remove()
    },
  }
}

/** The header's "?" button. */
export function createShortcutsButton(container, help, { before = null } = {}) {
  const button = h('button', {
    type: 'button',
    id: 'shortcuts-button',
    className: 'icon-button shortcuts-button',
    'aria-label': 'Keyboard shortcuts',
    'aria-haspopup': 'dialog',
    'aria-controls': help.dialog.id,
    title: `Keyboard shortcuts (${keysText('Mod-/', { mac: help.dialog.dataset.platform === 'mac' })})`,
  }, h('span', { className: 'shortcuts-button__glyph', 'aria-hidden': 'true', text: '?' }))
  button.addEventListener('click', () => help.open())
  container.insertBefore(button, before && before.parentNode === container ? before : null)
  return button
}
