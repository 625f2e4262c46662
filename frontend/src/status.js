// Connection + "saved" indicator, and the one record of the connection state (presence.js subscribes to it).
//
// y-websocket has no acknowledgement of updates, so "Saved" is approximated: after a local change
// the state is "Saving…" until the provider is connected, synced with the server, and its
// WebSocket has flushed everything (`bufferedAmount === 0`), checked on a short timer.

import facts from './server-facts.json'
import { h } from './dom.js'

const CODES = facts.closeCodes

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

/**
 * Next connection state after a y-websocket `status` event ('connected' | 'connecting' | 'disconnected') or a
 * `connection-close` event (pass 'closed'). Once offline, reconnect attempts ('connecting') keep showing
 * "offline" until a connection is actually established: y-websocket emits 'connecting' on every retry while the
 * server is unreachable. This reducer is the one place the connection state is kept (presence.js reads it).
 *
 * @param {StatusState['connection']} prev
 * @param {string} status
 * @returns {StatusState['connection']}
 */
export function nextConnection(prev, status) {
  if (status === 'connected') return 'live'
  if (status === 'connecting') return prev === 'offline' ? 'offline' : 'connecting'
  return 'offline'
}

/**
 * What a final close from the server means (docs/security.md): the editor stops and does not reconnect.
 * Keyed by the server's own close codes (server-facts.json), so a renumbered code cannot lose its label.
 */
export const TERMINAL_LABELS = Object.freeze({
  [CODES.CREDENTIALS_INVALID]: 'Signed out — sign in again to keep editing',
  [CODES.ACCESS_REVOKED]: 'Access revoked — disconnected',
  [CODES.DOCUMENT_GONE]: 'Document deleted — disconnected',
})
/** A final close the server may add later without the editor knowing it yet. */
export const OTHER_TERMINAL_LABEL = 'Disconnected by the server'
/** An operator closed every connection of the document: transient, the editor reconnects by itself. */
export const OPERATOR_CLOSE_LABEL = 'Closed by an operator — reconnecting…'

/**
 * The label of each of the server's own (4xxx) close codes; status.test.js checks that every such code in
 * server-facts.json has one, so a new code on the server fails the tests until it is labelled here.
 */
export const CLOSE_LABELS = Object.freeze({
  ...TERMINAL_LABELS,
  [CODES.CLOSED_BY_OPERATOR]: OPERATOR_CLOSE_LABEL,
})

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
    if (state.lastCloseCode === CODES.CLOSED_BY_OPERATOR) return { state: 'offline', label: OPERATOR_CLOSE_LABEL }
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
  const text = h('span', { className: 'doc-status__text' })
  const el = h('div', { id: 'doc-status', className: 'doc-status', role: 'status', 'aria-live': 'polite' }, [
    h('span', { className: 'doc-status__dot', 'aria-hidden': 'true' }),
    text,
  ])
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
