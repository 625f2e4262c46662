// Link popover: the small form that adds, edits, removes and opens a link, shown next to the text like in
// Google Docs instead of a browser prompt. Tiptap's bubble menu plugin positions it and shows it while the caret
// is in a link or when the user asks for one (Ctrl/Cmd+K, the toolbar's link button). Viewers get only "Open".
//
// The editor is built elsewhere with a fixed extension list (frontend/src/editor.js, also read by the schema dump),
// so the plugins are added to the running editor with editor.registerPlugin (createLinkPopover);
// openLinkPopover(editor) finds the popover attached to that editor.

import { getMarkRange, posToDOMRect } from '@tiptap/core'
import { Plugin, PluginKey } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'
import { BubbleMenuPlugin } from '@tiptap/extension-bubble-menu'
import { h } from './dom.js'

const SCHEME = /^([a-z][a-z0-9+.-]*):(?!\d)/i
const ALLOWED = new Set(['http', 'https', 'mailto'])
const EMAIL = /^[^\s@/:]+@[^\s@/:]+\.[^\s@/:]+$/
export const URL_ERROR = 'Enter a web address (example.com, https://…) or an email address'

/** The popover attached to each editor, so the toolbar only needs the editor to open it. */
const popovers = new WeakMap()

/**
 * Turns what the user typed into a link target: http, https and mailto only (a javascript: or data: link would
 * run or show content when a reader clicks it); a bare domain gets https://, a bare email address mailto:.
 * @returns {{ok: true, href: string} | {ok: false, error: string}}
 */
export function normalizeLinkUrl(input) {
  const raw = String(input ?? '').trim()
  if (!raw) return { ok: false, error: 'Enter a link' }
  if (/\s/.test(raw)) return { ok: false, error: 'A link cannot contain spaces' }
  const scheme = SCHEME.exec(raw)
  if (scheme) {
    const name = scheme[1].toLowerCase()
    if (!ALLOWED.has(name)) return { ok: false, error: URL_ERROR }
    if (name === 'mailto') return raw.length > 'mailto:'.length ? { ok: true, href: raw } : { ok: false, error: URL_ERROR }
    return webAddress(raw) ? { ok: true, href: raw } : { ok: false, error: URL_ERROR }
  }
  if (EMAIL.test(raw)) return { ok: true, href: `mailto:${raw}` }
  if (raw.startsWith('/') || raw.startsWith('.') || raw.startsWith('#')) return { ok: false, error: URL_ERROR }
  const href = `https://${raw}`
  const url = webAddress(href)
  // "foo" is more likely a typo than a host; a domain has a dot (localhost is the one useful exception).
  if (!url || !(url.hostname.includes('.') || url.hostname === 'localhost')) return { ok: false, error: URL_ERROR }
  return { ok: true, href }
}

function webAddress(value) {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname ? url : null
  } catch {
    return null
  }
}

/** Whether an href already in the document may be opened: it may come from pasted HTML or another client. */
export function isOpenableHref(href) {
  if (!href) return false
  try {
    const base = typeof location !== 'undefined' && /^https?:/.test(location.href) ? location.href : 'https://localhost/'
    return ['http:', 'https:', 'mailto:'].includes(new URL(href, base).protocol)
  } catch {
    return false
  }
}

/**
 * Builds the popover for `editor` and returns its controller; `register: false` leaves adding `plugins` to the
 * caller (an editor that lists them among its extensions' ProseMirror plugins).
 * @param {import('@tiptap/core').Editor} editor
 */
