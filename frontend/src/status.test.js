import { describe, it, expect, vi, afterEach } from 'vitest'
import * as Y from 'yjs'
import facts from './server-facts.json'
import {
  nextConnection,
  CLOSE_LABELS,
  initialStatus,
  reduceStatus,
  describeStatus,
  createStatusTracker,
  renderStatus,
  SETTLE_MS,
  TERMINAL_LABELS,
  OTHER_TERMINAL_LABEL,
  OPERATOR_CLOSE_LABEL,
} from './status.js'

const run = (events, state = initialStatus()) => events.reduce(reduceStatus, state)
const label = (state) => describeStatus(state).label
const stateOf = (state) => describeStatus(state).state

const connectedAndSynced = [
  { type: 'status', status: 'connecting' },
  { type: 'status', status: 'connected' },
  { type: 'sync', synced: true, now: 1000 },
]

describe('reduceStatus / describeStatus', () => {
  it('starts connecting and becomes Saved once connected and synced', () => {
    expect(label(initialStatus())).toBe('Connecting…')
    const s = run(connectedAndSynced)
    expect(s.connection).toBe('live')
    expect(label(s)).toBe('Saved')
    expect(stateOf(s)).toBe('saved')
  })

  it('shows Saving… after a local update until the socket buffer is flushed', () => {
    let s = run([...connectedAndSynced, { type: 'local-update', now: 2000 }])
    expect(label(s)).toBe('Saving…')
    s = reduceStatus(s, { type: 'tick', now: 2100, connected: true, synced: true, bufferedAmount: 512 })
    expect(label(s)).toBe('Saving…')
    s = reduceStatus(s, { type: 'tick', now: 2350, connected: true, synced: true, bufferedAmount: 0 })
    expect(label(s)).toBe('Saved')
  })

  it('does not claim Saved right after a (re)sync before the settle time', () => {
    let s = run([{ type: 'status', status: 'connected' }, { type: 'local-update', now: 0 }, { type: 'sync', synced: true, now: 5000 }])
    s = reduceStatus(s, { type: 'tick', now: 5000 + SETTLE_MS - 1, connected: true, synced: true, bufferedAmount: 0 })
    expect(label(s)).toBe('Saving…')
    s = reduceStatus(s, { type: 'tick', now: 5000 + SETTLE_MS, connected: true, synced: true, bufferedAmount: 0 })
    expect(label(s)).toBe('Saved')
  })

  it('never shows Saved while not synced', () => {
    let s = run([{ type: 'status', status: 'connected' }, { type: 'local-update', now: 0 }])
    s = reduceStatus(s, { type: 'tick', now: 99999, connected: true, synced: false, bufferedAmount: 0 })
    expect(label(s)).toBe('Saving…')
    const fresh = run([{ type: 'status', status: 'connected' }])
    expect(label(fresh)).toBe('Connecting…')
  })

  it('goes offline on disconnect, keeps edits pending, and recovers after reconnect + sync', () => {
    let s = run([...connectedAndSynced, { type: 'status', status: 'disconnected' }, { type: 'sync', synced: false }])
    expect(label(s)).toBe('Offline — changes kept locally')
    expect(stateOf(s)).toBe('offline')
    s = reduceStatus(s, { type: 'local-update', now: 3000 })
    expect(label(s)).toBe('Offline — changes kept locally')
    // reconnect attempts keep the offline state
    s = reduceStatus(s, { type: 'status', status: 'connecting' })
    expect(label(s)).toBe('Offline — changes kept locally')
    s = reduceStatus(s, { type: 'tick', now: 3100, connected: false, synced: false, bufferedAmount: -1 })
    expect(label(s)).toBe('Offline — changes kept locally')
    s = reduceStatus(s, { type: 'status', status: 'connected' })
    expect(label(s)).toBe('Saving…')
    s = reduceStatus(s, { type: 'sync', synced: true, now: 4000 })
    s = reduceStatus(s, { type: 'tick', now: 4000 + SETTLE_MS, connected: true, synced: true, bufferedAmount: 0 })
    expect(label(s)).toBe('Saved')
  })

  it('treats a failed first connection as offline', () => {
    const s = run([{ type: 'status', status: 'connecting' }, { type: 'connection-close' }, { type: 'status', status: 'connecting' }])
    expect(stateOf(s)).toBe('offline')
  })

  it('reports a terminal close from the server', () => {
    const s = run([...connectedAndSynced, { type: 'connection-close' }, { type: 'status', status: 'disconnected' }, { type: 'closed', code: 4403, reason: 'forbidden' }])
    expect(stateOf(s)).toBe('denied')
    expect(label(s)).toMatch(/access/i)
    expect(stateOf(reduceStatus(s, { type: 'status', status: 'connected' }))).toBe('connecting')
  })

  it.each([
    [4401, 'Signed out — sign in again to keep editing'],
    [4403, 'Access revoked — disconnected'],
    [4404, 'Document deleted — disconnected'],
    [4409, 'Disconnected by the server'],
  ])('labels the terminal close %i with why the editor stopped', (code, text) => {
    const s = run([...connectedAndSynced, { type: 'connection-close', code }, { type: 'status', status: 'disconnected' }, { type: 'closed', code, reason: '' }])
    expect(stateOf(s)).toBe('denied')
    expect(label(s)).toBe(text)
    expect(TERMINAL_LABELS[code] ?? OTHER_TERMINAL_LABEL).toBe(text)
  })

  it('shows an operator close (4000) as such while reconnecting, never as revoked access', () => {
    let s = run([...connectedAndSynced, { type: 'connection-close', code: 4000 }, { type: 'status', status: 'disconnected' }])
    expect(stateOf(s)).toBe('offline')
    expect(label(s)).toBe(OPERATOR_CLOSE_LABEL)
    expect(label(s)).not.toMatch(/revoked/i)
    s = reduceStatus(s, { type: 'status', status: 'connecting' })
    expect(label(s)).toBe(OPERATOR_CLOSE_LABEL)
    s = run([{ type: 'status', status: 'connected' }, { type: 'sync', synced: true, now: 9000 }], s)
    expect(label(s)).toBe('Saved')
    // a later ordinary drop is just offline again
    s = run([{ type: 'connection-close', code: 1006 }, { type: 'status', status: 'disconnected' }], s)
    expect(label(s)).toBe('Offline — changes kept locally')
  })

  it('detects a dropped connection from the poll even without an event', () => {
    const s = run([...connectedAndSynced, { type: 'tick', now: 9999, connected: false, synced: false, bufferedAmount: -1 }])
    expect(stateOf(s)).toBe('offline')
  })
})

