// Version history panel: list saved versions, save a named one, preview one read-only, restore it.
//
// The panel lives in the #history-panel <aside> (a side panel on desktop, a sheet on phones) and is
// toggled by the header's "History" button (createHistoryButton). Viewers can browse and preview;
// editors and owners can also save and restore. A restore changes the live document for everyone
// through the WebSocket, so all we do afterwards is refresh the list.

import { el, messageArea } from './dom.js'

const svg = (body, size = 18) =>
  `<svg viewBox="0 0 24 24" width="${size}" height="${size}" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`

const ICONS = {
  history: svg('<path d="M3 12a9 9 0 1 0 3-6.7L3 8"/><polyline points="3 3 3 8 8 8"/><polyline points="12 7 12 12 15.5 14"/>', 16),
  close: svg('<line x1="6" y1="6" x2="18" y2="18"/><line x1="18" y1="6" x2="6" y2="18"/>'),
  refresh: svg('<path d="M21 12a9 9 0 1 1-2.64-6.36L21 8"/><polyline points="21 3 21 8 16 8"/>'),
  back: svg('<polyline points="15 18 9 12 15 6"/>', 16),
}

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

// --- preview sanitising (defence in depth: the server already sanitises the HTML) -----------------

const DROP_ELEMENTS = 'script, style, link, meta, base, iframe, frame, frameset, object, embed, applet, form, noscript, template'
const URL_ATTRIBUTES = ['href', 'src', 'xlink:href', 'action', 'formaction', 'poster', 'background']

/**
 * Parses `html` in an inert <template> (nothing runs or loads while parsing), drops scripts and other
 * active content, event handler attributes and javascript: URLs, and returns a fragment to insert.
 */
export function sanitizePreviewHtml(html) {
  const template = document.createElement('template')
  template.innerHTML = typeof html === 'string' ? html : ''
  const root = template.content
  root.querySelectorAll(DROP_ELEMENTS).forEach((node) => node.remove())
  for (const node of root.querySelectorAll('*')) {
    for (const attr of [...node.attributes]) {
      const name = attr.name.toLowerCase()
      if (name.startsWith('on') || name === 'style' || name === 'srcdoc') {
        node.removeAttribute(attr.name)
      } else if (URL_ATTRIBUTES.includes(name)) {
        const value = attr.value.replace(/[\u0000-\u0020]/g, '').toLowerCase()
        if (/^(javascript|vbscript|data):/.test(value) && !(name === 'src' && /^data:image\//.test(value))) {
          node.removeAttribute(attr.name)
        }
      }
    }
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank')
      node.setAttribute('rel', 'noopener noreferrer nofollow')
    }
  }
  return document.importNode(root, true)
}

// --- the panel ---------------------------------------------------------------------------------

/**
 * @param {HTMLElement} container  the #history-panel element (empty, hidden)
 * @param {{editor?: any, ydoc?: any, provider?: any, api: ReturnType<import('./api.js').createApi>, documentId: string, role: string}} context
 */
