import { describe, it, expect, beforeEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate, applyAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { deriveUsers, createPresence, renderPresence, initials, safeColor } from './presence.js'
import { createStatusTracker } from './status.js'

/** Minimal event emitter standing in for the WebSocket provider's event surface. */
class FakeProvider {
  constructor() {
    this.listeners = new Map()
    this.wsconnected = false
    this.wsconnecting = true
    this.shouldConnect = true
  }
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set())
    this.listeners.get(name).add(fn)
  }
  off(name, fn) {
    this.listeners.get(name)?.delete(fn)
  }
  emit(name, ...args) {
    this.listeners.get(name)?.forEach((fn) => fn(...args))
  }
  count() {
    let n = 0
    this.listeners.forEach((set) => (n += set.size))
    return n
  }
}

/** The connection state presence shows comes from the status tracker (status.js); no timer ticks in these tests. */
const trackerFor = (provider) => createStatusTracker({ ydoc: new Y.Doc(), provider, tickMs: 1e9 })

/** Copies every awareness state of `from` into `to`, as the network would. */
function relay(from, to) {
  const clients = Array.from(from.getStates().keys())
  applyAwarenessUpdate(to, encodeAwarenessUpdate(from, clients), 'remote')
}

let docA, docB, docC, a, b, c
beforeEach(() => {
  docA = new Y.Doc()
  docB = new Y.Doc()
  docC = new Y.Doc()
  a = new Awareness(docA)
  b = new Awareness(docB)
  c = new Awareness(docC)
})

describe('deriveUsers', () => {
  it('lists self first, then others by name, with isSelf and colours', () => {
    a.setLocalStateField('user', { name: 'alice', color: '#ff0000' })
    b.setLocalStateField('user', { name: 'zoe', color: '#00ff00' })
    c.setLocalStateField('user', { name: 'bob', color: '#0000ff' })
    relay(b, a)
    relay(c, a)

    const users = deriveUsers(a)
    expect(users).toEqual([
      { clientId: docA.clientID, name: 'alice', color: '#ff0000', isSelf: true },
      { clientId: docC.clientID, name: 'bob', color: '#0000ff', isSelf: false },
      { clientId: docB.clientID, name: 'zoe', color: '#00ff00', isSelf: false },
    ])
  })

  it('skips clients without a user field and sanitises colours', () => {
    a.setLocalStateField('user', { name: 'alice', color: 'red; background: url(x)' })
    b.setLocalState({ cursor: null }) // no user
    relay(b, a)
    const users = deriveUsers(a)
    expect(users).toHaveLength(1)
    expect(users[0].color).toBe(safeColor('nope'))
  })

  it('drops users whose awareness state was removed', () => {
    a.setLocalStateField('user', { name: 'alice', color: '#111111' })
    b.setLocalStateField('user', { name: 'bob', color: '#222222' })
    relay(b, a)
    expect(deriveUsers(a).map((u) => u.name)).toEqual(['alice', 'bob'])
    removeAwarenessStates(a, [docB.clientID], 'test')
    expect(deriveUsers(a).map((u) => u.name)).toEqual(['alice'])
  })
})

describe('initials', () => {
  it('builds initials', () => {
    expect(initials('alice')).toBe('A')
    expect(initials('Alice Smith')).toBe('AS')
    expect(initials('bob.jones')).toBe('BJ')
    expect(initials('')).toBe('?')
  })
})

describe('createPresence', () => {
  it('follows provider status and awareness changes, and removes listeners on destroy', () => {
    const provider = new FakeProvider()
    a.setLocalStateField('user', { name: 'alice', color: '#123456' })
    const tracker = trackerFor(provider)
    const providerListeners = provider.count()
    const presence = createPresence({ awareness: a, status: tracker })
    expect(provider.count()).toBe(providerListeners) // the connection is the tracker's, not tracked twice
    const snapshots = []
    presence.subscribe((s) => snapshots.push(s))

    expect(presence.getStatus()).toBe('connecting')
    expect(presence.getUsers().map((u) => u.name)).toEqual(['alice'])

    provider.emit('status', { status: 'connected' })
    expect(presence.getStatus()).toBe('live')

    b.setLocalStateField('user', { name: 'bob', color: '#654321' })
    relay(b, a)
    expect(presence.getUsers().map((u) => [u.name, u.isSelf])).toEqual([
      ['alice', true],
      ['bob', false],
    ])

    provider.emit('status', { status: 'disconnected' })
    expect(presence.getStatus()).toBe('offline')
    provider.emit('status', { status: 'connecting' })
    expect(presence.getStatus()).toBe('offline')

    const seen = snapshots.length
    const observersBefore = a._observers.get('change')?.size ?? 0
    presence.destroy()
    expect(a._observers.get('change')?.size ?? 0).toBe(observersBefore - 1)

    c.setLocalStateField('user', { name: 'carol', color: '#abcdef' })
    relay(c, a)
    provider.emit('status', { status: 'connected' })
    expect(tracker.getState().connection).toBe('live')
    expect(snapshots.length).toBe(seen)
    tracker.destroy()
    expect(provider.count()).toBe(0)
  })
})

describe('renderPresence', () => {
  it('renders avatars with initials, colour and "(you)", updated live', () => {
    const provider = new FakeProvider()
    a.setLocalStateField('user', { name: 'alice', color: '#ff0000' })
    const tracker = trackerFor(provider)
    const presence = createPresence({ awareness: a, status: tracker })
    const container = document.createElement('div')
    const view = renderPresence(container, presence)

    let items = container.querySelectorAll('#presence-list .presence__user')
    expect(items).toHaveLength(1)
    expect(items[0].dataset.self).toBe('true')
    expect(items[0].textContent).toContain('alice (you)')
    expect(items[0].querySelector('.presence__avatar').textContent).toBe('A')
    expect(items[0].querySelector('.presence__avatar').style.backgroundColor).toBe('rgb(255, 0, 0)')

    b.setLocalStateField('user', { name: 'Bob Stone', color: '#00aa00' })
    relay(b, a)
    items = container.querySelectorAll('#presence-list .presence__user')
    expect(items).toHaveLength(2)
    expect(items[1].dataset.self).toBe('false')
    expect(items[1].dataset.clientId).toBe(String(docB.clientID))
    expect(items[1].textContent).toContain('Bob Stone')
    expect(items[1].textContent).not.toContain('(you)')
    expect(items[1].querySelector('.presence__avatar').textContent).toBe('BS')

    removeAwarenessStates(a, [docB.clientID], 'left')
    expect(container.querySelectorAll('.presence__user')).toHaveLength(1)

    view.destroy()
    presence.destroy()
    tracker.destroy()
    expect(container.children).toHaveLength(0)
  })
})