class FakeProvider {
  constructor() {
    this.handlers = {}
    this.wsconnected = false
    this.synced = false
    this.ws = null
  }
  on(n, f) {
    ;(this.handlers[n] ||= new Set()).add(f)
  }
  off(n, f) {
    this.handlers[n]?.delete(f)
  }
  emit(n, ...a) {
    this.handlers[n]?.forEach((f) => f(...a))
  }
}

describe('connection state', () => {
  it('keeps offline while reconnect attempts are made', () => {
    expect(nextConnection('connecting', 'connected')).toBe('live')
    expect(nextConnection('live', 'disconnected')).toBe('offline')
    expect(nextConnection('offline', 'connecting')).toBe('offline')
    expect(nextConnection('offline', 'connected')).toBe('live')
    expect(nextConnection('connecting', 'closed')).toBe('offline')
  })
})

describe('close code labels from server-facts.json', () => {
  const serverCodes = Object.entries(facts.closeCodes).filter(([, code]) => code >= 4000)

  it('knows the server has codes of its own to label', () => {
    expect(serverCodes.map(([name]) => name)).toEqual(expect.arrayContaining(['CLOSED_BY_OPERATOR', 'CREDENTIALS_INVALID', 'ACCESS_REVOKED', 'DOCUMENT_GONE']))
  })

  it.each(serverCodes)('labels %s (%i)', (_name, code) => {
    expect(typeof CLOSE_LABELS[code]).toBe('string')
    expect(CLOSE_LABELS[code].length).toBeGreaterThan(0)
  })

  it('labels each final code by its name and never calls the operator close revoked access', () => {
    const codes = facts.closeCodes
    expect(CLOSE_LABELS[codes.CREDENTIALS_INVALID]).toBe('Signed out — sign in again to keep editing')
    expect(CLOSE_LABELS[codes.ACCESS_REVOKED]).toBe('Access revoked — disconnected')
    expect(CLOSE_LABELS[codes.DOCUMENT_GONE]).toBe('Document deleted — disconnected')
    expect(CLOSE_LABELS[codes.CLOSED_BY_OPERATOR]).toBe('Closed by an operator — reconnecting…')
    expect(TERMINAL_LABELS[codes.CLOSED_BY_OPERATOR]).toBeUndefined()
    const s = run([...connectedAndSynced, { type: 'connection-close', code: codes.CLOSED_BY_OPERATOR }, { type: 'status', status: 'disconnected' }])
    expect(label(s)).not.toBe(TERMINAL_LABELS[codes.ACCESS_REVOKED])
  })
})

describe('createStatusTracker', () => {
  afterEach(() => vi.useRealTimers())

  it('wires doc updates and provider events, ignoring updates that came from the provider', () => {
    vi.useFakeTimers()
    let clock = 0
    const ydoc = new Y.Doc()
    const provider = new FakeProvider()
    const tracker = createStatusTracker({ ydoc, provider, now: () => clock })
    const container = document.createElement('div')
    const view = renderStatus(container, tracker)
    const el = container.querySelector('#doc-status')
    expect(el.dataset.state).toBe('connecting')

    provider.wsconnected = true
    provider.ws = { bufferedAmount: 0 }
    provider.emit('status', { status: 'connected' })
    provider.synced = true
    provider.emit('sync', true)
    clock = 1000
    vi.advanceTimersByTime(300)
    expect(el.dataset.state).toBe('saved')
    expect(el.textContent).toBe('Saved')

    // a remote update (origin = provider) does not make us "Saving…"
    const remote = new Y.Doc()
    remote.getText('t').insert(0, 'hi')
    Y.applyUpdate(ydoc, Y.encodeStateAsUpdate(remote), provider)
    expect(el.dataset.state).toBe('saved')

    // a local edit does, until the buffer drains
    provider.ws.bufferedAmount = 100
    ydoc.getText('t').insert(0, 'x')
    expect(el.textContent).toBe('Saving…')
    clock = 1300
    vi.advanceTimersByTime(300)
    expect(el.textContent).toBe('Saving…')
    provider.ws.bufferedAmount = 0
    clock = 1600
    vi.advanceTimersByTime(300)
    expect(el.textContent).toBe('Saved')

    provider.wsconnected = false
    provider.emit('status', { status: 'disconnected' })
    expect(el.textContent).toBe('Offline — changes kept locally')
    expect(el.dataset.connection).toBe('offline')

    view.destroy()
    tracker.destroy()
    expect(Object.values(provider.handlers).every((s) => s.size === 0)).toBe(true)
  })
})
