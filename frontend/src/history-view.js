// Version history panel, the view: builds the panel once, then `render(state)` patches it.
//
// The list and the preview are rebuilt only when what they show changed, so a re-render for, say, a notice
// keeps focus and scroll where they are. Focus moves and clearing the name field are asked for by the wiring
// (`focus`, `clearName`): they are effects of what the user did, not of the state.

import DOMPurify from 'dompurify'
import facts from './server-facts.json'
import { h, messageArea } from './dom.js'
import { icon } from './icons.js'
import { isBusy } from './history-state.js'

// --- time formatting ---------------------------------------------------------------------------

function toDate(value) {
  const date = value instanceof Date ? value : new Date(value)
  return Number.isNaN(date.getTime()) ? null : date
}

/** "12 Mar 2025, 14:05" in the user's locale. */
export function formatAbsoluteTime(value) {
  const date = toDate(value)
  if (!date) return ''
  try {
    return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
  } catch {
    return date.toLocaleString()
  }
}

/** "just now", "5 minutes ago", "yesterday", … and the date itself once it is a week old. */
export function formatRelativeTime(value, now = new Date()) {
  const date = toDate(value)
  if (!date) return ''
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000)
  if (seconds < 45) return 'just now'
  const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null
  const minutes = Math.round(seconds / 60)
  const hours = Math.round(seconds / 3600)
  const days = Math.round(seconds / 86400)
  if (rtf) {
    if (minutes < 60) return rtf.format(-minutes, 'minute')
    if (hours < 24) return rtf.format(-hours, 'hour')
    if (days < 7) return rtf.format(-days, 'day')
  }
  const sameYear = date.getFullYear() === now.getFullYear()
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: sameYear ? undefined : 'numeric' })
}

/** "Saved by alice · 12 Mar 2025, 14:05", "Saved automatically · …". */
export function describeVersion(version) {
  const parts = [version.automatic ? 'Saved automatically' : version.author ? `Saved by ${version.author}` : 'Saved']
  if (version.automatic && version.author) parts.push(version.author)
  const when = formatAbsoluteTime(version.created_at)
  if (when) parts.push(when)
  return parts.join(' · ')
}

// --- preview sanitising (defence in depth: the server already sanitises the HTML) -----------------

// Nothing that runs, loads, submits or restyles the page: the preview shows a document, read-only.
const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'link', 'meta', 'base', 'form', 'noscript', 'template'],
  FORBID_ATTR: ['style', 'srcdoc'],
  RETURN_DOM_FRAGMENT: true,
}

let purifier = null
/** An instance of our own, so the link hook below never touches another user of DOMPurify. */
function getPurifier() {
  if (!purifier) {
    purifier = DOMPurify(window)
    // Links in a preview open elsewhere and pass nothing to the site they point at.
    purifier.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A') {
        node.setAttribute('target', '_blank')
        node.setAttribute('rel', 'noopener noreferrer nofollow')
      }
    })
  }
  return purifier
}

/** A fragment of `html` with scripts, handlers, active URLs and styles removed, ready to insert. */
export function sanitizePreviewHtml(html) {
  return getPurifier().sanitize(typeof html === 'string' ? html : '', PURIFY_CONFIG)
}

// --- the view ------------------------------------------------------------------------------------

const iconButton = (id, modifier, label, title, name) =>
  h('button', { type: 'button', id, className: `icon-button history-panel__${modifier}`, 'aria-label': label, title }, icon(name))

