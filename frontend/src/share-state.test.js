import { describe, it, expect } from 'vitest'
import { initialShare, reduceShare, memberRows, shownRole, accessNotice, removedNotice, USERNAME_REQUIRED } from './share-state.js'
import { OWNER, EDITOR, VIEWER, MEMBER_ROLES } from './roles.js'

const run = (events, state = initialShare({ owner: 'alice', title: 'Plan' })) => events.reduce(reduceShare, state)
const bob = { username: 'bob', role: EDITOR }

describe('reduceShare', () => {
  it('opens with the messages cleared, and closes once', () => {
    let s = run([{ type: 'open' }], { ...initialShare(), error: 'old', notice: 'old' })
    expect(s).toMatchObject({ open: true, error: '', notice: '' })
    s = reduceShare(s, { type: 'close' })
    expect(s.open).toBe(false)
    expect(reduceShare(s, { type: 'close' })).toBe(s)
  })

  it('follows the title and the members list', () => {
    let s = run([{ type: 'title', title: 'Roadmap' }, { type: 'members-loaded', members: [bob] }])
    expect(s.title).toBe('Roadmap')
    expect(s.members).toEqual([bob])
    expect(reduceShare(s, { type: 'title', title: 'Roadmap' })).toBe(s)
    s = reduceShare(s, { type: 'members-failed', message: 'Network error' })
    expect(s.error).toBe('Network error')
    expect(s.members).toEqual([bob])
  })

  it('requires a username, even while another change is under way', () => {
    expect(run([{ type: 'add-requested', username: '' }])).toMatchObject({ busy: false, error: USERNAME_REQUIRED })
    const busy = run([{ type: 'remove-requested', username: 'bob' }, { type: 'add-requested', username: '' }])
    expect(busy).toMatchObject({ busy: true, error: USERNAME_REQUIRED })
  })

  it('runs one change at a time, clearing the alert when it starts', () => {
    const s = run([{ type: 'members-failed', message: 'old' }, { type: 'add-requested', username: 'carol' }])
    expect(s).toMatchObject({ busy: true, error: '' })
    for (const event of [
      { type: 'add-requested', username: 'dave' },
      { type: 'role-change-requested', username: 'bob', role: VIEWER },
      { type: 'remove-requested', username: 'bob' },
    ]) {
      expect(reduceShare(s, event)).toBe(s)
    }
  })

  it('shows a pending role change until the answer, then the role the server has', () => {
    let s = run([{ type: 'members-loaded', members: [bob] }, { type: 'role-change-requested', username: 'bob', role: VIEWER }])
    expect(shownRole(s, bob)).toBe(VIEWER)
    expect(shownRole(s, { username: 'carol', role: EDITOR })).toBe(EDITOR)
    const failed = reduceShare(s, { type: 'action-failed', message: 'Only the owner can share.' })
    expect(failed).toMatchObject({ busy: false, pendingRole: null, error: 'Only the owner can share.', notice: '' })
    expect(shownRole(failed, bob)).toBe(EDITOR)
    s = run([{ type: 'members-loaded', members: [{ ...bob, role: VIEWER }] }, { type: 'action-succeeded', notice: accessNotice('bob', VIEWER) }], s)
    expect(s).toMatchObject({ busy: false, pendingRole: null, notice: 'bob can view.' })
    expect(shownRole(s, s.members[0])).toBe(VIEWER)
  })

  it('words the notices by role', () => {
    expect(accessNotice('carol', EDITOR)).toBe('carol can edit.')
    expect(accessNotice('dave', VIEWER)).toBe('dave can view.')
    expect(accessNotice('erin', 'boss')).toBe('erin has access.')
    expect(removedNotice('bob')).toBe('bob no longer has access.')
  })
})

describe('memberRows', () => {
  it('puts the owner first, once, and counts everyone else', () => {
    const s = { ...initialShare({ owner: 'alice' }), loaded: true, members: [bob, { username: 'alice', role: EDITOR }, { username: 'zed', role: OWNER }] }
    expect(memberRows(s)).toEqual({ rows: [{ username: 'alice', role: OWNER }, bob], others: 1 })
  })

  it('takes the owner from the API when it was not given, and has no owner row without one', () => {
    const loaded = (members) => reduceShare(initialShare(), { type: 'members-loaded', members })
    expect(memberRows(loaded([{ username: 'zed', role: OWNER }]))).toEqual({ rows: [{ username: 'zed', role: OWNER }], others: 0 })
    expect(memberRows(loaded([bob]))).toEqual({ rows: [bob], others: 1 })
  })

  it('lists nobody until the list has come', () => {
    expect(memberRows(initialShare({ owner: 'alice' }))).toEqual({ rows: [], others: -1 })
  })

  it('offers members every role but owner', () => {
    expect(MEMBER_ROLES).toEqual([VIEWER, EDITOR])
  })
})
