import { describe, it, expect } from 'vitest'
import facts from './server-facts.json'
import { initialTitle, reduceTitle, sharedTitleDiffers, MAX_TITLE_LENGTH, UNTITLED } from './title-state.js'

const run = (events, state = initialTitle({ title: 'Plan', canRename: true, hasSynced: true })) => events.reduce(reduceTitle, state)

describe('reduceTitle', () => {
  it('starts from the page title, trimmed, or "Untitled document"', () => {
    expect(initialTitle({ title: '  Plan ' }).title).toBe('Plan')
    expect(initialTitle({ title: '   ' }).title).toBe(UNTITLED)
    expect(initialTitle()).toMatchObject({ editing: false, saving: false, hasSynced: false, canRename: false, error: '' })
  })

  it('ignores empty and unchanged titles', () => {
    const s = run([])
    expect(reduceTitle(s, { type: 'set-title', title: '  ' })).toBe(s)
    expect(reduceTitle(s, { type: 'set-title', title: ' Plan ' })).toBe(s)
    expect(reduceTitle(s, { type: 'set-title', title: ' Roadmap ' }).title).toBe('Roadmap')
  })

  it('edits only when allowed and not while a rename is on its way', () => {
    expect(run([{ type: 'edit-started' }], initialTitle({ title: 'Plan' })).editing).toBe(false)
    const s = run([{ type: 'rename-failed', previous: 'Plan', message: 'x' }, { type: 'edit-started' }])
    expect(s).toMatchObject({ editing: true, error: '' })
    expect(reduceTitle(s, { type: 'edit-stopped' }).editing).toBe(false)
    const saving = run([{ type: 'rename-started', title: 'New' }])
    expect(reduceTitle(saving, { type: 'edit-started' })).toBe(saving)
  })

  it('shows a rename at once, cut to the server limit, and keeps what the API saved', () => {
    expect(MAX_TITLE_LENGTH).toBe(facts.titleMaxLength)
    let s = run([{ type: 'rename-started', title: `  ${'x'.repeat(MAX_TITLE_LENGTH + 20)}  ` }])
    expect(s.title).toHaveLength(MAX_TITLE_LENGTH)
    expect(s.saving).toBe(true)
    s = reduceTitle(s, { type: 'rename-succeeded', title: 'Saved title' })
    expect(s).toMatchObject({ title: 'Saved title', saving: false, error: '' })
  })

  it('does not start a rename to the same title, an empty one, or without the right', () => {
    const s = run([])
    expect(reduceTitle(s, { type: 'rename-started', title: ' Plan ' })).toBe(s)
    expect(reduceTitle(s, { type: 'rename-started', title: '' })).toBe(s)
    const viewer = initialTitle({ title: 'Plan' })
    expect(reduceTitle(viewer, { type: 'rename-started', title: 'New' })).toBe(viewer)
  })

  it('reverts a refused rename and says why', () => {
    const s = run([{ type: 'rename-started', title: 'Nope' }, { type: 'rename-failed', previous: 'Plan', message: 'Too long.' }])
    expect(s).toMatchObject({ title: 'Plan', saving: false, error: 'Could not rename: Too long.' })
  })

  it('believes a shared title only after the first sync and not during our own rename', () => {
    const unsynced = initialTitle({ title: 'Plan', canRename: true })
    expect(reduceTitle(unsynced, { type: 'remote-title', title: 'Stale' })).toBe(unsynced)
    const synced = reduceTitle(unsynced, { type: 'synced' })
    expect(synced.hasSynced).toBe(true)
    expect(reduceTitle(synced, { type: 'synced' })).toBe(synced)
    expect(reduceTitle(synced, { type: 'remote-title', title: 'Theirs' }).title).toBe('Theirs')
    expect(reduceTitle(synced, { type: 'remote-title', title: 42 })).toBe(synced)
    const saving = reduceTitle(synced, { type: 'rename-started', title: 'Mine' })
    expect(reduceTitle(saving, { type: 'remote-title', title: 'Theirs' })).toBe(saving)
  })

  it('asks the API only when the shared title differs', () => {
    const s = run([])
    expect(sharedTitleDiffers(s, 'Stale')).toBe(true)
    expect(sharedTitleDiffers(s, ' Plan ')).toBe(false)
    expect(sharedTitleDiffers(s, '  ')).toBe(false)
    expect(sharedTitleDiffers(s, undefined)).toBe(false)
  })
})
