// Version history panel: list saved versions, save a named one, preview one read-only, restore it.
//
// The panel lives in the #history-panel <aside> (a side panel on desktop, a sheet on phones) and is
// toggled by the header's "History" button (createHistoryButton). Viewers can browse and preview;
// editors and owners can also save and restore. A restore changes the live document for everyone
// through the WebSocket, so all we do afterwards is refresh the list.
//
// This file is the wiring: DOM and network events go into the reducer (history-state.js), every new
// state is rendered by the view (history-view.js), and focus moves follow what the user did.

import { h } from './dom.js'
import { icon } from './icons.js'
import { VIEWER, canEditRole } from './roles.js'
import { listFrom } from './api.js'
import { initialHistory, reduceHistory, canRestore, restoreLabel, restoreQuestion } from './history-state.js'
import { createHistoryView } from './history-view.js'

export { formatAbsoluteTime, formatRelativeTime, sanitizePreviewHtml } from './history-view.js'

/**
 * @param {HTMLElement} container  the #history-panel element (empty, hidden)
 * @param {{editor?: any, ydoc?: any, provider?: any, api: ReturnType<import('./api.js').createApi>, documentId: string, role: string}} context
 */
export function renderHistoryPanel(container, context = {}) {
  const { api, documentId = '', role = VIEWER } = context
  const listPath = `/documents/${encodeURIComponent(documentId)}/versions/`
  const versionPath = (id) => `${listPath}${encodeURIComponent(id)}/`
  const restorePath = (id) => `${versionPath(id)}restore`

  const view = createHistoryView(container, { canEdit: canEditRole(role) })
  let state = initialHistory({ canEdit: canEditRole(role) })
  let destroyed = false
  let toggleButton = null
  const listeners = new Set()

  /** Nothing arrives after destroy(): late network answers are dropped here. */
  function dispatch(event) {
    if (destroyed) return
    const next = reduceHistory(state, event)
    if (next === state) return
    state = next
    view.render(state)
  }

  async function refresh({ clearError = false } = {}) {
    dispatch({ type: 'list-requested', clearError })
    const token = state.listToken
    try {
      dispatch({ type: 'list-loaded', token, versions: listFrom(await api.get(listPath)) })
    } catch (err) {
      dispatch({ type: 'list-failed', token, message: err.message })
    }
    return state.versions
  }

  async function showVersion(id) {
    dispatch({ type: 'preview-requested', id })
    const token = state.previewToken
    view.focus('previewTitle')
    try {
      const detail = await api.get(versionPath(id))
      if (destroyed || token !== state.previewToken) return null
      dispatch({ type: 'preview-loaded', token, detail })
      return state.selected
    } catch (err) {
      dispatch({ type: 'preview-failed', token, message: err.message })
      return null
    }
  }

  /** Back from a preview to the list, focusing the entry that was previewed. */
  function showList() {
    const previous = state.selected
    dispatch({ type: 'back' })
    if (previous) view.focusVersion(previous.id)
  }

  async function save(rawName) {
    const name = String(rawName ?? view.nameValue()).trim()
    const before = state
    dispatch({ type: 'save-requested', name })
    if (state === before) return false // viewer, or a save already under way
    if (!state.saving) {
      view.focus('name') // the reducer refused an empty name
      return false
    }
    let ok = false
    try {
      const created = await api.post(listPath, { name })
      if (destroyed) return false
      view.clearName()
      ok = true
      dispatch({ type: 'save-succeeded', name: (created && created.name) || name })
    } catch (err) {
      dispatch({ type: 'save-failed', message: err.message })
    }
    if (ok) await refresh()
    if (!destroyed) view.focus('name')
    return ok
  }

  async function restore(confirmFn = (message) => window.confirm(message)) {
    if (destroyed || !canRestore(state)) return false
    const target = state.selected
    if (!confirmFn(restoreQuestion(target))) return false
    dispatch({ type: 'restore-started' })
    try {
      await api.post(restorePath(target.id))
    } catch (err) {
      dispatch({ type: 'restore-failed', message: err.message })
      return false
    }
    if (destroyed) return true
    dispatch({ type: 'restore-succeeded', label: restoreLabel(target) })
    await refresh()
    if (!destroyed) view.focus('heading')
    return true
  }

  // --- open / close ---

  function emit() {
    if (toggleButton) toggleButton.setAttribute('aria-expanded', String(state.open))
    listeners.forEach((fn) => fn(state.open))
  }

  function open() {
    if (destroyed) return Promise.resolve(state.versions)
    dispatch({ type: 'open' })
    emit()
    view.focus('heading')
    return refresh()
  }

  function close({ returnFocus = true } = {}) {
    if (destroyed || !state.open) return
    const hadFocus = view.hasFocus()
    dispatch({ type: 'close' })
    emit()
    if (returnFocus && hadFocus && toggleButton && toggleButton.isConnected) toggleButton.focus()
  }

  function toggle() {
    if (!state.open) return open()
    close()
    return Promise.resolve(state.versions)
  }

  // --- DOM events ---

  const { form, list, backButton, closeButton, refreshButton, restoreButton } = view.elements
  const onListClick = (event) => {
    const item = event.target.closest('li.history-item[data-version-id]')
    if (item && list.contains(item)) showVersion(item.dataset.versionId)
  }
  const onSubmit = (event) => {
    event.preventDefault()
    save()
  }
  const onKeyDown = (event) => {
    if (event.key !== 'Escape' || !state.open) return
    event.stopPropagation()
    if (state.selected) showList()
    else close()
  }
  const onRestoreClick = () => restore()
  const onClose = () => close()
  const onRefresh = () => refresh({ clearError: true })
  const bindings = [
    [list, 'click', onListClick],
    [form, 'submit', onSubmit],
    [restoreButton, 'click', onRestoreClick],
    [backButton, 'click', showList],
    [closeButton, 'click', onClose],
    [refreshButton, 'click', onRefresh],
    [container, 'keydown', onKeyDown],
  ].filter(([target]) => target)
  for (const [target, type, fn] of bindings) target.addEventListener(type, fn)

  view.render(state)

  return {
    panel: container,
    open,
    close,
    toggle,
    refresh: () => refresh(),
    save,
    restore,
    showVersion,
    isOpen: () => !destroyed && state.open,
    getVersions: () => state.versions,
    getState: () => state,
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
      for (const [target, type, fn] of bindings) target.removeEventListener(type, fn)
      view.destroy()
      if (toggleButton) toggleButton.remove()
      toggleButton = null
    },
  }
}

/** The header "History" button that opens and closes the panel. */
export function createHistoryButton(container, history, { before = null } = {}) {
  const button = h(
    'button',
    {
      type: 'button',
      id: 'history-button',
      className: 'button history-button',
      'aria-label': 'Version history',
      'aria-controls': history.panel ? history.panel.id || 'history-panel' : 'history-panel',
      'aria-expanded': 'false',
      title: 'Version history',
    },
    [icon('history'), h('span', { className: 'history-button__label', text: 'History' })],
  )
  button.addEventListener('click', () => history.toggle())
  container.insertBefore(button, before && before.parentNode === container ? before : null)
  history.setToggleButton(button)
  return button
}

export default renderHistoryPanel
