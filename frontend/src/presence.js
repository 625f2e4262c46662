// Presence: who is in the document (from awareness) and the connection status (from the provider).

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
 * Next connection status after a y-websocket `status` event ('connected' | 'connecting' |
 * 'disconnected') or a 'connection-close' event (pass 'closed'). Once offline, reconnect attempts
 * ('connecting') keep showing "offline" until a connection is actually established: y-websocket
 * emits 'connecting' on every retry while the server is unreachable.
 *
 * @param {ConnectionStatus} prev
 * @param {string} status
 * @returns {ConnectionStatus}
 */
export function nextConnection(prev, status) {
  if (status === 'connected') return 'live'
  if (status === 'connecting') return prev === 'offline' ? 'offline' : 'connecting'
  return 'offline'
}

/** The current connection status of a provider, read from its flags. */
export function connectionFromProvider(provider) {
  if (provider.wsconnected) return 'live'
  if (provider.wsconnecting || provider.shouldConnect) return 'connecting'
  return 'offline'
}

/**
 * Tracks users and connection status. `subscribe(fn)` calls fn({users, status}) on every change
 * (and once immediately). `destroy()` removes every listener it added.
 *
 * @param {{provider: {on: Function, off: Function}, awareness: import('y-protocols/awareness').Awareness}} opts
 */
export function createPresence({ provider, awareness }) {
  /** @type {ConnectionStatus} */
  let status = connectionFromProvider(provider)
  let users = deriveUsers(awareness)
  const listeners = new Set()

  const notify = () => {
    const snapshot = { users, status }
    listeners.forEach((fn) => fn(snapshot))
  }
  const setStatus = (next) => {
    if (next !== status) {
      status = next
      notify()
    }
  }
  const onStatus = (event) => setStatus(nextConnection(status, event && event.status))
  const onClose = () => setStatus(nextConnection(status, 'closed'))
  const onAwarenessChange = () => {
    users = deriveUsers(awareness)
    notify()
  }

  provider.on('status', onStatus)
  provider.on('connection-close', onClose)
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
      provider.off('status', onStatus)
      provider.off('connection-close', onClose)
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
  const wrap = document.createElement('div')
  wrap.className = 'presence'
  const list = document.createElement('ul')
  list.id = 'presence-list'
  list.className = 'presence__list'
  list.setAttribute('aria-label', 'People in this document')
  wrap.appendChild(list)
  container.appendChild(wrap)

  const render = ({ users, status }) => {
    wrap.dataset.status = status
    list.dataset.count = String(users.length)
    list.replaceChildren()
    for (const user of users) {
      const li = document.createElement('li')
      li.className = 'presence__user'
      if (user.isSelf) li.classList.add('presence__user--self')
      li.dataset.clientId = String(user.clientId)
      li.dataset.self = user.isSelf ? 'true' : 'false'
      li.dataset.name = user.name
      const label = user.isSelf ? `${user.name} (you)` : user.name
      li.title = label

      const avatar = document.createElement('span')
      avatar.className = 'presence__avatar'
      avatar.setAttribute('aria-hidden', 'true')
      avatar.textContent = initials(user.name)
      avatar.style.backgroundColor = user.color
      avatar.style.color = textColorFor(user.color)

      const name = document.createElement('span')
      name.className = 'presence__name'
      name.textContent = label

      li.append(avatar, name)
      list.appendChild(li)
    }
  }

  const unsubscribe = presence.subscribe(render)
  return {
    element: wrap,
    destroy() {
      unsubscribe()
      wrap.remove()
    },
  }
}
