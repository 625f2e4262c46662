// Version history panel, the state: a pure reducer in the shape of status.js.
//
// Network answers carry the token of the request they answer; an answer whose token is no longer the current
// one (the list was asked for again, another version was opened, the panel was closed) is dropped, so a slow
// reply can never overwrite a newer one.

/**
 * @typedef {object} HistoryState
 * @property {boolean} canEdit        editors and owners save and restore; viewers browse and preview
 * @property {boolean} open           the panel is shown
 * @property {object[]} versions      the list, newest first, as the API returns it
 * @property {boolean} listLoading
 * @property {number} listToken       the current list request
 * @property {object | null} selected the previewed version (summary, then summary + detail); null: the list is shown
 * @property {object | null} detail   the loaded detail of `selected` ({html, ...}); restoring needs it
 * @property {'idle'|'loading'|'ready'|'failed'} preview
 * @property {number} previewToken    the current preview request
 * @property {boolean} saving
 * @property {boolean} restoring
 * @property {string} error           the alert line
 * @property {string} notice          the polite line
 */

/** @returns {HistoryState} */
export function initialHistory({ canEdit = false } = {}) {
  return {
    canEdit,
    open: false,
    versions: [],
    listLoading: false,
    listToken: 0,
    selected: null,
    detail: null,
    preview: 'idle',
    previewToken: 0,
    saving: false,
    restoring: false,
    error: '',
    notice: '',
  }
}

export const NAME_REQUIRED = 'Enter a name for this version.'

/** An error replaces the notice (they would contradict each other); clearing the error leaves the notice. */
const withError = (state, error) => ({ ...state, error: error || '', notice: error ? '' : state.notice })
const clearMessages = (state) => ({ ...state, error: '', notice: '' })
/** Back to the list; bumping the token drops a preview still on its way. */
const toList = (state) => ({ ...state, selected: null, detail: null, preview: 'idle', previewToken: state.previewToken + 1 })

/**
 * Pure reducer. Events:
 *  {type: 'open'} / {type: 'close'}                      the panel is shown / hidden
 *  {type: 'list-requested', clearError?}                 a list request starts (the refresh button clears the alert)
 *  {type: 'list-loaded', token, versions}                its answer
 *  {type: 'list-failed', token, message}
 *  {type: 'preview-requested', id}                       a version is opened
 *  {type: 'preview-loaded', token, detail}
 *  {type: 'preview-failed', token, message}
 *  {type: 'back'}                                        back to the list
 *  {type: 'save-requested', name}                        the save form is sent (name already trimmed)
 *  {type: 'save-succeeded', name} / {type: 'save-failed', message}
 *  {type: 'restore-started'}                             the user confirmed a restore of `selected`
 *  {type: 'restore-succeeded', label} / {type: 'restore-failed', message}
 *
 * @param {HistoryState} state
 * @param {any} event
 * @returns {HistoryState}
 */
export function reduceHistory(state, event) {
  switch (event.type) {
    case 'open':
      // Opening starts afresh; opening an open panel only refreshes it.
      return state.open ? state : toList(clearMessages({ ...state, open: true }))
    case 'close':
      return state.open ? { ...state, open: false, previewToken: state.previewToken + 1 } : state
    case 'list-requested': {
      const next = { ...state, listLoading: true, listToken: state.listToken + 1 }
      return event.clearError ? withError(next, '') : next
    }
    case 'list-loaded':
      if (event.token !== state.listToken) return state
      return { ...state, listLoading: false, versions: Array.isArray(event.versions) ? event.versions : [] }
    case 'list-failed':
      if (event.token !== state.listToken) return state
      return withError({ ...state, listLoading: false }, event.message)
    case 'preview-requested': {
      const summary = state.versions.find((v) => String(v.id) === String(event.id)) || { id: event.id }
      return clearMessages({ ...state, selected: summary, detail: null, preview: 'loading', previewToken: state.previewToken + 1 })
    }
    case 'preview-loaded': {
      if (event.token !== state.previewToken || !state.selected) return state
      const detail = event.detail || {}
      return { ...state, detail, selected: { ...state.selected, ...detail }, preview: 'ready' }
    }
    case 'preview-failed':
      if (event.token !== state.previewToken) return state
      return withError({ ...state, preview: 'failed' }, event.message)
    case 'back':
      return toList(state)
    case 'save-requested':
      if (!state.canEdit || state.saving) return state
      if (!String(event.name || '').trim()) return withError(state, NAME_REQUIRED)
      return clearMessages({ ...state, saving: true })
    case 'save-succeeded': {
      const next = { ...state, saving: false, notice: `Saved “${event.name}”.` }
      // A new version lands at the top of the list: show it.
      return next.selected ? toList(next) : next
    }
    case 'save-failed':
      return withError({ ...state, saving: false }, event.message)
    case 'restore-started':
      return canRestore(state) ? clearMessages({ ...state, restoring: true }) : state
    case 'restore-succeeded':
      return {
        ...toList({ ...state, restoring: false }),
        notice: `Restored ${event.label}. The previous content was saved as a version.`,
      }
    case 'restore-failed':
      return withError({ ...state, restoring: false }, event.message)
    default:
      return state
  }
}

/** Whether a restore of the previewed version may start (the button also waits for its detail). */
export function canRestore(state) {
  return state.canEdit && !state.restoring && !!state.selected
}

/** Saving or restoring: the form and the restore button wait. */
export const isBusy = (state) => state.saving || state.restoring

/** How a restore names its version: “Name”, or “this version” when it has none. */
export function restoreLabel(version) {
  return version && version.name ? `“${version.name}”` : 'this version'
}

/** The confirmation a restore asks for: it changes the document for everyone. */
export function restoreQuestion(version) {
  return `Restore ${restoreLabel(version)}?\n\nThe document will change for everyone editing it. Its current content is saved as a version first, so you can undo this.`
}
