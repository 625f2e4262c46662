import { describe, it, expect, afterEach, vi } from 'vitest'
import { createCollabProvider, isTerminalClose, shouldReconnect } from './provider.js'
import { createStatusTracker } from './status.js'

/** A WebSocket the test drives: it opens when told to, and the "server" closes it with a code. */
class ScriptedSocket {
  static CONNECTING = 0
  static OPEN = 1
  static CLOSING = 2
  static CLOSED = 3
  static instances = []

  constructor(url) {
    this.url = url
    this.readyState = ScriptedSocket.CONNECTING
    this.OPEN = ScriptedSocket.OPEN
    this.bufferedAmount = 0
    this.sent = []
    ScriptedSocket.instances.push(this)
  }

  send(data) {
    this.sent.push(data)
  }

  close() {
    this.readyState = ScriptedSocket.CLOSED
  }

  serverOpens() {
    this.readyState = ScriptedSocket.OPEN
    this.onopen?.()
  }

  serverCloses(code, reason = '') {
    this.readyState = ScriptedSocket.CLOSED
    this.onclose?.({ code, reason, wasClean: true })
  }
}

const location = { protocol: 'http:', host: 'docs.test' }

function connect() {
  ScriptedSocket.instances = []
  const collab = createCollabProvider({ documentId: 'doc-1', wsUrl: '/ws/documents', location, WebSocketPolyfill: ScriptedSocket })
  const tracker = createStatusTracker({ ydoc: collab.ydoc, provider: collab.provider })
  const socket = ScriptedSocket.instances[0]
  socket.serverOpens()
  return { collab, tracker, socket }
}

let opened = []
afterEach(() => {
  for (const { collab, tracker } of opened) {
    tracker.destroy()
    collab.destroy()
  }
  opened = []
  vi.useRealTimers()
})

describe('terminal close codes', () => {
  it('reads 4401, 4403 and 4404 (the 44xx range) as final, and nothing else', () => {
    for (const code of [4401, 4403, 4404, 4400, 4499]) expect(isTerminalClose(code)).toBe(true)
    for (const code of [1000, 1006, 1008, 1011, 1013, 4000, 4500, undefined]) expect(isTerminalClose(code)).toBe(false)
    expect(shouldReconnect({ code: 4403 })).toBe(false)
    expect(shouldReconnect({ code: 1006 })).toBe(true)
    expect(shouldReconnect({})).toBe(true)
  })

  it.each([
    [4401, 'Signed out — sign in again to keep editing'],
    [4403, 'Access revoked — disconnected'],
    [4404, 'Document deleted — disconnected'],
  ])('does not reconnect after %i and says why it stopped', (code, label) => {
    vi.useFakeTimers()
    const session = connect()
    opened.push(session)
    const { collab, tracker, socket } = session
    expect(collab.provider.wsconnected).toBe(true)
    const closed = vi.fn()
    collab.provider.on('closed', closed)

    socket.serverCloses(code, 'gone')
    expect(closed).toHaveBeenCalledWith({ code, reason: 'gone' }, collab.provider)
    expect(tracker.getView()).toEqual({ state: 'denied', label })

    vi.advanceTimersByTime(60_000)
    expect(ScriptedSocket.instances).toHaveLength(1) // no new connection attempt
    expect(collab.provider.shouldConnect).toBe(false)
    expect(collab.provider.bcconnected).toBe(false) // nor edits through other tabs
    expect(tracker.getView().label).toBe(label)
  })

  it('reconnects after an operator close (4000) and after a dropped connection', () => {
    vi.useFakeTimers()
    const session = connect()
    opened.push(session)
    const { collab, tracker, socket } = session

    socket.serverCloses(4000, 'closed by an operator')
    expect(tracker.getView()).toEqual({ state: 'offline', label: 'Closed by an operator — reconnecting…' })
    vi.advanceTimersByTime(5_000)
    expect(ScriptedSocket.instances).toHaveLength(2)
    ScriptedSocket.instances[1].serverOpens()
    expect(collab.provider.wsconnected).toBe(true)

    ScriptedSocket.instances[1].serverCloses(1006)
    vi.advanceTimersByTime(5_000)
    expect(ScriptedSocket.instances).toHaveLength(3)
    expect(collab.provider.shouldConnect).toBe(true)
  })
})
