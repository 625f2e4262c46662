// Document title in the header, inline rename, and live title sync through the Y.Doc.
//
// This file is the wiring: the input, the REST API and the Y.Doc's `meta` map feed the reducer
// (title-state.js), and every new state is rendered by the view (title-view.js).

import { initialTitle as initialTitleState, reduceTitle, sharedTitleDiffers } from './title-state.js'
import { createTitleView } from './title-view.js'

export { MAX_TITLE_LENGTH } from './title-state.js'
export const META_MAP = 'meta'
export const META_TITLE = 'title'
/** The origin of our own writes to `meta`, so the observer can tell them from remote ones. */
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
  let state = initialTitleState({ title: initialTitle, canRename, hasSynced: !!(provider && provider.synced) })
  let destroyed = false
  const view = createTitleView(container, { initialTitle: state.title, canRename: state.canRename })

  /** Renders every new state; a changed title is also told to `onChange` (unless `notify` is false). */
  function dispatch(event, { notify = true } = {}) {
    if (destroyed) return
    const next = reduceTitle(state, event)
    if (next === state) return
    const renamed = next.title !== state.title
    state = next
    view.render(state)
    if (renamed && notify && onChange) onChange(state.title)
  }

  const share = (value) => ydoc.transact(() => meta.set(META_TITLE, value), LOCAL_ORIGIN)

  function startEditing() {
    dispatch({ type: 'edit-started' })
    if (state.editing) view.beginEdit(state.title)
  }

  async function rename(next) {
    const previous = state.title
    const before = state
    dispatch({ type: 'rename-started', title: next })
    if (state === before) return false // nothing to rename, or not allowed
    const value = state.title
    try {
      const data = await api.patch(docPath, { title: value })
      const saved = data && typeof data.title === 'string' && data.title.trim() ? data.title.trim() : value
      dispatch({ type: 'rename-succeeded', title: saved })
      if (!destroyed) share(saved)
      return true
    } catch (err) {
      dispatch({ type: 'rename-failed', previous, message: err.message })
      return false
    }
  }

  async function commit() {
    if (!state.editing) return
    const value = view.inputValue()
    dispatch({ type: 'edit-stopped' })
    await rename(value)
    if (!destroyed) view.focusButton()
  }

  function cancel() {
    if (!state.editing) return
    dispatch({ type: 'edit-stopped' })
    view.focusButton()
  }

  const { button, input } = view.elements
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
  input.addEventListener('blur', () => commit())

  // Remote renames: only what came through the server (the provider) counts; the reducer waits for the first sync.
  const observer = (event) => {
    if (!event.keysChanged.has(META_TITLE)) return
    const origin = event.transaction.origin
    if (origin === LOCAL_ORIGIN || (provider && origin !== provider)) return
    dispatch({ type: 'remote-title', title: meta.get(META_TITLE) })
  }
  meta.observe(observer)

  // Changes restored from IndexedDB, and the initial server state before the first sync, may be stale:
  // once synced, a shared title that differs from the page's is checked against the API.
  async function reconcile() {
    if (!sharedTitleDiffers(state, meta.get(META_TITLE))) return
    try {
      const data = await api.get(docPath)
      if (destroyed) return
      const current = data && typeof data.title === 'string' ? data.title.trim() : ''
      if (!current) return
      dispatch({ type: 'set-title', title: current })
      if (state.canRename && meta.get(META_TITLE) !== current) share(current)
    } catch {
      /* keep the title from the page */
    }
  }

  const onSync = (synced) => {
    if (!synced || state.hasSynced) return
    dispatch({ type: 'synced' })
    reconcile()
  }
  if (provider) provider.on('sync', onSync)
  if (state.hasSynced) reconcile()

  view.render(state)

  return {
    element: view.element,
    getTitle: () => state.title,
    getState: () => state,
    setTitle: (next, { notify = true } = {}) => dispatch({ type: 'set-title', title: next }, { notify }),
    rename,
    startEditing,
    destroy() {
      destroyed = true
      meta.unobserve(observer)
      if (provider) provider.off('sync', onSync)
      view.destroy()
    },
  }
}