export function createLinkPopover(editor, { register = true, onOpen = null, onClose = null } = {}) {
  const key = new PluginKey('linkPopover')
  const decoKey = new PluginKey('linkPopoverTarget')
  let requested = null // the selection the user asked for the form on (Ctrl+K, toolbar): shown even outside a link
  let dismissed = false // closed with Escape/Apply/Remove: stay hidden until the selection moves
  let viewerRange = null // read-only: the link a viewer clicked, as {from, to}
  let visible = false
  let destroyed = false

  const input = h('input', {
    type: 'text',
    id: 'link-popover-url',
    className: 'input link-popover__input',
    inputMode: 'url',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Paste or type a link',
    'aria-label': 'Link URL',
    'aria-describedby': 'link-popover-error',
  })
  const error = h('p', { id: 'link-popover-error', className: 'link-popover__error', role: 'alert', hidden: true })
  const apply = h('button', { type: 'submit', className: 'button button--primary link-popover__apply', text: 'Apply' })
  const remove = h('button', { type: 'button', className: 'button link-popover__remove', text: 'Remove link' })
  const open = h('a', { className: 'button link-popover__open', target: '_blank', rel: 'noopener noreferrer', text: 'Open' })
  const shown = h('span', { className: 'link-popover__href' })
  const form = h('form', { className: 'link-popover__form', noValidate: true }, [input, apply, remove])
  const element = h('div', { id: 'link-popover', className: 'link-popover', role: 'dialog', 'aria-label': 'Link' }, [
    form,
    shown,
    open,
    error,
  ])

  const currentHref = () => {
    if (viewerRange) {
      const node = editor.state.doc.nodeAt(viewerRange.from)
      const mark = node && node.marks.find((m) => m.type.name === 'link')
      return (mark && mark.attrs.href) || ''
    }
    return editor.getAttributes('link').href || ''
  }

  function showError(message) {
    error.textContent = message || ''
    error.hidden = !message
    input.setAttribute('aria-invalid', message ? 'true' : 'false')
  }

  /** Patches the popover for the editor's mode and the link under the selection. */
  function render({ fillInput = true } = {}) {
    const editable = editor.isEditable
    const href = currentHref()
    element.dataset.mode = editable ? 'edit' : 'view'
    form.hidden = !editable
    remove.hidden = !href
    shown.hidden = editable || !href
    shown.textContent = href
    const openable = isOpenableHref(href)
    open.hidden = !openable
    if (openable) open.setAttribute('href', href)
    else open.removeAttribute('href')
    // Never overwrite what the user is typing.
    if (fillInput && document.activeElement !== input) {
      input.value = href
      showError('')
    }
  }

  const dispatchMeta = (value) => {
    if (!destroyed && !editor.isDestroyed) editor.view.dispatch(editor.state.tr.setMeta(key, value).setMeta(decoKey, true))
  }

  function shouldShow({ view, state }) {
    if (destroyed || dismissed) return false
    if (!editor.isEditable) return !!viewerRange
    const inForm = element.contains(document.activeElement)
    // A click elsewhere in the text moves the selection: the request was for the old one.
    if (requested && (inForm || state.selection.eq(requested))) return true
    return (inForm || view.hasFocus()) && editor.isActive('link')
  }

  /** Shows the form and puts the caret in its URL field: what Ctrl+K and the toolbar's link button do. */
  function openForm() {
    if (destroyed || editor.isDestroyed) return false
    if (!editor.isEditable) return false // viewers open a link by clicking it
    requested = editor.state.selection
    dismissed = false
    render()
    dispatchMeta('show')
    input.focus()
    input.select()
    if (onOpen) onOpen()
    return true
  }

  /** Hides the popover; focus goes back to the editor unless `refocus` is false (focus left on purpose). */
  function close({ refocus = true } = {}) {
    const wasOpen = visible || requested
    requested = null
    dismissed = true
    viewerRange = null
    showError('')
    dispatchMeta('hide')
    // view.focus() rather than the focus command, which waits a frame: a key typed right after Escape goes in.
    if (refocus && !editor.isDestroyed && editor.isEditable) editor.view.focus()
    if (wasOpen && onClose) onClose()
  }

  function applyLink() {
    if (!editor.isEditable) return false
    const result = normalizeLinkUrl(input.value)
    if (!result.ok) {
      showError(result.error)
      input.focus()
      return false
    }
    const { empty } = editor.state.selection
    const chain = editor.chain().focus()
    // With nothing selected and no link under the caret, the link's text is its address, as in Google Docs.
    const done = empty && !editor.isActive('link')
      ? chain.insertContent({ type: 'text', text: input.value.trim(), marks: [{ type: 'link', attrs: { href: result.href } }] }).run()
      : chain.extendMarkRange('link').setLink({ href: result.href }).run()
    close()
    return done
  }

  function removeLink() {
    if (!editor.isEditable) return false
    const done = editor.chain().focus().extendMarkRange('link').unsetLink().run()
    close()
    return done
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    applyLink()
  })
  remove.addEventListener('click', removeLink)
  element.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return
    event.preventDefault()
    event.stopPropagation()
    close()
  })
  // Focus leaving for somewhere else on the page (not the editor, where the caret decides) closes the form.
  element.addEventListener('focusout', (event) => {
    const next = event.relatedTarget
    if (next && !element.contains(next) && next !== editor.view.dom) close({ refocus: false })
  })

  const onSelection = () => {
    dismissed = false
    if (!element.contains(document.activeElement)) requested = null
    if (visible) render()
  }
  editor.on('selectionUpdate', onSelection)

  const bubble = BubbleMenuPlugin({
    pluginKey: key,
    editor,
    element,
    updateDelay: 0,
    shouldShow,
    // A viewer's click does not move the selection: anchor on the clicked link then.
    getReferencedVirtualElement: () => {
      if (!viewerRange || editor.isDestroyed) return null
      const rect = posToDOMRect(editor.view, viewerRange.from, viewerRange.to)
      return { getBoundingClientRect: () => rect, getClientRects: () => [rect] }
    },
    options: {
      placement: 'bottom-start',
      onShow: () => {
        visible = true
        render()
      },
      onHide: () => {
        visible = false
      },
    },
  })

  const helper = new Plugin({
    key: decoKey,
    props: {
      handleKeyDown(_view, event) {
        const mod = event.ctrlKey || event.metaKey
        if (mod && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'k') return openForm()
        if (event.key === 'Escape' && visible) {
          close()
          return true
        }
        return false
      },
      handleClick(view, pos) {
        if (editor.isEditable) return false
        const range = getMarkRange(view.state.doc.resolve(pos), view.state.schema.marks.link)
        viewerRange = range || null
        dismissed = false
        dispatchMeta(range ? 'show' : 'hide')
        if (range) render()
        return false
      },
      // While the caret is in the URL field the selected text would lose its highlight: keep a mark on it.
      decorations(state) {
        const { from, to, empty } = state.selection
        if (!requested || empty) return null
        return DecorationSet.create(state.doc, [Decoration.inline(from, to, { class: 'link-popover-target' })])
      },
    },
  })

  const plugins = [bubble, helper]
  if (register) editor.registerPlugin(bubble, (_p, existing) => [...existing, bubble, helper])

  const controller = {
    element,
    plugins,
    open: openForm,
    close,
    apply: applyLink,
    remove: removeLink,
    isVisible: () => visible,
    destroy() {
      if (destroyed) return
      destroyed = true
      editor.off('selectionUpdate', onSelection)
      if (register && !editor.isDestroyed) editor.unregisterPlugin([key, decoKey])
      element.remove()
      if (popovers.get(editor) === controller) popovers.delete(editor)
    },
  }
  popovers.set(editor, controller)
  return controller
}

/** Opens the link form on `editor` (the toolbar's link button); false when the editor has no popover. */
export function openLinkPopover(editor) {
  const popover = popovers.get(editor)
  return popover ? popover.open() : false
}

/** The popover attached to `editor`, if any. */
export const getLinkPopover = (editor) => popovers.get(editor) || null
