import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest'
import { createApi } from './api.js'
import { renderHistoryPanel, createHistoryButton, formatRelativeTime, sanitizePreviewHtml } from './history.js'

const DOC = '6f1c2d3e-aaaa-bbbb-cccc-1234567890ab'
const BASE = `/api/documents/${DOC}/versions/`

const json = (body, status = 200) =>
  new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

const minutesAgo = (m) => new Date(Date.now() - m * 60_000).toISOString()

/** A tiny in-memory versions endpoint behind a stubbed fetch. */
function versionsServer() {
  let nextId = 3
  let versions = [
    { id: 2, name: 'Second draft', author: 'alice', created_at: minutesAgo(5), automatic: false },
    { id: 1, name: 'Autosave', author: null, created_at: minutesAgo(60 * 30), automatic: true },
  ]
  const html = {
    2: '<h1>Plan</h1><p>Second <strong>draft</strong></p><script>window.pwned = true</script><img src="x.png" onerror="window.pwned = true">',
    1: '<p>First</p>',
  }
  const calls = []
  const fetch = vi.fn(async (url, init = {}) => {
    const method = init.method || 'GET'
    calls.push({ url, method, init, body: init.body ? JSON.parse(init.body) : undefined })
    if (url === BASE && method === 'GET') return json(versions)
    if (url === BASE && method === 'POST') {
      const { name } = JSON.parse(init.body)
      const version = { id: nextId++, name: name.trim(), author: 'alice', created_at: new Date().toISOString(), automatic: false }
      versions = [version, ...versions]
      return json(version, 201)
    }
    let m = url.match(/versions\/(\d+)\/$/)
    if (m && method === 'GET') {
      const v = versions.find((x) => String(x.id) === m[1])
      if (!v) return json({ detail: 'Not found.' }, 404)
      return json({ ...v, html: html[v.id] || '', text: '' })
    }
    m = url.match(/versions\/(\d+)\/restore$/)
    if (m && method === 'POST') {
      const v = versions.find((x) => String(x.id) === m[1])
      const backup = { id: nextId++, name: `Before restoring “${v.name}”`, author: 'alice', created_at: new Date().toISOString(), automatic: true }
      versions = [backup, ...versions]
      return json(backup)
    }
    return json({ detail: 'unexpected' }, 500)
  })
  return { fetch, calls }
}

const $ = (sel) => document.querySelector(sel)
const $$ = (sel) => [...document.querySelectorAll(sel)]
const itemIds = () => $$('#history-list > li.history-item[data-version-id]').map((li) => li.dataset.versionId)

let server, history, panel
function mount(role = 'owner') {
  panel = document.createElement('aside')
  panel.id = 'history-panel'
  panel.hidden = true
  const header = document.createElement('div')
  document.body.append(header, panel)
  const api = createApi({ apiBase: '/api', csrfToken: 'tok123' })
  history = renderHistoryPanel(panel, { api, documentId: DOC, role, editor: null, ydoc: null, provider: null })
  const button = createHistoryButton(header, history)
  return { button }
}

beforeEach(() => {
  document.body.replaceChildren()
  server = versionsServer()
  vi.stubGlobal('fetch', server.fetch)
})
afterEach(() => {
  history?.destroy()
  history = null
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
})

