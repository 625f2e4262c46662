// Share dialog, the state: a pure reducer in the shape of status.js.
//
// One change at a time: while `busy`, further adds, role changes and removals are refused (the view disables
// their controls too). A role change in flight is kept as `pendingRole`, so the member's select shows the new
// role until the server has answered, and the old one again if it refused.

import { OWNER, EDITOR, VIEWER } from './roles.js'

/**
 * @typedef {object} ShareState
 * @property {string} owner          the owner's username (shown first, not editable)
 * @property {string} title          the document's title, for the heading
 * @property {{username: string, role: string}[]} members  as the API lists them
 * @property {boolean} loaded        the list has come at least once (until then the view lists nobody)
 * @property {boolean} open          the dialog is shown
 * @property {boolean} busy          a change is being sent
 * @property {{username: string, role: string} | null} pendingRole  the role change being sent
 * @property {string} error
 * @property {string} notice
 */

/** @returns {ShareState} */
export function initialShare({ owner = '', title = '' } = {}) {
  return { owner, title, members: [], loaded: false, open: false, busy: false, pendingRole: null, error: '', notice: '' }
}

export const USERNAME_REQUIRED = 'Enter a username.'
const ROLE_VERB = { [VIEWER]: 'can view', [EDITOR]: 'can edit' }

/** The notice after a member was added or given a role: "carol can edit." */
export function accessNotice(username, role) {
  return `${username} ${ROLE_VERB[role] || 'has access'}.`
}
export const removedNotice = (username) => `${username} no longer has access.`

const withError = (state, error) => ({ ...state, error: error || '', notice: error ? '' : state.notice })
/** A change starts: refused while another one is under way. */
const start = (state, extra = {}) => (state.busy ? state : withError({ ...state, busy: true, ...extra }, ''))

/**
 * Pure reducer. Events:
 *  {type: 'open'} / {type: 'close'}               the dialog is shown / was closed (button, backdrop, Escape)
 *  {type: 'title', title}                         the document was renamed
 *  {type: 'members-loaded', members}              the API's list
 *  {type: 'members-failed', message}
 *  {type: 'add-requested', username}              the add form is sent (username already trimmed)
 *  {type: 'role-change-requested', username, role}
 *  {type: 'remove-requested', username}
 *  {type: 'action-succeeded', notice} / {type: 'action-failed', message}   the change's answer
 *
 * @param {ShareState} state
 * @param {any} event
 * @returns {ShareState}
 */
export function reduceShare(state, event) {
  switch (event.type) {
    case 'open':
      return { ...state, open: true, error: '', notice: '' }
    case 'close':
      return state.open ? { ...state, open: false } : state
    case 'title':
      return event.title === state.title ? state : { ...state, title: event.title || '' }
    case 'members-loaded':
      return { ...state, loaded: true, members: Array.isArray(event.members) ? event.members : [] }
    case 'members-failed':
      return withError(state, event.message)
    case 'add-requested':
      // Checked before the busy rule: an empty name is always worth saying.
      if (!String(event.username || '').trim()) return withError(state, USERNAME_REQUIRED)
      return start(state)
    case 'role-change-requested':
      return start(state, { pendingRole: { username: event.username, role: event.role } })
    case 'remove-requested':
      return start(state)
    case 'action-succeeded':
      return { ...state, busy: false, pendingRole: null, notice: event.notice || '' }
    case 'action-failed':
      return withError({ ...state, busy: false, pendingRole: null }, event.message)
    default:
      return state
  }
}

/**
 * The rows the list shows: the owner first (from `owner`, or the API's owner row), then everyone else;
 * `others` counts everyone else (-1, and no rows, until the list has come).
 * @param {ShareState} state
 * @returns {{rows: {username: string, role: string}[], others: number}}
 */
export function memberRows(state) {
  const { owner, members } = state
  if (!state.loaded) return { rows: [], others: -1 }
  const others = members.filter((m) => m && m.username && !(owner && m.username === owner) && m.role !== OWNER)
  const ownerName = owner || (members.find((m) => m && m.role === OWNER) || {}).username
  const rows = ownerName ? [{ username: ownerName, role: OWNER }, ...others] : [...others]
  return { rows, others: others.length }
}

/** The role a member's select shows: the one being sent, else the one the server has. */
export function shownRole(state, member) {
  const pending = state.pendingRole
  return pending && pending.username === member.username ? pending.role : member.role
}