export function renderHistoryPanel(container, context = {}) {
  const { api, documentId = '', role = 'viewer' } = context
  const canEdit = role === 'owner' || role === 'editor'
  const listPath = `/documents/${encodeURIComponent(documentId)}/versions/`
  const versionPath = (id) => `${listPath}${encodeURIComponent(id)}/`
  const restorePath = (id) => `${versionPath(id)}restore`

  container.classList.add('history-panel')
  container.setAttribute('aria-labelledby', 'history-title')
  container.hidden = true

  // header
  const heading = el('h2', { id: 'history-title', className: 'history-panel__title', tabindex: '-1', text: 'Version history' })
  const refreshButton = el('button', {
    type: 'button',
    id: 'history-refresh',
    className: 'icon-button history-panel__refresh',
    'aria-label': 'Refresh versions',
    title: 'Refresh',
    html: ICONS.refresh,
  })
  const closeButton = el('button', {
    type: 'button',
    id: 'history-close',
    className: 'icon-button history-panel__close',
    'aria-label': 'Close version history',
    title: 'Close',
    html: ICONS.close,
  })
  const header = el(
    'div',
    { className: 'history-panel__header' },
    heading,
    el('div', { className: 'history-panel__actions' }, refreshButton, closeButton),
  )

  // save form (editors and owners only)
  let form = null
  let nameInput = null
  let saveButton = null
  if (canEdit) {
    nameInput = el('input', {
      id: 'history-name',
      name: 'name',
      type: 'text',
      className: 'input history-save__name',
      placeholder: 'e.g. First draft',
      maxlength: '200',
      autocomplete: 'off',
      required: true,
    })
    saveButton = el('button', { type: 'submit', id: 'history-save', className: 'button button--primary', text: 'Save version' })
    form = el(
      'form',
      { id: 'history-save-form', className: 'history-save', novalidate: true },
      el('label', { for: 'history-name', className: 'history-save__label', text: 'Name this version' }),
      el('div', { className: 'history-save__row' }, nameInput, saveButton),
    )
  }

  const { errorBox, notice, showError, showNotice } = messageArea('history', 'history-panel')

  // list view
  const listHeading = el('h3', { id: 'history-list-title', className: 'history-panel__subtitle', text: 'Versions' })
  const list = el('ul', { id: 'history-list', className: 'history-list', 'aria-labelledby': 'history-list-title' })
  const listView = el('section', { className: 'history-panel__list-view' }, listHeading, list)

  // preview view
  const backButton = el('button', {
    type: 'button',
    id: 'history-back',
    className: 'button button--quiet history-preview__back',
    html: `${ICONS.back}<span>All versions</span>`,
  })
  const previewTitle = el('h3', { id: 'history-preview-title', className: 'history-preview__title', tabindex: '-1' })
  const previewMeta = el('p', { className: 'history-preview__meta' })
  const preview = el('div', {
    id: 'history-preview',
    className: 'history-preview__content doc-editor__content',
    role: 'document',
    'aria-labelledby': 'history-preview-title',
    'aria-readonly': 'true',
    tabindex: '0',
  })
  let restoreButton = null
  if (canEdit) {
    restoreButton = el('button', {
      type: 'button',
      id: 'history-restore',
      className: 'button button--primary history-preview__restore',
      text: 'Restore this version',
    })
  }
  const previewView = el(
    'section',
    { id: 'history-preview-view', className: 'history-panel__preview-view', 'aria-labelledby': 'history-preview-title' },
    backButton,
    previewTitle,
    previewMeta,
    restoreButton ? el('div', { className: 'history-preview__actions' }, restoreButton) : null,
    preview,
  )
  previewView.hidden = true

  const bodyNode = el('div', { className: 'history-panel__body' }, form, errorBox, notice, listView, previewView)
  container.replaceChildren(header, bodyNode)

  // --- state ---
  let versions = []
  let selected = null // {id, name, ...} of the previewed version
  let selectedDetail = null
  let listLoading = false
  let saving = false
  let restoring = false
  let listToken = 0
  let previewToken = 0
  let destroyed = false
  let toggleButton = null
  const listeners = new Set()


  function syncControls() {
    const busy = saving || restoring
    container.toggleAttribute('aria-busy', busy || listLoading)
    refreshButton.disabled = listLoading
    if (saveButton) {
      saveButton.disabled = busy
      saveButton.textContent = saving ? 'Saving…' : 'Save version'
      nameInput.disabled = saving
    }
    if (restoreButton) {
      restoreButton.disabled = busy || !selectedDetail
      restoreButton.textContent = restoring ? 'Restoring…' : 'Restore this version'
    }
  }

  function statusRow(text, modifier) {
    return el('li', { className: `history-list__status history-list__status--${modifier}`, text })
  }

  function renderList() {
    list.replaceChildren()
    list.toggleAttribute('aria-busy', listLoading)
    if (listLoading && versions.length === 0) {
      list.appendChild(statusRow('Loading versions…', 'loading'))
      return
    }
    if (versions.length === 0) {
      list.appendChild(
        statusRow(canEdit ? 'No versions yet. Save one to mark a point you can come back to.' : 'No versions yet.', 'empty'),
      )
      return
    }
    const now = new Date()
    for (const version of versions) {
      const id = String(version.id)
      const isSelected = selected && String(selected.id) === id
      const li = el('li', {
        className: `history-item${version.automatic ? ' history-item--auto' : ''}${isSelected ? ' history-item--selected' : ''}`,
        dataset: { versionId: id },
      })
      const name = el('span', { className: 'history-item__name', text: version.name || 'Untitled version' })
      const top = el('span', { className: 'history-item__top' }, name)
      if (version.automatic) {
        top.append(el('span', { className: 'history-item__badge', title: 'Saved automatically', text: 'Auto' }))
      }
      const meta = el('span', { className: 'history-item__meta' })
      if (version.author) meta.append(el('span', { className: 'history-item__author', text: version.author }))
      const when = formatRelativeTime(version.created_at, now)
      if (when) {
        if (version.author) meta.append(el('span', { className: 'history-item__sep', 'aria-hidden': 'true', text: '·' }))
        meta.append(
          el('time', {
            className: 'history-item__time',
            datetime: version.created_at,
            title: formatAbsoluteTime(version.created_at),
            text: when,
          }),
        )
      }
      const button = el('button', {
        type: 'button',
        className: 'history-item__button',
        'aria-current': isSelected ? 'true' : undefined,
      })
      button.append(top, meta)
      li.appendChild(button)
      list.appendChild(li)
    }
  }

  async function refresh() {
    const token = ++listToken
    listLoading = true
    syncControls()
    renderList()
    try {
      const data = await api.get(listPath)
      if (destroyed || token !== listToken) return versions
      versions = Array.isArray(data) ? data : Array.isArray(data && data.results) ? data.results : []
    } catch (err) {
      if (destroyed || token !== listToken) return versions
      showError(err.message)
    } finally {
      if (!destroyed && token === listToken) {
        listLoading = false
        syncControls()
        renderList()
      }
    }
    return versions
  }

  // --- preview ---

  function describeVersion(version) {
    const parts = [version.automatic ? 'Saved automatically' : version.author ? `Saved by ${version.author}` : 'Saved']
    if (version.automatic && version.author) parts.push(version.author)
    const when = formatAbsoluteTime(version.created_at)
    if (when) parts.push(when)
    return parts.join(' · ')
  }

  function showListView({ focusSelected = false } = {}) {
    const previous = selected
    previewToken++
    selected = null
    selectedDetail = null
    previewView.hidden = true
    listView.hidden = false
    preview.replaceChildren()
    syncControls()
    renderList()
    if (focusSelected && previous) {
      const item = [...list.querySelectorAll('li.history-item')].find((li) => li.dataset.versionId === String(previous.id))
      const target = item && item.querySelector('button')
      ;(target || heading).focus()
    }
  }

  async function showVersion(id) {
    const summary = versions.find((v) => String(v.id) === String(id)) || { id }
    const token = ++previewToken
    selected = summary
    selectedDetail = null
    showError('')
    showNotice('')
    listView.hidden = true
    previewView.hidden = false
    previewTitle.textContent = summary.name || 'Version'
    previewMeta.textContent = describeVersion(summary)
    preview.replaceChildren(el('p', { className: 'history-preview__loading', text: 'Loading preview…' }))
    previewView.setAttribute('aria-busy', 'true')
    syncControls()
    previewTitle.focus()
    try {
      const detail = await api.get(versionPath(id))
      if (destroyed || token !== previewToken) return null
      selectedDetail = detail || {}
      selected = { ...summary, ...selectedDetail }
      previewTitle.textContent = selected.name || 'Version'
      previewMeta.textContent = describeVersion(selected)
      preview.replaceChildren(sanitizePreviewHtml(selectedDetail.html || ''))
      if (!preview.textContent.trim() && !preview.querySelector('img, hr')) {
        preview.replaceChildren(el('p', { className: 'history-preview__empty', text: 'This version is empty.' }))
      }
      return selected
    } catch (err) {
      if (destroyed || token !== previewToken) return null
      preview.replaceChildren()
      showError(err.message)
      return null
    } finally {
      if (!destroyed && token === previewToken) {
        previewView.removeAttribute('aria-busy')
        syncControls()
      }
    }
  }

  // --- actions ---

  async function save(rawName) {
    if (!canEdit || saving) return false
    const name = String(rawName ?? (nameInput ? nameInput.value : '')).trim()
    if (!name) {
      showError('Enter a name for this version.')
      if (nameInput) nameInput.focus()
      return false
    }
    saving = true
    showError('')
    showNotice('')
    syncControls()
    let ok = false
    try {
      const created = await api.post(listPath, { name })
      if (destroyed) return false
      if (nameInput) nameInput.value = ''
      ok = true
      showNotice(`Saved “${(created && created.name) || name}”.`)
    } catch (err) {
      if (!destroyed) showError(err.message)
    } finally {
      saving = false
      if (!destroyed) syncControls()
    }
    if (ok) {
      if (!previewView.hidden) showListView()
      await refresh()
    }
    if (!destroyed && nameInput) nameInput.focus()
    return ok
  }

  async function restore(confirmFn = (message) => window.confirm(message)) {
    if (!canEdit || restoring || !selected) return false
    const target = selected
    const label = target.name ? `“${target.name}”` : 'this version'
    const confirmed = confirmFn(
      `Restore ${label}?\n\nThe document will change for everyone editing it. Its current content is saved as a version first, so you can undo this.`,
    )
    if (!confirmed) return false
    restoring = true
    showError('')
    showNotice('')
    syncControls()
    let ok = false
    try {
      await api.post(restorePath(target.id))
      ok = true
    } catch (err) {
      if (!destroyed) showError(err.message)
    } finally {
      restoring = false
      if (!destroyed) syncControls()
    }
    if (ok && !destroyed) {
      showListView()
      showNotice(`Restored ${label}. The previous content was saved as a version.`)
      await refresh()
      if (!destroyed) heading.focus()
    }
    return ok
  }

  // --- open / close ---

  function emit() {
    const open = !container.hidden
    if (toggleButton) toggleButton.setAttribute('aria-expanded', String(open))
    listeners.forEach((fn) => fn(open))
  }

  function open() {
    if (destroyed) return Promise.resolve(versions)
    const wasHidden = container.hidden
    container.hidden = false
    container.classList.add('history-panel--open')
    if (wasHidden) {
      showError('')
      showNotice('')
      if (!previewView.hidden) showListView()
    }
    emit()
    heading.focus()
    return refresh()
  }

  function close({ returnFocus = true } = {}) {
    if (container.hidden) return
    const hadFocus = container.contains(document.activeElement)
    container.hidden = true
    container.classList.remove('history-panel--open')
    previewToken++
    emit()
    if (returnFocus && hadFocus && toggleButton && toggleButton.isConnected) toggleButton.focus()
  }

  function toggle() {
    if (container.hidden) return open()
    close()
    return Promise.resolve(versions)
  }

  // --- events ---

  const onListClick = (event) => {
    const item = event.target.closest('li.history-item[data-version-id]')
    if (!item || !list.contains(item)) return
    showVersion(item.dataset.versionId)
  }
  const onSubmit = (event) => {
    event.preventDefault()
    save()
  }
  const onKeyDown = (event) => {
    if (event.key !== 'Escape' || container.hidden) return
    event.stopPropagation()
    if (!previewView.hidden) showListView({ focusSelected: true })
    else close()
  }
  const onRestoreClick = () => restore()
  const onBack = () => showListView({ focusSelected: true })
  const onClose = () => close()
  const onRefresh = () => {
    showError('')
    refresh()
  }

  list.addEventListener('click', onListClick)
  if (form) form.addEventListener('submit', onSubmit)
  if (restoreButton) restoreButton.addEventListener('click', onRestoreClick)
  backButton.addEventListener('click', onBack)
  closeButton.addEventListener('click', onClose)
  refreshButton.addEventListener('click', onRefresh)
  container.addEventListener('keydown', onKeyDown)

  syncControls()
  renderList()

  return {
    panel: container,
    open,
    close,
    toggle,
    refresh,
    save,
    restore,
    showVersion,
    isOpen: () => !container.hidden,
    getVersions: () => versions,
    /** The button that toggles the panel: kept in sync (aria-expanded) and given focus back on close. */
    setToggleButton(button) {
      toggleButton = button
      emit()
    },
    onToggle(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    destroy() {
      if (destroyed) return
      destroyed = true
      listeners.clear()
      list.removeEventListener('click', onListClick)
      if (form) form.removeEventListener('submit', onSubmit)
      if (restoreButton) restoreButton.removeEventListener('click', onRestoreClick)
      backButton.removeEventListener('click', onBack)
      closeButton.removeEventListener('click', onClose)
      refreshButton.removeEventListener('click', onRefresh)
      container.removeEventListener('keydown', onKeyDown)
      container.hidden = true
      container.classList.remove('history-panel--open')
      container.replaceChildren()
      if (toggleButton) toggleButton.remove()
      toggleButton = null
    },
  }
}

/** The header "History" button that opens and closes the panel. */
export function createHistoryButton(container, history, { before = null } = {}) {
  const button = el('button', {
    type: 'button',
    id: 'history-button',
    className: 'button history-button',
    'aria-label': 'Version history',
    'aria-controls': history.panel ? history.panel.id || 'history-panel' : 'history-panel',
    'aria-expanded': 'false',
    title: 'Version history',
    html: `${ICONS.history}<span class="history-button__label">History</span>`,
  })
  button.addEventListener('click', () => history.toggle())
  container.insertBefore(button, before && before.parentNode === container ? before : null)
  history.setToggleButton(button)
  return button
}

export default renderHistoryPanel
