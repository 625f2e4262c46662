// Document title in the header, inline rename, and live title sync through the Y.Doc.
//
// The database (REST API) is the source of truth; the Y.Doc's `meta` map (key `title`) carries
// renames to the other open editors without a reload.

export const META_MAP = 'meta'
export const META_TITLE = 'title'
export const MAX_TITLE_LENGTH = 200
const LOCAL_ORIGIN = 'title-rename'

/**
 * @param {object} opts
 * @param {HTMLElement} opts.container
 * @param {import('yjs').Doc} opts.ydoc
 * @param {any} opts.provider             y-websocket provider (origin of remote changes, `sync` events)
 * @param {ReturnType<import('./api.js').createApi>} opts.api
 * @param {string} opts.documentId
 * @param {string} opts.initialTitle
 * @param {boolean} opts.canRename
 * @param {(title: string) => void} [opts.onChange]
 */
export function createTitle({ container, ydoc, provider, api, documentId, initialTitle, canRename, onChange }) {
  const meta = ydoc.getMap(META_MAP)
  const docPath = `/documents/${encodeURIComponent(documentId)}/`
  let title = (initialTitle || '').trim() || 'Untitled document'
  let editing = false
  let saving = false
  let hasSynced = !!(provider && provider.synced)
  let destroyed = false
  // Keep whatever the page appends to the title (base.html renders "Title · Collab").
  const pageTitle = typeof document !== 'undefined' ? document.title : ''
  const titleSuffix = pageTitle.startsWith(title) ? pageTitle.slice(title.length) : ''

  const wrap = document.createElement('div')
  wrap.className = 'doc-title'
  const heading = document.createElement('h1')
  heading.id = 'doc-title'
  heading.className = 'doc-title__heading'
  wrap.appendChild(heading)

  let button = null
  let textNode = null
  if (canRename) {
    button = document.createElement('button')
    button.type = 'button'
    button.id = 'doc-title-button'
    button.className = 'doc-title__button'
    heading.appendChild(button)
  } else {
    textNode = document.createElement('span')
    textNode.className = 'doc-title__text'
    heading.appendChild(textNode)
  }

  const input = document.createElement('input')
  input.type = 'text'
  input.id = 'doc-title-input'
  input.className = 'doc-title__input'
  input.maxLength = MAX_TITLE_LENGTH
  input.setAttribute('aria-label', 'Document title')
  input.hidden = true
  wrap.appendChild(input)

  const error = document.createElement('span')
  error.id = 'doc-title-error'
  error.className = 'doc-title__error'
  error.setAttribute('role', 'alert')
  error.hidden = true
  wrap.appendChild(error)

  container.appendChild(wrap)

  function render() {
    if (button) {
      button.textContent = title
      button.setAttribute('aria-label', `Rename document: ${title}`)
      button.title = 'Rename'
    } else if (textNode) {
      textNode.textContent = title
    }
    heading.dataset.title = title
    if (typeof document === 'undefined') return
    document.title = title + titleSuffix
    // The server-rendered page header (outside the app) shows the title too.
    const pageHeading = document.getElementById('document-title')
    if (pageHeading && !wrap.contains(pageHeading)) pageHeading.textContent = title
  }

  function setTitle(next, { notify = true } = {}) {
    const value = String(next || '').trim()
    if (!value || value === title) return
    title = value
    render()
    if (notify && onChange) onChange(title)
  }

  function showError(message) {
    error.textContent = message || ''
    error.hidden = !message
  }

  function startEditing() {
    if (!canRename || editing || saving) return
    editing = true
    showError('')
    input.value = title
    input.hidden = false
    heading.hidden = true
    input.focus()
    input.select()
  }

  function stopEditing() {
    editing = false
    input.hidden = true
    heading.hidden = false
  }

  async function rename(next) {
    const value = String(next || '').trim().slice(0, MAX_TITLE_LENGTH)
    if (!canRename || !value || value === title) return false
    const previous = title
    saving = true
    wrap.dataset.saving = 'true'
    setTitle(value)
    try {
      const data = await api.patch(docPath, { title: value })
      const saved = data && typeof data.title === 'string' && data.title.trim() ? data.title.trim() : value
      setTitle(saved)
      if (!destroyed) ydoc.transact(() => meta.set(META_TITLE, saved), LOCAL_ORIGIN)
      showError('')
      return true
    } catch (err) {
      setTitle(previous)
      showError(`Could not rename: ${err.message}`)
      return false
    } finally {
      saving = false
      delete wrap.dataset.saving
    }
  }

  async function commit() {
    if (!editing) return
    const value = input.value
    stopEditing()
    await rename(value)
    if (button && !destroyed) button.focus()
  }

  function cancel() {
    if (!editing) return
    stopEditing()
    if (button) button.focus()
  }

  if (button) button.addEventListener('click', startEditing)
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault()
      commit()
    } else if (event.key === 'Escape') {
      event.preventDefault()
      cancel()
    }
  })
  input.addEventListener('blur', () => {
    if (editing) commit()
  })

  // Remote renames. Changes restored from IndexedDB, and the initial server state before the
  // first sync, may be stale: they are reconciled against the API once the first sync is done.
  const observer = (event) => {
    if (!event.keysChanged.has(META_TITLE)) return
    if (event.transaction.origin === LOCAL_ORIGIN) return
    if (!hasSynced) return
    if (provider && event.transaction.origin !== provider) return
    const value = meta.get(META_TITLE)
    // While our own rename is in flight, ours lands last anyway.
    if (typeof value === 'string' && !saving) setTitle(value)
  }
  meta.observe(observer)

  async function reconcile() {
    const value = meta.get(META_TITLE)
    if (typeof value !== 'string' || !value.trim() || value.trim() === title) return
    // The shared title differs from the page's: ask the API which one is current.
    try {
      const data = await api.get(docPath)
      if (destroyed) return
      const current = data && typeof data.title === 'string' ? data.title.trim() : ''
      if (!current) return
      setTitle(current)
      if (canRename && meta.get(META_TITLE) !== current) {
        ydoc.transact(() => meta.set(META_TITLE, current), LOCAL_ORIGIN)
      }
    } catch {
      /* keep the title from the page */
    }
  }

  const onSync = (synced) => {
    if (!synced || hasSynced) return
    hasSynced = true
    reconcile()
  }
  if (provider) provider.on('sync', onSync)
  if (hasSynced) reconcile()

  render()

  return {
    element: wrap,
    getTitle: () => title,
    setTitle,
    rename,
    startEditing,
    destroy() {
      destroyed = true
      meta.unobserve(observer)
      if (provider) provider.off('sync', onSync)
      wrap.remove()
    },
  }
}