function versionItem(version, selectedId, now) {
  const id = String(version.id)
  const isSelected = selectedId === id
  const when = formatRelativeTime(version.created_at, now)
  const top = h('span', { className: 'history-item__top' }, [
    h('span', { className: 'history-item__name', text: version.name || 'Untitled version' }),
    version.automatic ? h('span', { className: 'history-item__badge', title: 'Saved automatically', text: 'Auto' }) : null,
  ])
  const meta = h('span', { className: 'history-item__meta' }, [
    version.author ? h('span', { className: 'history-item__author', text: version.author }) : null,
    when && version.author ? h('span', { className: 'history-item__sep', 'aria-hidden': 'true', text: '·' }) : null,
    when
      ? h('time', { className: 'history-item__time', datetime: version.created_at, title: formatAbsoluteTime(version.created_at), text: when })
      : null,
  ])
  const className = `history-item${version.automatic ? ' history-item--auto' : ''}${isSelected ? ' history-item--selected' : ''}`
  return h('li', { className, dataset: { versionId: id } }, [
    h('button', { type: 'button', className: 'history-item__button', 'aria-current': isSelected ? 'true' : undefined }, [top, meta]),
  ])
}

const statusRow = (text, modifier) => h('li', { className: `history-list__status history-list__status--${modifier}`, text })

/**
 * @param {HTMLElement} container  the #history-panel element
 * @param {{canEdit: boolean}} options
 */
