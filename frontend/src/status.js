// Connection + "saved" indicator.
//
// y-websocket has no acknowledgement of updates, so "Saved" is approximated: after a local change
// the state is "Saving…" until the provider is connected, synced with the server, and its
// WebSocket has flushed everything (`bufferedAmount === 0`), checked on a short timer.

import { nextConnection } from './presence.js'

/** Time after a (re)sync before "Saved" may be shown: lets the sync step-2 reply go out first. */
export const SETTLE_MS = 200
export const TICK_MS = 250

/**
 * @typedef {object} StatusState
 * @property {'connecting'|'live'|'offline'} connection
 * @property {boolean} synced        provider synced with the server
 * @property {boolean} everSynced
 * @property {boolean} pending       local changes not yet known to be flushed to the server
 * @property {number} lastSyncAt
 * @property {{code: number, reason: string} | null} closed  terminal close (server refused us)
 * @property {number | null} lastCloseCode  code of the last (transient) close, until the next connect
 */

/** @returns {StatusState} */
export function initialStatus() {
  return {
    connection: 'connecting',
    synced: false,
    everSynced: false,
    pending: false,
    lastSyncAt: 0,
    closed: null,
    lastCloseCode: null,
  }
}

/** What a final close from the server means (docs/security.md). The editor stops and does not reconnect. */
export const TERMINAL_LABELS = {
  4401: 'Signed out — sign in again to keep editing',
  4403: 'Access revoked — disconnected',
  4404: 'Document deleted — disconnected',
}
export const OTHER_TERMINAL_LABEL = 'Disconnected by the server'
/** 4000: an operator closed every connection of the document; the editor reconnects by itself. */
export const OPERATOR_CLOSE_LABEL = 'Closed by an operator — reconnecting…'

/**
 * Pure reducer. Events:
 *  {type: 'status', status: 'connected'|'connecting'|'disconnected'}   provider `status`
 *  {type: 'connection-close', code}                                    provider `connection-close`
 *  {type: 'sync', synced: boolean, now}                                provider `sync`
 *  {type: 'local-update', now}                                         doc `update` not from the provider
 *  {type: 'closed', code, reason}                                      provider `closed` (terminal)
 *  {type: 'tick', now, connected, synced, bufferedAmount}              timer poll of the provider
 *
 * @param {StatusState} state
 * @param {any} event
 * @returns {StatusState}
 */
export function reduceStatus(state, event) {
  switch (event.type) {
    case 'status': {
      const connection = nextConnection(state.connection, event.status)
      if (event.status === 'connected') return { ...state, connection, closed: null, lastCloseCode: null }
      return { ...state, connection, synced: connection === 'live' ? state.synced : false }
    }
    case 'connection-close':
      return {
        ...state,
        connection: nextConnection(state.connection, 'closed'),
        synced: false,
        lastCloseCode: typeof event.code === 'number' ? event.code : null,
      }
    case 'sync':
      if (event.synced) {
        return { ...state, synced: true, everSynced: true, lastSyncAt: event.now ?? 0 }
      }
      return { ...state, synced: false }
    case 'local-update':
      return state.pending ? state : { ...state, pending: true }
    case 'closed':
      return { ...state, connection: 'offline', synced: false, closed: { code: event.code, reason: event.reason || '' } }
    case 'tick': {
      let next = state
      // The poll is the source of truth for flags we may have missed events for.
      if (event.connected === false && state.connection === 'live') {
        next = { ...next, connection: 'offline', synced: false }
      }
      if (event.synced === true && !next.synced && next.connection === 'live') {
        next = { ...next, synced: true, everSynced: true, lastSyncAt: event.now ?? 0 }
      }
      if (
        next.pending &&
        next.connection === 'live' &&
        event.connected !== false &&
        next.synced &&
        event.synced !== false &&
        event.bufferedAmount === 0 &&
        (event.now ?? 0) - next.lastSyncAt >= SETTLE_MS
      ) {
        next = { ...next, pending: false }
      }
      return next
    }
    default:
      return state
  }
}