describe('history panel', () => {
  it('stays hidden and does not fetch until opened; the button toggles it and moves focus', async () => {
    const { button } = mount()
    expect(panel.hidden).toBe(true)
    expect(server.fetch).not.toHaveBeenCalled()
    expect(button.id).toBe('history-button')
    expect(button.getAttribute('aria-label')).toBe('Version history')
    expect(button.getAttribute('aria-controls')).toBe('history-panel')
    expect(button.getAttribute('aria-expanded')).toBe('false')

    button.click()
    expect(panel.hidden).toBe(false)
    expect(button.getAttribute('aria-expanded')).toBe('true')
    expect(document.activeElement).toBe($('#history-title'))
    await vi.waitFor(() => expect(itemIds()).toEqual(['2', '1']))

    panel.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))
    expect(panel.hidden).toBe(true)
    expect(button.getAttribute('aria-expanded')).toBe('false')
    expect(document.activeElement).toBe(button)

    button.click()
    expect(panel.hidden).toBe(false)
    $('#history-close').click()
    expect(panel.hidden).toBe(true)
  })

  it('lists versions with name, author, time and an auto badge', async () => {
    mount()
    await history.open()
    expect(server.calls[0]).toMatchObject({ url: BASE, method: 'GET' })
    expect(server.calls[0].init.credentials).toBe('same-origin')
    const [first, second] = $$('#history-list > li.history-item')
    expect(first.querySelector('.history-item__name').textContent).toBe('Second draft')
    expect(first.querySelector('.history-item__author').textContent).toBe('alice')
    expect(first.querySelector('time').getAttribute('datetime')).toMatch(/^\d{4}-/)
    expect(first.querySelector('time').textContent).toBe('5 minutes ago')
    expect(first.querySelector('time').title).not.toBe('')
    expect(first.querySelector('.history-item__badge')).toBeNull()
    expect(second.querySelector('.history-item__badge').textContent).toBe('Auto')
    expect(second.querySelector('.history-item__author')).toBeNull()
    expect(second.querySelector('time').textContent).toBe('yesterday')
    expect($('#history-error').hidden).toBe(true)
  })

  it('shows a loading state and then an empty state', async () => {
    let resolve
    server.fetch.mockImplementationOnce(() => new Promise((r) => (resolve = r)))
    mount()
    const pending = history.open()
    expect($('#history-list').textContent).toContain('Loading versions')
    expect($('#history-list').hasAttribute('aria-busy')).toBe(true)
    resolve(json([]))
    await pending
    expect($('#history-list').hasAttribute('aria-busy')).toBe(false)
    expect($('#history-list').textContent).toContain('No versions yet')
  })

  it('gives viewers the list and preview but no save or restore controls', async () => {
    mount('viewer')
    await history.open()
    expect(itemIds()).toEqual(['2', '1'])
    expect($('#history-save-form')).toBeNull()
    expect($('#history-name')).toBeNull()
    $('#history-list li.history-item[data-version-id="1"] button').click()
    await vi.waitFor(() => expect($('#history-preview').textContent).toBe('First'))
    expect($('#history-restore')).toBeNull()
  })

  it('saves a named version with JSON and the CSRF header, then refreshes the list', async () => {
    mount('editor')
    await history.open()
    const input = $('#history-name')
    expect($('label[for="history-name"]')).not.toBeNull()
    input.value = '  Final  '
    $('#history-save-form').dispatchEvent(new Event('submit', { cancelable: true, bubbles: true }))
    await vi.waitFor(() => expect(itemIds()).toEqual(['3', '2', '1']))

    const post = server.calls.find((c) => c.method === 'POST')
    expect(post.url).toBe(BASE)
    expect(post.body).toEqual({ name: 'Final' })
    expect(post.init.headers['X-CSRFToken']).toBe('tok123')
    expect(post.init.headers['Content-Type']).toBe('application/json')
    expect(post.init.credentials).toBe('same-origin')
    expect(server.calls.filter((c) => c.method === 'GET' && c.url === BASE)).toHaveLength(2)
    expect(input.value).toBe('')
    expect($('#history-notice').textContent).toBe('Saved “Final”.')
    expect($('#history-list li[data-version-id="3"] .history-item__name').textContent).toBe('Final')
  })

  it('requires a name without calling the API', async () => {
    mount('owner')
    await history.open()
    const before = server.calls.length
    expect(await history.save('   ')).toBe(false)
    expect(server.calls.length).toBe(before)
    expect($('#history-error').hidden).toBe(false)
    expect($('#history-error').textContent).toBe('Enter a name for this version.')
  })

  it('previews a version read-only, with scripts and handlers stripped', async () => {
    mount('owner')
    await history.open()
    $('#history-list > li.history-item[data-version-id="2"]').click()
    const preview = $('#history-preview')
    await vi.waitFor(() => expect(preview.querySelector('h1')?.textContent).toBe('Plan'))
    expect(server.calls.at(-1)).toMatchObject({ url: `${BASE}2/`, method: 'GET' })
    expect(preview.querySelector('strong').textContent).toBe('draft')
    expect(preview.querySelector('script')).toBeNull()
    expect(preview.querySelector('img').hasAttribute('onerror')).toBe(false)
    expect(preview.getAttribute('contenteditable')).toBeNull()
    expect(window.pwned).toBeUndefined()
    expect($('#history-preview-title').textContent).toBe('Second draft')
    expect($('#history-restore').disabled).toBe(false)
    expect(document.activeElement).toBe($('#history-preview-title'))

    $('#history-back').click()
    expect($('#history-preview-view').hidden).toBe(true)
    expect(document.activeElement).toBe($('#history-list li[data-version-id="2"] button'))
  })

  it('restores after confirming, posting with CSRF, then refreshes the list', async () => {
    mount('editor')
    await history.open()
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true)
    await history.showVersion(1)
    $('#history-restore').click()
    await vi.waitFor(() => expect(itemIds()).toEqual(['3', '2', '1']))

    expect(confirm).toHaveBeenCalledTimes(1)
    expect(confirm.mock.calls[0][0]).toContain('Restore “Autosave”?')
    const post = server.calls.find((c) => c.method === 'POST')
    expect(post.url).toBe(`${BASE}1/restore`)
    expect(post.init.headers['X-CSRFToken']).toBe('tok123')
    expect(post.init.credentials).toBe('same-origin')
    expect($('#history-list li[data-version-id="3"] .history-item__name').textContent).toBe('Before restoring “Autosave”')
    expect($('#history-list li[data-version-id="3"] .history-item__badge')).not.toBeNull()
    expect($('#history-preview-view').hidden).toBe(true)
    expect($('#history-notice').textContent).toContain('Restored “Autosave”.')
  })

  it('does nothing when the restore is not confirmed', async () => {
    mount('owner')
    await history.open()
    vi.spyOn(window, 'confirm').mockReturnValue(false)
    await history.showVersion(2)
    $('#history-restore').click()
    await new Promise((r) => setTimeout(r, 0))
    expect(server.calls.some((c) => c.method === 'POST')).toBe(false)
    expect($('#history-preview-view').hidden).toBe(false)
  })

  it('shows API errors in the alert', async () => {
    mount('editor')
    server.fetch.mockImplementationOnce(async () => json({ detail: 'Server is sad.' }, 500))
    await history.open()
    const error = $('#history-error')
    expect(error.getAttribute('role')).toBe('alert')
    expect(error.hidden).toBe(false)
    expect(error.textContent).toBe('Server is sad.')

    await history.refresh()
    server.fetch.mockImplementationOnce(async () => json({ detail: 'You do not have permission to perform this action.' }, 403))
    expect(await history.save('Nope')).toBe(false)
    expect(error.textContent).toBe('You do not have permission to perform this action.')
    expect($('#history-name').disabled).toBe(false)

    vi.spyOn(window, 'confirm').mockReturnValue(true)
    await history.showVersion(2)
    server.fetch.mockImplementationOnce(async () => json({ name: ['Ensure this field has no more than 200 characters.'] }, 400))
    expect(await history.restore()).toBe(false)
    expect(error.hidden).toBe(false)
    expect($('#history-restore').disabled).toBe(false)
    expect($('#history-restore').textContent).toBe('Restore this version')

    server.fetch.mockImplementationOnce(async () => json({ detail: 'Not found.' }, 404))
    await history.showVersion(99)
    expect(error.textContent).toBe('Not found.')
    expect($('#history-restore').disabled).toBe(true)
  })

  it('reports network failures', async () => {
    mount('viewer')
    server.fetch.mockImplementationOnce(async () => {
      throw new TypeError('Failed to fetch')
    })
    await history.open()
    expect($('#history-error').textContent).toMatch(/Network error/)
  })
})