export function createHistoryView(container, { canEdit }) {
  container.classList.add('history-panel')
  container.setAttribute('aria-labelledby', 'history-title')

  const heading = h('h2', { id: 'history-title', className: 'history-panel__title', tabindex: '-1', text: 'Version history' })
  const refreshButton = iconButton('history-refresh', 'refresh', 'Refresh versions', 'Refresh', 'refresh')
  const closeButton = iconButton('history-close', 'close', 'Close version history', 'Close', 'close')
  const header = h('div', { className: 'history-panel__header' }, [
    heading,
    h('div', { className: 'history-panel__actions' }, [refreshButton, closeButton]),
  ])

  // The save form: editors and owners only.
  const nameInput = canEdit
    ? h('input', {
        id: 'history-name',
        name: 'name',
        type: 'text',
        className: 'input history-save__name',
        placeholder: 'e.g. First draft',
        maxlength: String(facts.versionNameMaxLength),
        autocomplete: 'off',
        required: true,
      })
    : null
  const saveButton = canEdit ? h('button', { type: 'submit', id: 'history-save', className: 'button button--primary', text: 'Save version' }) : null
  const form = canEdit
    ? h('form', { id: 'history-save-form', className: 'history-save', novalidate: true }, [
        h('label', { for: 'history-name', className: 'history-save__label', text: 'Name this version' }),
        h('div', { className: 'history-save__row' }, [nameInput, saveButton]),
      ])
    : null

  const messages = messageArea('history', 'history-panel')

  const list = h('ul', { id: 'history-list', className: 'history-list', 'aria-labelledby': 'history-list-title' })
  const listView = h('section', { className: 'history-panel__list-view' }, [
    h('h3', { id: 'history-list-title', className: 'history-panel__subtitle', text: 'Versions' }),
    list,
  ])

  const backButton = h('button', { type: 'button', id: 'history-back', className: 'button button--quiet history-preview__back' }, [
    icon('back'),
    h('span', { text: 'All versions' }),
  ])
  const previewTitle = h('h3', { id: 'history-preview-title', className: 'history-preview__title', tabindex: '-1' })
  const previewMeta = h('p', { className: 'history-preview__meta' })
  const preview = h('div', {
    id: 'history-preview',
    className: 'history-preview__content doc-editor__content',
    role: 'document',
    'aria-labelledby': 'history-preview-title',
    'aria-readonly': 'true',
    tabindex: '0',
  })
  const restoreButton = canEdit
    ? h('button', { type: 'button', id: 'history-restore', className: 'button button--primary history-preview__restore', text: 'Restore this version' })
    : null
  const previewView = h(
    'section',
    { id: 'history-preview-view', className: 'history-panel__preview-view', 'aria-labelledby': 'history-preview-title', hidden: true },
    [backButton, previewTitle, previewMeta, restoreButton ? h('div', { className: 'history-preview__actions' }, restoreButton) : null, preview],
  )

  container.replaceChildren(
    header,
    h('div', { className: 'history-panel__body' }, [form, messages.errorBox, messages.notice, listView, previewView]),
  )

  let shownList = null // what the list was built from
  let shownPreview = null

  // The list is rebuilt when its versions or loading state change, and when it comes back into view (a rebuild
  // while a version was previewed marks that version as selected; back on the list, nothing is).
  function renderList(state) {
    const selectedId = state.selected ? String(state.selected.id) : null
    const key = { versions: state.versions, loading: state.listLoading, shown: !state.selected }
    const same = shownList && shownList.versions === key.versions && shownList.loading === key.loading
    if (same && (shownList.shown === key.shown || !key.shown)) return
    shownList = key
    list.toggleAttribute('aria-busy', state.listLoading)
    if (state.listLoading && state.versions.length === 0) return list.replaceChildren(statusRow('Loading versions…', 'loading'))
    if (state.versions.length === 0) {
      const empty = canEdit ? 'No versions yet. Save one to mark a point you can come back to.' : 'No versions yet.'
      return list.replaceChildren(statusRow(empty, 'empty'))
    }
    const now = new Date()
    list.replaceChildren(...state.versions.map((version) => versionItem(version, selectedId, now)))
  }

  function renderPreview(state) {
    if (shownPreview && shownPreview.preview === state.preview && shownPreview.detail === state.detail) return
    shownPreview = { preview: state.preview, detail: state.detail }
    if (state.preview === 'loading') return preview.replaceChildren(h('p', { className: 'history-preview__loading', text: 'Loading preview…' }))
    if (state.preview !== 'ready') return preview.replaceChildren()
    preview.replaceChildren(sanitizePreviewHtml((state.detail && state.detail.html) || ''))
    if (!preview.textContent.trim() && !preview.querySelector('img, hr')) {
      preview.replaceChildren(h('p', { className: 'history-preview__empty', text: 'This version is empty.' }))
    }
  }

  /** @param {import('./history-state.js').HistoryState} state */
  function render(state) {
    const busy = isBusy(state)
    container.hidden = !state.open
    container.classList.toggle('history-panel--open', state.open)
    container.toggleAttribute('aria-busy', busy || state.listLoading)
    refreshButton.disabled = state.listLoading
    if (saveButton) {
      saveButton.disabled = busy
      saveButton.textContent = state.saving ? 'Saving…' : 'Save version'
      nameInput.disabled = state.saving
    }
    if (restoreButton) {
      restoreButton.disabled = busy || !state.detail
      restoreButton.textContent = state.restoring ? 'Restoring…' : 'Restore this version'
    }
    messages.render(state)
    listView.hidden = !!state.selected
    previewView.hidden = !state.selected
    if (state.selected) {
      previewTitle.textContent = state.selected.name || 'Version'
      previewMeta.textContent = describeVersion(state.selected)
    }
    if (state.preview === 'loading') previewView.setAttribute('aria-busy', 'true')
    else previewView.removeAttribute('aria-busy')
    renderList(state)
    renderPreview(state)
  }

  const focusTargets = { heading, name: nameInput, previewTitle }
  return {
    elements: { form, list, backButton, closeButton, refreshButton, restoreButton },
    render,
    /** Moves focus to 'heading', 'name' or 'previewTitle'. */
    focus(name) {
      const target = focusTargets[name]
      if (target) target.focus()
    },
    /** Focuses the list entry of version `id` (after coming back from its preview), or the heading. */
    focusVersion(id) {
      const item = [...list.querySelectorAll('li.history-item')].find((li) => li.dataset.versionId === String(id))
      const target = item && item.querySelector('button')
      ;(target || heading).focus()
    },
    nameValue: () => (nameInput ? nameInput.value : ''),
    clearName() {
      if (nameInput) nameInput.value = ''
    },
    hasFocus: () => container.contains(document.activeElement),
    destroy() {
      container.hidden = true
      container.classList.remove('history-panel--open')
      container.replaceChildren()
    },
  }
}
