// Owner-only share dialog: list members, add by username, change role, remove.
//
// This file is the wiring: DOM and network events go into the reducer (share-state.js), every new state is
// rendered by the view (share-view.js).

import { listFrom } from './api.js'
import { h } from './dom.js'
import { icon } from './icons.js'
import { initialShare, reduceShare, accessNotice, removedNotice } from './share-state.js'
import { createShareView } from './share-view.js'

export { ROLES } from './share-view.js'

/**
 * @param {object} opts
 * @param {ReturnType<import('./api.js').createApi>} opts.api
 * @param {string} opts.documentId
 * @param {string} [opts.owner]        owner's username (shown first, not editable)
 * @param {string} [opts.title]
 * @param {HTMLElement} [opts.container]  where the <dialog> is appended (default: document.body)
 */
export function createShareDialog({ api, documentId, owner = '', title = '', container = document.body }) {
  const path = `/documents/${encodeURIComponent(documentId)}/members/`
  const memberPath = (username) => `${path}${encodeURIComponent(username)}/`

  const view = createShareView(container)
  let state = initialShare({ owner, title })
  let destroyed = false

  /** Nothing arrives after destroy(): late network answers are dropped here. */
  function dispatch(event) {
    if (destroyed) return
    const next = reduceShare(state, event)
    if (next === state) return
    state = next
    view.render(state)
  }

  async function refresh() {
    try {
      dispatch({ type: 'members-loaded', members: listFrom(await api.get(path)) })
    } catch (err) {
      dispatch({ type: 'members-failed', message: err.message })
    }
    return state.members
  }

  /**
   * Starts a change with `startEvent`; `action` sends it and returns the notice. False if the reducer refused
   * to start it (another change under way, an empty username) or the server refused it.
   */
  async function run(startEvent, action) {
    const wasBusy = state.busy
    dispatch(startEvent)
    if (wasBusy || !state.busy) {
      if (!destroyed) view.render(state) // a refused role change: its select goes back to the role the state has
      return false
    }
    try {
      const notice = await action()
      dispatch({ type: 'action-succeeded', notice })
      return true
    } catch (err) {
      dispatch({ type: 'action-failed', message: err.message })
      return false
    }
  }

  async function addMember(username, role) {
    const name = String(username || '').trim()
    const ok = await run({ type: 'add-requested', username: name }, async () => {
      await api.post(path, { username: name, role })
      view.clearUsername()
      await refresh()
      return accessNotice(name, role)
    })
    view.focusUsername()
    return ok
  }

  const changeRole = (username, role) =>
    run({ type: 'role-change-requested', username, role }, async () => {
      await api.post(path, { username, role })
      await refresh()
      return accessNotice(username, role)
    })

  const removeMember = (username) =>
    run({ type: 'remove-requested', username }, async () => {
      await api.delete(memberPath(username))
      await refresh()
      return removedNotice(username)
    })

  const close = () => dispatch({ type: 'close' })

  async function open() {
    dispatch({ type: 'open' })
    view.focusUsername()
    return refresh()
  }

  // --- DOM events ---

  const { form, list, closeButton, doneButton, addRole } = view.elements
  const { dialog } = view
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    addMember(view.usernameValue(), addRole.value)
  })
  // Role changes are caught on the way down: a scripted `change` need not bubble.
  list.addEventListener(
    'change',
    (event) => {
      const select = event.target.closest && event.target.closest('select.share-member__role')
      const row = select && select.closest('li.share-member')
      if (row) changeRole(row.dataset.username, select.value)
    },
    true,
  )
  list.addEventListener('click', (event) => {
    const button = event.target.closest('.share-member__remove')
    const row = button && button.closest('li.share-member')
    if (row) removeMember(row.dataset.username)
  })
  closeButton.addEventListener('click', close)
  doneButton.addEventListener('click', close)
  // Click on the backdrop closes the modal.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close()
  })
  // Escape closes a modal dialog without us: keep the state in step.
  dialog.addEventListener('close', close)

  view.render(state)

  return {
    dialog,
    open,
    close,
    refresh,
    addMember,
    changeRole,
    removeMember,
    setTitle: (value) => dispatch({ type: 'title', title: value }),
    getMembers: () => state.members,
    getState: () => state,
    destroy() {
      destroyed = true
      view.destroy()
    },
  }
}

/** The header "Share" button that opens the dialog. */
export function createShareButton(container, shareDialog) {
  const button = h(
    'button',
    {
      type: 'button',
      id: 'share-button',
      className: 'button button--primary share-button',
      'aria-haspopup': 'dialog',
      'aria-controls': 'share-dialog',
      'aria-label': 'Share document',
    },
    [icon('share'), h('span', { text: 'Share' })],
  )
  button.addEventListener('click', () => shareDialog.open())
  container.appendChild(button)
  return button
}
