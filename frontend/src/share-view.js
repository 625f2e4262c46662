// Share dialog, the view: builds the <dialog> once, then `render(state)` patches it.
//
// Member rows are rebuilt only when the members change; every render then sets each row's select from the
// state (shownRole), which is also how a refused role change snaps back to the role the server has.

import { h, messageArea } from './dom.js'
import { icon } from './icons.js'
import { initials } from './presence.js'
import { MEMBER_ROLES, OWNER, VIEWER, ROLE_LABELS } from './roles.js'
import { memberRows, shownRole } from './share-state.js'

/** The roles a member can be given, with their labels, in the server's order. */
export const ROLES = MEMBER_ROLES.map((value) => ({ value, label: ROLE_LABELS[value] }))

function roleSelect({ id, name, value, label, className }) {
  const select = h(
    'select',
    { id, name, className, 'aria-label': label },
    ROLES.map((role) => h('option', { value: role.value, text: role.label, selected: role.value === value })),
  )
  select.value = value
  return select
}

function memberRow(member) {
  const cells = [
    h('span', { className: 'share-member__avatar', 'aria-hidden': 'true', text: initials(member.username) }),
    h('span', { className: 'share-member__name', text: member.username }),
  ]
  if (member.role === OWNER) {
    cells.push(h('span', { className: 'share-member__owner', text: ROLE_LABELS[OWNER] }))
  } else {
    cells.push(
      roleSelect({ value: member.role, label: `Role for ${member.username}`, className: 'select share-member__role' }),
      h('button', {
        type: 'button',
        className: 'button button--ghost share-member__remove',
        'aria-label': `Remove ${member.username}`,
        text: 'Remove',
      }),
    )
  }
  return h('li', { className: 'share-member', dataset: { username: member.username, role: member.role } }, cells)
}

/** @param {HTMLElement} container  where the <dialog> is appended */
export function createShareView(container) {
  const heading = h('h2', { id: 'share-dialog-title', className: 'share-dialog__title' })
  const closeButton = h(
    'button',
    { type: 'button', className: 'icon-button share-dialog__close', 'aria-label': 'Close share dialog', title: 'Close' },
    icon('close'),
  )
  const usernameInput = h('input', {
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
  const addRole = roleSelect({ id: 'share-role', name: 'role', value: VIEWER, label: 'Role', className: 'select share-add__role' })
  const addButton = h('button', { type: 'submit', id: 'share-add-button', className: 'button button--primary', text: 'Add' })
  const form = h('form', { id: 'share-add-form', className: 'share-add', novalidate: true }, [
    h('label', { for: 'share-username', className: 'visually-hidden', text: 'Username' }),
    usernameInput,
    h('label', { for: 'share-role', className: 'visually-hidden', text: 'Role' }),
    addRole,
    addButton,
  ])
  const messages = messageArea('share', 'share-dialog')
  const list = h('ul', { id: 'share-members', className: 'share-members', 'aria-labelledby': 'share-members-title' })
  const doneButton = h('button', { type: 'button', className: 'button', id: 'share-done', text: 'Done' })

  const dialog = h('dialog', { id: 'share-dialog', className: 'share-dialog', 'aria-labelledby': 'share-dialog-title' }, [
    h('div', { className: 'share-dialog__header' }, [heading, closeButton]),
    form,
    messages.errorBox,
    messages.notice,
    h('h3', { className: 'share-dialog__subtitle', id: 'share-members-title', text: 'People with access' }),
    list,
    h('div', { className: 'share-dialog__footer' }, doneButton),
  ])
  container.appendChild(dialog)

  // Browsers without a modal dialog (or refusing one, e.g. while disconnected) get a plain open one.
  function showDialog() {
    try {
      if (typeof dialog.showModal === 'function') return dialog.showModal()
    } catch {
      /* fall through */
    }
    dialog.setAttribute('open', '')
  }
  function hideDialog() {
    if (typeof dialog.close === 'function') dialog.close()
    else dialog.removeAttribute('open')
  }

  let shown = null // {members, owner, loaded} the rows were built from
  function renderMembers(state) {
    if (shown && shown.members === state.members && shown.owner === state.owner && shown.loaded === state.loaded) return
    shown = { members: state.members, owner: state.owner, loaded: state.loaded }
    const { rows, others } = memberRows(state)
    list.replaceChildren(
      ...rows.map(memberRow),
      ...(others === 0 ? [h('li', { className: 'share-members__empty', text: 'Only you have access so far.' })] : []),
    )
  }

  /** @param {import('./share-state.js').ShareState} state */
  function render(state) {
    heading.textContent = state.title ? `Share “${state.title}”` : 'Share document'
    dialog.toggleAttribute('aria-busy', state.busy)
    addButton.disabled = state.busy
    usernameInput.disabled = state.busy
    addRole.disabled = state.busy
    messages.render(state)
    renderMembers(state)
    for (const li of list.querySelectorAll('li.share-member')) {
      const select = li.querySelector('select')
      if (select) select.value = shownRole(state, { username: li.dataset.username, role: li.dataset.role })
    }
    list.querySelectorAll('select, button').forEach((node) => {
      node.disabled = state.busy
    })
    if (state.open && !dialog.open) showDialog()
    else if (!state.open && dialog.open) hideDialog()
  }

  return {
    dialog,
    elements: { form, list, closeButton, doneButton, addRole },
    render,
    focusUsername: () => usernameInput.focus(),
    usernameValue: () => usernameInput.value,
    clearUsername() {
      usernameInput.value = ''
    },
    destroy() {
      if (dialog.open) hideDialog()
      dialog.remove()
    },
  }
}
