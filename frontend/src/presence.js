// Presence: who is in the document (from awareness), shown with the connection state that status.js keeps.

import { h } from './dom.js'

/** @typedef {{clientId: number, name: string, color: string, isSelf: boolean}} PresenceUser */
/** @typedef {'connecting' | 'live' | 'offline'} ConnectionStatus */

const HEX_COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i
const FALLBACK_COLOR = '#64748b'

export function safeColor(color) {
  return typeof color === 'string' && HEX_COLOR.test(color.trim()) ? color.trim() : FALLBACK_COLOR
}

/** "Alice Smith" -> "AS", "alice" -> "A", "bob.jones" -> "BJ". */
export function initials(name) {
  const words = String(name || '')
    .trim()
    .split(/[\s._@-]+/)
    .filter(Boolean)
  if (words.length === 0) return '?'
  const letters = words.length === 1 ? [words[0]] : [words[0], words[1]]
  return letters.map((w) => Array.from(w)[0].toUpperCase()).join('')
}

/** Dark or light text for a given background colour. */
export function textColorFor(background) {
  let hex = safeColor(background).slice(1)
  if (hex.length === 3 || hex.length === 4) hex = hex.slice(0, 3).split('').map((c) => c + c).join('')
  hex = hex.slice(0, 6)
  const r = parseInt(hex.slice(0, 2), 16)
  const g = parseInt(hex.slice(2, 4), 16)
  const b = parseInt(hex.slice(4, 6), 16)
  const luminance = (0.299 * r + 0.587 * g + 0.114 * b) / 255
  return luminance > 0.62 ? '#1f2937' : '#ffffff'
}

/**
 * Derives the list of users from an Awareness instance: one entry per client that published a
 * `user` field ({name, color}). The local client comes first, the others sorted by name.
 *
 * @param {import('y-protocols/awareness').Awareness} awareness
 * @returns {PresenceUser[]}
 */
export function deriveUsers(awareness) {
  const selfId = awareness.clientID
  /** @type {PresenceUser[]} */
  const users = []
  awareness.getStates().forEach((state, clientId) => {
    const user = state && state.user
    if (!user || typeof user !== 'object') return
    const name = typeof user.name === 'string' && user.name.trim() ? user.name.trim() : 'Anonymous'
    users.push({ clientId, name, color: safeColor(user.color), isSelf: clientId === selfId })
  })
  users.sort((a, b) => {
    if (a.isSelf !== b.isSelf) return a.isSelf ? -1 : 1
    const byName = a.name.localeCompare(b.name)
    return byName !== 0 ? byName : a.clientId - b.clientId
  })
  return users
}

/**
 * Tracks users, with the connection state read from the status tracker (status.js), so the two never
 * disagree. `subscribe(fn)` calls fn({users, status}) on every change (and once immediately).
 * `destroy()` removes every listener it added.
 *
 * @param {{awareness: import('y-protocols/awareness').Awareness, status: ReturnType<import('./status.js').createStatusTracker>}} opts
 */
export function createPresence({ awareness, status: tracker }) {
  /** @type {ConnectionStatus} */
  let status = tracker.getState().connection
  let users = deriveUsers(awareness)
  const listeners = new Set()

  const notify = () => {
    const snapshot = { users, status }
    listeners.forEach((fn) => fn(snapshot))
  }
  const unsubscribe = tracker.subscribe(({ state }) => {
    if (state.connection === status) return
    status = state.connection
    notify()
  })
  const onAwarenessChange = () => {
    users = deriveUsers(awareness)
    notify()
  }
  awareness.on('change', onAwarenessChange)

  return {
    getUsers: () => users,
    getStatus: () => status,
    subscribe(fn) {
      listeners.add(fn)
      fn({ users, status })
      return () => listeners.delete(fn)
    },
    destroy() {
      unsubscribe()
      awareness.off('change', onAwarenessChange)
      listeners.clear()
    },
  }
}

/**
 * Renders the avatars list. Each <li class="presence__user"> carries data-client-id, data-self,
 * a title with the full name and an accessible label; the own entry is marked "(you)".
 */
export function renderPresence(container, presence) {
  const list = h('ul', { id: 'presence-list', className: 'presence__list', 'aria-label': 'People in this document' })
  const wrap = h('div', { className: 'presence' }, list)
  container.appendChild(wrap)

  const userItem = (user) => {
    const label = user.isSelf ? `${user.name} (you)` : user.name
    return h(
      'li',
      {
        className: user.isSelf ? 'presence__user presence__user--self' : 'presence__user',
        dataset: { clientId: String(user.clientId), self: String(user.isSelf), name: user.name },
        title: label,
      },
      [
        h('span', {
          className: 'presence__avatar',
          'aria-hidden': 'true',
          text: initials(user.name),
          style: { backgroundColor: user.color, color: textColorFor(user.color) },
        }),
        h('span', { className: 'presence__name', text: label }),
      ],
    )
  }

  const unsubscribe = presence.subscribe(({ users, status }) => {
    wrap.dataset.status = status
    list.dataset.count = String(users.length)
    list.replaceChildren(...users.map(userItem))
  })
  return {
    element: wrap,
    destroy() {
      unsubscribe()
      wrap.remove()
    },
  }
}
