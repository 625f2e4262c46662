// Owner-only share dialog: list members, add by username, change role, remove.

import { initials } from './presence.js'
import { el, messageArea } from './dom.js'

export const ROLES = [
  { value: 'viewer', label: 'Viewer' },
  { value: 'editor', label: 'Editor' },
]

const ROLE_VERB = { viewer: 'can view', editor: 'can edit' }

function roleSelect({ id, name, value, label, className }) {
  const select = el('select', { id, name, className, 'aria-label': label })
  for (const role of ROLES) {
    const option = el('option', { value: role.value, text: role.label })
    if (role.value === value) option.selected = true
    select.appendChild(option)
  }
  select.value = value
  return select
}

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

  const heading = el('h2', { id: 'share-dialog-title', className: 'share-dialog__title' })
  const closeButton = el('button', {
    type: 'button',
    className: 'icon-button share-dialog__close',
    'aria-label': 'Close share dialog',
    title: 'Close',
  })
  closeButton.innerHTML =
    '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><line x1="6" y1="6" x2="18" y2="18"/><line x1="18" y1="6" x2="6" y2="18"/></svg>'

  const usernameInput = el('input', {
    id: 'share-username',
    name: 'username',
    type: 'text',
    className: 'input share-add__username',
    placeholder: 'Add people by username',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  })
  const usernameLabel = el('label', { for: 'share-username', className: 'visually-hidden', text: 'Username' })
  const roleLabel = el('label', { for: 'share-role', className: 'visually-hidden', text: 'Role' })
  const addRole = roleSelect({ id: 'share-role', name: 'role', value: 'viewer', label: 'Role', className: 'select share-add__role' })
  const addButton = el('button', { type: 'submit', id: 'share-add-button', className: 'button button--primary', text: 'Add' })
  const form = el(
    'form',
    { id: 'share-add-form', className: 'share-add', novalidate: true },
    usernameLabel,
    usernameInput,
    roleLabel,
    addRole,
    addButton,
  )

  const { errorBox, notice, showError, showNotice } = messageArea('share', 'share-dialog')

  const listHeading = el('h3', { className: 'share-dialog__subtitle', id: 'share-members-title', text: 'People with access' })
  const list = el('ul', { id: 'share-members', className: 'share-members', 'aria-labelledby': 'share-members-title' })
  const doneButton = el('button', { type: 'button', className: 'button', id: 'share-done', text: 'Done' })

  const dialog = el(
    'dialog',
    { id: 'share-dialog', className: 'share-dialog', 'aria-labelledby': 'share-dialog-title' },
    el('div', { className: 'share-dialog__header' }, heading, closeButton),
    form,
    errorBox,
    notice,
    listHeading,
    list,
    el('div', { className: 'share-dialog__footer' }, doneButton),
  )
  container.appendChild(dialog)

  let members = []
  let busy = false
  let destroyed = false

  function setTitle(value) {
    heading.textContent = value ? `Share “${value}”` : 'Share document'
  }
  setTitle(title)

  function setBusy(value) {
    busy = value
    dialog.toggleAttribute('aria-busy', value)
    addButton.disabled = value
    usernameInput.disabled = value
    addRole.disabled = value
    list.querySelectorAll('select, button').forEach((node) => {
      node.disabled = value
    })
  }

  function renderMembers() {
    list.replaceChildren()
    const rows = []
    const others = members.filter((m) => m && m.username && !(owner && m.username === owner) && m.role !== 'owner')
    const ownerName = owner || (members.find((m) => m && m.role === 'owner') || {}).username
    if (ownerName) rows.push({ username: ownerName, role: 'owner' })
    rows.push(...others)

    for (const member of rows) {
      const isOwner = member.role === 'owner'
      const li = el('li', {
        className: 'share-member',
        dataset: { username: member.username, role: member.role },
      })
      const avatar = el('span', { className: 'share-member__avatar', 'aria-hidden': 'true', text: initials(member.username) })
      const name = el('span', { className: 'share-member__name', text: member.username })
      li.append(avatar, name)
      if (isOwner) {
        li.append(el('span', { className: 'share-member__owner', text: 'Owner' }))
      } else {
        const select = roleSelect({
          value: member.role,
          label: `Role for ${member.username}`,
          className: 'select share-member__role',
        })
        select.addEventListener('change', () => changeRole(member.username, select.value, select))
        const remove = el('button', {
          type: 'button',
          className: 'button button--ghost share-member__remove',
          'aria-label': `Remove ${member.username}`,
          text: 'Remove',
        })
        remove.addEventListener('click', () => removeMember(member.username))
        li.append(select, remove)
      }
      list.appendChild(li)
    }
    if (others.length === 0) {
      list.appendChild(el('li', { className: 'share-members__empty', text: 'Only you have access so far.' }))
    }
  }

  async function refresh() {
    try {
      const data = await api.get(path)
      if (destroyed) return members
      members = Array.isArray(data) ? data : Array.isArray(data && data.results) ? data.results : []
      renderMembers()
    } catch (err) {
      showError(err.message)
    }
    return members
  }

  async function run(action) {
    if (busy) return false
    setBusy(true)
    showError('')
    try {
      await action()
      return true
    } catch (err) {
      showError(err.message)
      return false
    } finally {
      setBusy(false)
    }
  }

  async function addMember(username, role) {
    const name = username.trim()
    if (!name) {
      showError('Enter a username.')
      usernameInput.focus()
      return false
    }
    const ok = await run(async () => {
      await api.post(path, { username: name, role })
      usernameInput.value = ''
      await refresh()
      showNotice(`${name} ${ROLE_VERB[role] || 'has access'}.`)
    })
    usernameInput.focus()
    return ok
  }

  async function changeRole(username, role, select) {
    const previous = (members.find((m) => m.username === username) || {}).role
    const ok = await run(async () => {
      await api.post(path, { username, role })
      await refresh()
      showNotice(`${username} ${ROLE_VERB[role] || 'has access'}.`)
    })
    if (!ok && select && previous) select.value = previous
    return ok
  }

  async function removeMember(username) {
    return run(async () => {
      await api.delete(memberPath(username))
      await refresh()
      showNotice(`${username} no longer has access.`)
    })
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    addMember(usernameInput.value, addRole.value)
  })
  const close = () => {
    if (typeof dialog.close === 'function') dialog.close()
    else dialog.removeAttribute('open')
  }
  closeButton.addEventListener('click', close)
  doneButton.addEventListener('click', close)
  // Click on the backdrop closes the modal.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close()
  })

  async function open() {
    showError('')
    showNotice('')
    if (!dialog.open) {
      if (typeof dialog.showModal === 'function') {
        try {
          dialog.showModal()
        } catch {
          dialog.setAttribute('open', '')
        }
      } else {
        dialog.setAttribute('open', '')
      }
    }
    usernameInput.focus()
    return refresh()
  }

  return {
    dialog,
    open,
    close,
    refresh,
    addMember,
    changeRole,
    removeMember,
    setTitle,
    getMembers: () => members,
    destroy() {
      destroyed = true
      close()
      dialog.remove()
    },
  }
}

/** The header "Share" button that opens the dialog. */
export function createShareButton(container, shareDialog) {
  const button = el('button', {
    type: 'button',
    id: 'share-button',
    className: 'button button--primary share-button',
    'aria-haspopup': 'dialog',
    'aria-controls': 'share-dialog',
    'aria-label': 'Share document',
  })
  button.innerHTML =
    '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/></svg><span>Share</span>'
  button.addEventListener('click', () => shareDialog.open())
  container.appendChild(button)
  return button
}
