import { describe, it, expect, afterEach, vi } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { mountApp, readConfig } from './main.js'
import { buildServerUrl, indexeddbName } from './provider.js'
import { openLinkPopover } from './link-popover.js'

class FakeProvider {
  constructor(ydoc) {
    this.awareness = new Awareness(ydoc)
    this.handlers = {}
    this.wsconnected = false
    this.wsconnecting = true
    this.shouldConnect = true
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

function makeRoot(attrs) {
  const root = document.createElement('div')
  root.id = 'editor-app'
  const all = {
    documentId: '0f8fad5b-d9cb-469f-a165-70867728950e',
    title: 'Roadmap',
    role: 'owner',
    userName: 'alice',
    userColor: '#e11d48',
    wsUrl: '/ws/documents',
    apiBase: '/api',
    csrfToken: 'csrf-1',
    owner: 'alice',
    ...attrs,
  }
  Object.assign(root.dataset, all)
  document.body.appendChild(root)
  return root
}

let app
afterEach(() => {
  app?.destroy()
  app = null
  document.body.replaceChildren()
  vi.unstubAllGlobals()
})

function mount(attrs) {
  const root = makeRoot(attrs)
  const created = []
  app = mountApp(root, {
    createProvider: (opts) => {
      const ydoc = new Y.Doc()
      const provider = new FakeProvider(ydoc)
      created.push(opts)
      return { ydoc, provider, destroy: () => ydoc.destroy() }
    },
  })
  return { root, created }
}

describe('readConfig', () => {
  it('reads the data attributes and falls back to viewer for unknown roles', () => {
    const root = makeRoot({ role: 'admin', userColor: 'javascript:x' })
    const cfg = readConfig(root)
    expect(cfg.role).toBe('viewer')
    expect(cfg.documentId).toBe('0f8fad5b-d9cb-469f-a165-70867728950e')
    expect(cfg.userColor).toMatch(/^#[0-9a-f]{6}$/)
    expect(cfg.csrfToken).toBe('csrf-1')
  })
})

describe('provider helpers', () => {
  it('builds ws/wss URLs without a trailing slash', () => {
    expect(buildServerUrl('/ws/documents', { protocol: 'http:', host: 'localhost:8000' })).toBe('ws://localhost:8000/ws/documents')
    expect(buildServerUrl('/ws/documents/', { protocol: 'https:', host: 'docs.example' })).toBe('wss://docs.example/ws/documents')
    expect(buildServerUrl('wss://x.example/ws/documents', { protocol: 'http:', host: 'y' })).toBe('wss://x.example/ws/documents')
    expect(indexeddbName('abc')).toBe('collab-doc-abc')
  })
})

describe('mountApp', () => {
  it('renders the owner UI: title, status, presence, share, toolbar, editor', () => {
    const { root, created } = mount({})
    expect(created[0]).toEqual({ documentId: '0f8fad5b-d9cb-469f-a165-70867728950e', wsUrl: '/ws/documents' })
    expect(root.dataset.ready).toBe('true')
    expect(root.querySelector('#doc-title').textContent).toBe('Roadmap')
    expect(root.querySelector('#doc-title-button')).not.toBeNull()
    expect(root.querySelector('#doc-status').dataset.state).toBe('connecting')
    expect(root.querySelector('#presence-list .presence__user').textContent).toContain('alice (you)')
    expect(root.querySelector('#share-button')).not.toBeNull()
    expect(root.querySelector('#share-dialog')).not.toBeNull()
    expect(root.querySelector('#editor-toolbar button[aria-label="Bold"]').disabled).toBe(false)
    expect(root.querySelector('#editor .ProseMirror').getAttribute('contenteditable')).toBe('true')
    expect(root.querySelector('#history-panel')).not.toBeNull()
    expect(app.provider.awareness.getLocalState().user).toEqual({ name: 'alice', color: '#e11d48' })
  })

  it('renders a read-only UI for viewers', () => {
    const { root } = mount({ role: 'viewer', userName: 'vic' })
    expect(root.querySelector('#share-button')).toBeNull()
    expect(root.querySelector('#doc-title-button')).toBeNull()
    expect(root.querySelector('#doc-role').textContent).toBe('Viewer')
    const buttons = [...root.querySelectorAll('#editor-toolbar button')]
    expect(buttons.length).toBeGreaterThan(10)
    expect(buttons.every((b) => b.disabled)).toBe(true)
    expect(root.querySelector('#editor .ProseMirror').getAttribute('contenteditable')).toBe('false')
    expect(app.editor.isEditable).toBe(false)
  })

  it('editors can rename but not share', () => {
    const { root } = mount({ role: 'editor', userName: 'ed' })
    expect(root.querySelector('#share-button')).toBeNull()
    expect(root.querySelector('#doc-title-button')).not.toBeNull()
    expect(app.editor.isEditable).toBe(true)
  })

  it('adds a History button that toggles the version history panel', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('[]', { status: 200, headers: { 'Content-Type': 'application/json' } })))
    const { root } = mount({ role: 'viewer', userName: 'vic' })
    const button = root.querySelector('.app-header #history-button')
    const panel = root.querySelector('#history-panel')
    expect(button.getAttribute('aria-label')).toBe('Version history')
    expect(panel.hidden).toBe(true)
    button.click()
    expect(panel.hidden).toBe(false)
    expect(button.getAttribute('aria-expanded')).toBe('true')
    await vi.waitFor(() => expect(root.querySelector('#history-list').textContent).toContain('No versions yet'))
    expect(fetch).toHaveBeenCalledWith('/api/documents/0f8fad5b-d9cb-469f-a165-70867728950e/versions/', expect.anything())
    button.click()
    expect(panel.hidden).toBe(true)
  })

  it.each([
    [4401, 'Signed out — sign in again to keep editing'],
    [4403, 'Access revoked — disconnected'],
    [4404, 'Document deleted — disconnected'],
  ])('stops editing after the terminal close %i and shows why', (code, label) => {
    const { root } = mount({ role: 'editor', userName: 'ed' })
    expect(app.editor.isEditable).toBe(true)
    app.provider.emit('connection-close', { code })
    app.provider.emit('status', { status: 'disconnected' })
    app.provider.emit('closed', { code, reason: '' })
    expect(root.querySelector('#doc-status').dataset.state).toBe('denied')
    expect(root.querySelector('#doc-status').textContent).toBe(label)
    expect(root.dataset.closed).toBe(String(code))
    expect(app.editor.isEditable).toBe(false)
    expect(root.querySelector('#editor .ProseMirror').getAttribute('contenteditable')).toBe('false')
    const buttons = [...root.querySelectorAll('#editor-toolbar button')]
    expect(root.querySelectorAll('#editor-toolbar')).toHaveLength(1)
    expect(buttons.length).toBeGreaterThan(10)
    expect(buttons.every((b) => b.disabled)).toBe(true)
  })

  it('keeps editing through an operator close (4000): the provider reconnects', () => {
    const { root } = mount({ role: 'editor', userName: 'ed' })
    app.provider.emit('status', { status: 'connected' })
    app.provider.emit('connection-close', { code: 4000 })
    app.provider.emit('status', { status: 'disconnected' })
    expect(root.querySelector('#doc-status').textContent).toBe('Closed by an operator — reconnecting…')
    expect(root.dataset.closed).toBeUndefined()
    expect(app.editor.isEditable).toBe(true)
  })

  it('adds the word count, the link popover and the keyboard-shortcuts dialog', () => {
    const { root } = mount({ role: 'editor', userName: 'ed' })
    app.editor.commands.setContent('<p>Hello there world</p>')
    app.editor.commands.setTextSelection({ from: 7, to: 12 })
    expect(openLinkPopover(app.editor)).toBe(true)
    const popover = root.querySelector('#editor #link-popover')
    expect(popover).not.toBeNull()
    popover.querySelector('input').value = 'example.com'
    popover.querySelector('form').requestSubmit()
    expect(app.editor.getHTML()).toContain('href="https://example.com">there</a>')

    const count = root.querySelector('#doc-page .page-footer #word-count')
    expect(count.textContent).toMatch(/words · \d+ characters$/)

    const button = root.querySelector('.app-header #shortcuts-button')
    const buttons = [...root.querySelectorAll('.app-header__right button')].map((b) => b.id)
    expect(buttons.indexOf('shortcuts-button')).toBeLessThan(buttons.indexOf('history-button'))
    button.click()
    expect(root.querySelector('#shortcuts-dialog').open).toBe(true)
    app.destroy()
    expect(document.querySelector('#shortcuts-dialog, #word-count, #link-popover')).toBeNull()
  })

  it('gives viewers the count and the shortcuts but no link form', () => {
    const { root } = mount({ role: 'viewer', userName: 'vic' })
    expect(openLinkPopover(app.editor)).toBe(false)
    expect(root.querySelector('#link-popover')).toBeNull()
    expect(root.querySelector('#word-count').textContent).toBe('0 words · 0 characters')
    expect(root.querySelector('#shortcuts-button')).not.toBeNull()
  })

  it('puts the History button before Share for owners', () => {
    const { root } = mount({})
    const buttons = [...root.querySelectorAll('.app-header__right button')].map((b) => b.id)
    expect(buttons.indexOf('history-button')).toBeLessThan(buttons.indexOf('share-button'))
  })
})
