import { describe, it, expect, vi, beforeEach } from 'vitest'
import * as Y from 'yjs'
import { createApi } from './api.js'
import { createTitle } from './title.js'

class FakeProvider {
  constructor(synced = true) {
    this.synced = synced
    this.handlers = {}
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

/** Connects two docs like a server would: each side's updates arrive with origin = its provider. */
function link(docA, provA, docB, provB) {
  docA.on('update', (u, origin) => {
    if (origin !== provA) Y.applyUpdate(docB, u, provB)
  })
  docB.on('update', (u, origin) => {
    if (origin !== provB) Y.applyUpdate(docA, u, provA)
  })
}

const DOC = '11111111-2222-3333-4444-555555555555'
const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

beforeEach(() => {
  document.body.replaceChildren()
  vi.unstubAllGlobals()
})

describe('title', () => {
  it('renames through the API and propagates to another editor via meta.title', async () => {
    const fetch = vi.fn(async (url, init) => json({ id: DOC, title: JSON.parse(init.body).title }))
    vi.stubGlobal('fetch', fetch)
    const api = createApi({ apiBase: '/api', csrfToken: 'csrf' })
    const docA = new Y.Doc()
    const docB = new Y.Doc()
    const provA = new FakeProvider()
    const provB = new FakeProvider()
    link(docA, provA, docB, provB)

    const hostA = document.createElement('div')
    const hostB = document.createElement('div')
    document.body.append(hostA, hostB)
    const a = createTitle({ container: hostA, ydoc: docA, provider: provA, api, documentId: DOC, initialTitle: 'Old', canRename: true })
    const onChange = vi.fn()
    const b = createTitle({ container: hostB, ydoc: docB, provider: provB, api, documentId: DOC, initialTitle: 'Old', canRename: false, onChange })

    // inline editing: click the title, type, press Enter
    hostA.querySelector('#doc-title-button').click()
    const input = hostA.querySelector('#doc-title-input')
    expect(input.hidden).toBe(false)
    input.value = 'Quarterly plan'
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }))
    await vi.waitFor(() => expect(docA.getMap('meta').get('title')).toBe('Quarterly plan'))

    expect(fetch).toHaveBeenCalledTimes(1)
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe(`/api/documents/${DOC}/`)
    expect(init.method).toBe('PATCH')
    expect(JSON.parse(init.body)).toEqual({ title: 'Quarterly plan' })
    expect(init.headers['X-CSRFToken']).toBe('csrf')
    expect(init.credentials).toBe('same-origin')
    expect(hostA.querySelector('#doc-title').textContent).toBe('Quarterly plan')

    // the other editor sees it without reload
    expect(hostB.querySelector('.doc-title__heading').textContent).toBe('Quarterly plan')
    expect(hostB.querySelector('.doc-title__button')).toBeNull()
    expect(document.title).toBe('Quarterly plan')
    expect(onChange).toHaveBeenCalledWith('Quarterly plan')
    a.destroy()
    b.destroy()
  })

  it('reverts and shows the error when the API refuses', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json({ title: ['Ensure this field has no more than 200 characters.'] }, 400)))
    const api = createApi({ apiBase: '/api', csrfToken: 'csrf' })
    const ydoc = new Y.Doc()
    const host = document.createElement('div')
    const t = createTitle({ container: host, ydoc, provider: new FakeProvider(), api, documentId: DOC, initialTitle: 'Keep', canRename: true })
    const ok = await t.rename('Nope')
    expect(ok).toBe(false)
    expect(host.querySelector('#doc-title').textContent).toBe('Keep')
    expect(host.querySelector('#doc-title-error').textContent).toBe('Could not rename: Ensure the title has no more than 200 characters.')
    expect(ydoc.getMap('meta').has('title')).toBe(false)
  })

  it('keeps the page title suffix and updates the server-rendered heading', async () => {
    document.title = 'Draft · Collab'
    const outside = document.createElement('h1')
    outside.id = 'document-title'
    outside.textContent = 'Draft'
    document.body.appendChild(outside)
    vi.stubGlobal('fetch', vi.fn(async (url, init) => json({ title: JSON.parse(init.body).title })))
    const host = document.createElement('div')
    document.body.appendChild(host)
    const t = createTitle({ container: host, ydoc: new Y.Doc(), provider: new FakeProvider(), api: createApi({ apiBase: '/api' }), documentId: DOC, initialTitle: 'Draft', canRename: true })
    expect(await t.rename('Final')).toBe(true)
    expect(document.title).toBe('Final · Collab')
    expect(outside.textContent).toBe('Final')
  })

  it('escape cancels editing', () => {
    const api = createApi({ apiBase: '/api' })
    const host = document.createElement('div')
    createTitle({ container: host, ydoc: new Y.Doc(), provider: new FakeProvider(), api, documentId: DOC, initialTitle: 'Same', canRename: true })
    host.querySelector('#doc-title-button').click()
    const input = host.querySelector('#doc-title-input')
    input.value = 'Changed'
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))
    expect(input.hidden).toBe(true)
    expect(host.querySelector('#doc-title').textContent).toBe('Same')
  })

  it('reconciles a stale shared title with the API after the first sync', async () => {
    const fetch = vi.fn(async () => json({ id: DOC, title: 'From DB' }))
    vi.stubGlobal('fetch', fetch)
    const api = createApi({ apiBase: '/api' })
    const ydoc = new Y.Doc()
    const provider = new FakeProvider(false)
    const host = document.createElement('div')
    createTitle({ container: host, ydoc, provider, api, documentId: DOC, initialTitle: 'From page', canRename: true })
    // initial server state arrives before `synced` flips
    const server = new Y.Doc()
    server.getMap('meta').set('title', 'Stale')
    Y.applyUpdate(ydoc, Y.encodeStateAsUpdate(server), provider)
    expect(host.querySelector('#doc-title').textContent).toBe('From page')
    provider.synced = true
    provider.emit('sync', true)
    await vi.waitFor(() => expect(host.querySelector('#doc-title').textContent).toBe('From DB'))
    expect(ydoc.getMap('meta').get('title')).toBe('From DB')
    expect(fetch.mock.calls[0][0]).toBe(`/api/documents/${DOC}/`)
  })
})
