import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest'
import { createApi, errorMessage } from './api.js'
import { createShareDialog } from './share.js'

const DOC = '6f1c2d3e-aaaa-bbbb-cccc-1234567890ab'
const BASE = `/api/documents/${DOC}/members/`

const json = (body, status = 200) =>
  new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

/** A tiny in-memory members endpoint behind a stubbed fetch. */
function membersServer(initial = []) {
  let members = [...initial]
  const calls = []
  const fetch = vi.fn(async (url, init = {}) => {
    const method = init.method || 'GET'
    calls.push({ url, method, init, body: init.body ? JSON.parse(init.body) : undefined })
    if (url === BASE && method === 'GET') return json(members)
    if (url === BASE && method === 'POST') {
      const { username, role } = JSON.parse(init.body)
      if (username === 'ghost') return json({ detail: 'No user named "ghost".' }, 404)
      if (!['viewer', 'editor'].includes(role)) return json({ role: ['"boss" is not a valid choice.'] }, 400)
      members = members.filter((m) => m.username !== username).concat([{ username, role }])
      return json({ username, role }, 201)
    }
    const m = url.match(/members\/([^/]+)\/$/)
    if (m && method === 'DELETE') {
      members = members.filter((x) => x.username !== decodeURIComponent(m[1]))
      return new Response(null, { status: 204 })
    }
    return json({ detail: 'unexpected' }, 500)
  })
  return { fetch, calls, get members() { return members } }
}

const flush = () => new Promise((r) => setTimeout(r, 0))

let server, share
beforeEach(() => {
  document.body.replaceChildren()
  server = membersServer([{ username: 'bob', role: 'editor' }])
  vi.stubGlobal('fetch', server.fetch)
  const api = createApi({ apiBase: '/api', csrfToken: 'tok123' })
  share = createShareDialog({ api, documentId: DOC, owner: 'alice', title: 'Plan' })
})
afterEach(() => {
  share.destroy()
  vi.unstubAllGlobals()
})

describe('share dialog', () => {
  it('opens and lists the owner and the members from the API', async () => {
    await share.open()
    const dialog = document.getElementById('share-dialog')
    expect(dialog.open).toBe(true)
    expect(document.getElementById('share-dialog-title').textContent).toBe('Share “Plan”')
    const rows = [...document.querySelectorAll('#share-members .share-member')]
    expect(rows.map((r) => [r.dataset.username, r.dataset.role])).toEqual([
      ['alice', 'owner'],
      ['bob', 'editor'],
    ])
    expect(rows[0].querySelector('select')).toBeNull()
    expect(rows[1].querySelector('select').value).toBe('editor')
    expect(rows[1].querySelector('button').getAttribute('aria-label')).toBe('Remove bob')
    expect(server.calls[0]).toMatchObject({ url: BASE, method: 'GET' })
    expect(server.calls[0].init.credentials).toBe('same-origin')
  })

  it('adds a member with the chosen role, sending CSRF header and JSON', async () => {
    await share.open()
    document.getElementById('share-username').value = '  carol '
    document.getElementById('share-role').value = 'editor'
    document.getElementById('share-add-form').dispatchEvent(new Event('submit', { cancelable: true, bubbles: true }))
    await vi.waitFor(() => expect(document.querySelector('[data-username="carol"]')).not.toBeNull())

    const post = server.calls.find((c) => c.method === 'POST')
    expect(post.url).toBe(BASE)
    expect(post.body).toEqual({ username: 'carol', role: 'editor' })
    expect(post.init.headers['X-CSRFToken']).toBe('tok123')
    expect(post.init.headers['Content-Type']).toBe('application/json')
    expect(post.init.credentials).toBe('same-origin')
    expect(document.getElementById('share-username').value).toBe('')
    expect(document.getElementById('share-error').hidden).toBe(true)
    expect(document.getElementById('share-notice').textContent).toBe('carol can edit.')
  })

  it('defaults new members to viewer', async () => {
    await share.open()
    expect(document.getElementById('share-role').value).toBe('viewer')
    await share.addMember('dave', document.getElementById('share-role').value)
    expect(server.members).toContainEqual({ username: 'dave', role: 'viewer' })
  })

  it('shows a 404 error from the JSON body', async () => {
    await share.open()
    const ok = await share.addMember('ghost', 'viewer')
    expect(ok).toBe(false)
    const error = document.getElementById('share-error')
    expect(error.hidden).toBe(false)
    expect(error.getAttribute('role')).toBe('alert')
    expect(error.textContent).toBe('No user named "ghost".')
  })

  it('shows a 400 validation error from the JSON body', async () => {
    await share.open()
    await share.addMember('erin', 'boss')
    expect(document.getElementById('share-error').textContent).toBe('Role: "boss" is not a valid choice.')
  })

  it('requires a username without calling the API', async () => {
    await share.open()
    const before = server.calls.length
    await share.addMember('   ', 'viewer')
    expect(server.calls.length).toBe(before)
    expect(document.getElementById('share-error').textContent).toBe('Enter a username.')
  })

  it('changes a role with the same POST and removes a member with DELETE', async () => {
    await share.open()
    const select = document.querySelector('[data-username="bob"] select')
    select.value = 'viewer'
    select.dispatchEvent(new Event('change'))
    await vi.waitFor(() => expect(document.querySelector('[data-username="bob"]').dataset.role).toBe('viewer'))
    const post = server.calls.find((c) => c.method === 'POST')
    expect(post.body).toEqual({ username: 'bob', role: 'viewer' })

    document.querySelector('[data-username="bob"] .share-member__remove').click()
    await vi.waitFor(() => expect(document.querySelector('[data-username="bob"]')).toBeNull())
    const del = server.calls.find((c) => c.method === 'DELETE')
    expect(del.url).toBe(`${BASE}bob/`)
    expect(del.init.headers['X-CSRFToken']).toBe('tok123')
    expect(del.init.credentials).toBe('same-origin')
    expect(document.getElementById('share-notice').textContent).toBe('bob no longer has access.')
  })

  it('reverts the role select when the change fails', async () => {
    await share.open()
    server.fetch.mockImplementationOnce(async () => json({ error: { code: 'forbidden', message: 'Only the owner can share.' } }, 403))
    const select = document.querySelector('[data-username="bob"] select')
    select.value = 'viewer'
    select.dispatchEvent(new Event('change'))
    await vi.waitFor(() => expect(document.getElementById('share-error').textContent).toBe('Only the owner can share.'))
    await flush()
    expect(select.value).toBe('editor')
  })

  it('closes with the close button', async () => {
    await share.open()
    document.querySelector('.share-dialog__close').click()
    expect(document.getElementById('share-dialog').open).toBe(false)
  })
})

describe('errorMessage', () => {
  it('reads DRF and custom error bodies', () => {
    expect(errorMessage({ detail: 'Nope.' }, 400)).toBe('Nope.')
    expect(errorMessage({ error: 'Bad thing' }, 400)).toBe('Bad thing')
    expect(errorMessage({ username: ['This field is required.'] }, 400)).toBe('Username is required.')
    expect(errorMessage({ username: ["No user is called 'zed'."] }, 400)).toBe("No user is called 'zed'.")
    expect(errorMessage({ title: ['Ensure this field has no more than 200 characters.'] }, 400)).toBe(
      'Ensure the title has no more than 200 characters.',
    )
    expect(errorMessage({ non_field_errors: ['Already a member.'] }, 400)).toBe('Already a member.')
    expect(errorMessage(null, 404)).toBe('Not found.')
    expect(errorMessage(null, 500)).toBe('Request failed (500).')
  })
})
