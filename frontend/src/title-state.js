// Live document title, the state: a pure reducer in the shape of status.js.
//
// The database (REST API) is the source of truth; the Y.Doc's `meta` map carries renames to the other open
// editors. A shared title is only believed once the first sync with the server is done (before that it may come
// from IndexedDB or a stale initial state), and never while our own rename is on its way (ours lands last).

import facts from './server-facts.json'

export const MAX_TITLE_LENGTH = facts.titleMaxLength
export const UNTITLED = 'Untitled document'

/**
 * @typedef {object} TitleState
 * @property {string} title       never empty
 * @property {boolean} canRename  editors and owners
 * @property {boolean} editing    the inline input is shown
 * @property {boolean} saving     a rename is being sent
 * @property {boolean} hasSynced  the provider has synced with the server at least once
 * @property {string} error       why the last rename failed
 */

/** @returns {TitleState} */
export function initialTitle({ title = '', canRename = false, hasSynced = false } = {}) {
  return { title: String(title || '').trim() || UNTITLED, canRename: !!canRename, editing: false, saving: false, hasSynced: !!hasSynced, error: '' }
}

/** A title from anywhere: trimmed; an empty or unchanged one changes nothing. */
function withTitle(state, value) {
  const title = String(value || '').trim()
  return !title || title === state.title ? state : { ...state, title }
}

/**
 * Pure reducer. Events:
 *  {type: 'set-title', title}                 a title the page or the API says is current
 *  {type: 'edit-started'} / {type: 'edit-stopped'}   the inline input opens / closes (commit or cancel)
 *  {type: 'rename-started', title}            the user's new title (raw: trimmed and cut to the limit here)
 *  {type: 'rename-succeeded', title}          the title the API saved
 *  {type: 'rename-failed', previous, message} the API refused: back to `previous`
 *  {type: 'remote-title', title}              `meta.title` changed through the server
 *  {type: 'synced'}                           the provider's first sync
 *
 * @param {TitleState} state
 * @param {any} event
 * @returns {TitleState}
 */
export function reduceTitle(state, event) {
  switch (event.type) {
    case 'set-title':
      return withTitle(state, event.title)
    case 'edit-started':
      if (!state.canRename || state.editing || state.saving) return state
      return { ...state, editing: true, error: '' }
    case 'edit-stopped':
      return state.editing ? { ...state, editing: false } : state
    case 'rename-started': {
      const title = String(event.title || '').trim().slice(0, MAX_TITLE_LENGTH)
      if (!state.canRename || !title || title === state.title) return state
      // Shown at once; the API's answer confirms or reverts it.
      return { ...state, saving: true, title }
    }
    case 'rename-succeeded':
      return { ...withTitle(state, event.title), saving: false, error: '' }
    case 'rename-failed':
      return { ...withTitle(state, event.previous), saving: false, error: `Could not rename: ${event.message}` }
    case 'remote-title':
      if (!state.hasSynced || state.saving || typeof event.title !== 'string') return state
      return withTitle(state, event.title)
    case 'synced':
      return state.hasSynced ? state : { ...state, hasSynced: true }
    default:
      return state
  }
}

/** Whether the shared title disagrees with ours, so the API must say which one is current. */
export function sharedTitleDiffers(state, shared) {
  return typeof shared === 'string' && !!shared.trim() && shared.trim() !== state.title
}