/**
 * What the indicator shows.
 * @param {StatusState} state
 * @returns {{state: 'connecting'|'saving'|'saved'|'offline'|'denied', label: string}}
 */
export function describeStatus(state) {
  if (state.closed) {
    return { state: 'denied', label: TERMINAL_LABELS[state.closed.code] || OTHER_TERMINAL_LABEL }
  }
  if (state.connection === 'offline') {
    if (state.lastCloseCode === 4000) return { state: 'offline', label: OPERATOR_CLOSE_LABEL }
    return { state: 'offline', label: 'Offline — changes kept locally' }
  }
  if (state.pending) return { state: 'saving', label: 'Saving…' }
  if (state.connection !== 'live' || !state.synced) return { state: 'connecting', label: 'Connecting…' }
  return { state: 'saved', label: 'Saved' }
}

/**
 * Wires a provider + doc into the reducer and polls the socket on a timer.
 * `subscribe(fn)` gets {state, view} on every change (and immediately).
 */
export function createStatusTracker({ ydoc, provider, now = () => Date.now(), tickMs = TICK_MS }) {
  let state = initialStatus()
  if (provider.wsconnected) state = reduceStatus(state, { type: 'status', status: 'connected' })
  if (provider.synced) state = reduceStatus(state, { type: 'sync', synced: true, now: now() })
  const listeners = new Set()
  let lastKey = ''

  const dispatch = (event) => {
    const next = reduceStatus(state, event)
    if (next === state) return
    state = next
    const view = describeStatus(state)
    const key = `${view.state}|${view.label}|${state.connection}`
    if (key === lastKey) return
    lastKey = key
    listeners.forEach((fn) => fn({ state, view }))
  }

  const onStatus = (event) => dispatch({ type: 'status', status: event && event.status })
  const onConnectionClose = (event) => dispatch({ type: 'connection-close', code: event ? event.code : undefined })
  const onSync = (synced) => dispatch({ type: 'sync', synced: !!synced, now: now() })
  const onClosed = (event) => dispatch({ type: 'closed', code: event && event.code, reason: event && event.reason })
  const onUpdate = (_update, origin) => {
    if (origin !== provider) dispatch({ type: 'local-update', now: now() })
  }
  const tick = () => {
    const ws = provider.ws
    dispatch({
      type: 'tick',
      now: now(),
      connected: !!provider.wsconnected,
      synced: !!provider.synced,
      bufferedAmount: ws && typeof ws.bufferedAmount === 'number' ? ws.bufferedAmount : ws ? 0 : -1,
    })
  }

  provider.on('status', onStatus)
  provider.on('connection-close', onConnectionClose)
  provider.on('sync', onSync)
  provider.on('closed', onClosed)
  ydoc.on('update', onUpdate)
  const timer = setInterval(tick, tickMs)

  return {
    getState: () => state,
    getView: () => describeStatus(state),
    dispatch,
    tick,
    subscribe(fn) {
      listeners.add(fn)
      fn({ state, view: describeStatus(state) })
      return () => listeners.delete(fn)
    },
    destroy() {
      clearInterval(timer)
      provider.off('status', onStatus)
      provider.off('connection-close', onConnectionClose)
      provider.off('sync', onSync)
      provider.off('closed', onClosed)
      ydoc.off('update', onUpdate)
      listeners.clear()
    },
  }
}

/** Renders the status pill: #doc-status with data-state and data-connection attributes. */
export function renderStatus(container, tracker) {
  const el = document.createElement('div')
  el.id = 'doc-status'
  el.className = 'doc-status'
  el.setAttribute('role', 'status')
  el.setAttribute('aria-live', 'polite')
  const dot = document.createElement('span')
  dot.className = 'doc-status__dot'
  dot.setAttribute('aria-hidden', 'true')
  const text = document.createElement('span')
  text.className = 'doc-status__text'
  el.append(dot, text)
  container.appendChild(el)

  const unsubscribe = tracker.subscribe(({ state, view }) => {
    el.dataset.state = view.state
    el.dataset.connection = state.connection
    text.textContent = view.label
    el.title = view.label
  })
  return {
    element: el,
    destroy() {
      unsubscribe()
      el.remove()
    },
  }
}