describe('helpers', () => {
  it('formats relative times', () => {
    const now = new Date('2025-03-12T12:00:00Z')
    expect(formatRelativeTime('2025-03-12T11:59:40Z', now)).toBe('just now')
    expect(formatRelativeTime('2025-03-12T11:58:00Z', now)).toBe('2 minutes ago')
    expect(formatRelativeTime('2025-03-12T09:00:00Z', now)).toBe('3 hours ago')
    expect(formatRelativeTime('2025-03-09T12:00:00Z', now)).toBe('3 days ago')
    expect(formatRelativeTime('2025-01-02T12:00:00Z', now)).toMatch(/Jan/)
    expect(formatRelativeTime('nonsense', now)).toBe('')
  })

  it('strips active content from preview HTML', () => {
    const fragment = sanitizePreviewHtml(
      '<p onclick="x()">Hi <a href="javascript:alert(1)">bad</a> <a href="https://example.com">ok</a></p><iframe src="//evil"></iframe><script>x()</script>',
    )
    const box = document.createElement('div')
    box.append(fragment)
    expect(box.querySelector('script, iframe')).toBeNull()
    expect(box.querySelector('p').hasAttribute('onclick')).toBe(false)
    const [bad, ok] = box.querySelectorAll('a')
    expect(bad.hasAttribute('href')).toBe(false)
    expect(ok.getAttribute('href')).toBe('https://example.com')
    expect(ok.getAttribute('rel')).toContain('noopener')
  })
})
