import { describe, it, expect } from 'vitest'
import { initialHistory, reduceHistory, canRestore, isBusy, restoreLabel, restoreQuestion, NAME_REQUIRED } from './history-state.js'

const run = (events, state = initialHistory({ canEdit: true })) => events.reduce(reduceHistory, state)
const V2 = { id: 2, name: 'Second draft', author: 'alice', automatic: false }
const V1 = { id: 1, name: 'Autosave', author: null, automatic: true }

/** Open, with the list [V2, V1] loaded. */
const opened = (canEdit = true) => run([{ type: 'open' }, { type: 'list-requested' }, { type: 'list-loaded', token: 1, versions: [V2, V1] }], initialHistory({ canEdit }))

describe('reduceHistory: list', () => {
  it('starts closed and empty', () => {
    const s = initialHistory()
    expect(s).toMatchObject({ open: false, versions: [], listLoading: false, selected: null, preview: 'idle', canEdit: false })
  })

  it('loads the list and drops an answer to an older request', () => {
    let s = run([{ type: 'list-requested' }, { type: 'list-requested' }])
    expect(s.listLoading).toBe(true)
    expect(s.listToken).toBe(2)
    const stale = reduceHistory(s, { type: 'list-loaded', token: 1, versions: [V1] })
    expect(stale).toBe(s)
    s = reduceHistory(s, { type: 'list-loaded', token: 2, versions: [V2, V1] })
    expect(s.versions).toEqual([V2, V1])
    expect(s.listLoading).toBe(false)
  })

  it('shows a list error in the alert, replacing the notice; the refresh button clears it', () => {
    let s = { ...opened(), notice: 'Saved “x”.' }
    s = run([{ type: 'list-requested' }, { type: 'list-failed', token: s.listToken + 1, message: 'Server is sad.' }], s)
    expect(s).toMatchObject({ error: 'Server is sad.', notice: '', listLoading: false })
    // A plain refresh keeps the alert; the refresh button's clears it.
    expect(reduceHistory(s, { type: 'list-requested' }).error).toBe('Server is sad.')
    expect(reduceHistory(s, { type: 'list-requested', clearError: true }).error).toBe('')
  })

  it('opening clears the messages and goes back to the list; opening again changes nothing', () => {
    let s = run([{ type: 'preview-requested', id: 2 }, { type: 'close' }], { ...opened(), error: 'old' })
    expect(s.open).toBe(false)
    s = reduceHistory(s, { type: 'open' })
    expect(s).toMatchObject({ open: true, selected: null, preview: 'idle', error: '', notice: '' })
    expect(reduceHistory(s, { type: 'open' })).toBe(s)
    expect(reduceHistory(initialHistory(), { type: 'close' })).toEqual(initialHistory())
  })
})

describe('reduceHistory: preview', () => {
  it('previews a version from its summary, then its detail', () => {
    let s = reduceHistory(opened(), { type: 'preview-requested', id: '2' })
    expect(s.selected).toEqual(V2)
    expect(s.preview).toBe('loading')
    expect(canRestore(s)).toBe(true)
    const token = s.previewToken
    s = reduceHistory(s, { type: 'preview-loaded', token, detail: { id: 2, name: 'Second draft', html: '<p>x</p>' } })
    expect(s.preview).toBe('ready')
    expect(s.detail.html).toBe('<p>x</p>')
    expect(s.selected).toMatchObject({ ...V2, html: '<p>x</p>' })
  })

  it('previews an unknown id by id alone, and shows why it failed', () => {
    let s = reduceHistory(opened(), { type: 'preview-requested', id: 99 })
    expect(s.selected).toEqual({ id: 99 })
    s = reduceHistory(s, { type: 'preview-failed', token: s.previewToken, message: 'Not found.' })
    expect(s).toMatchObject({ preview: 'failed', error: 'Not found.', detail: null })
  })

  it('drops a preview that arrives after going back, closing, or opening another version', () => {
    const loading = reduceHistory(opened(), { type: 'preview-requested', id: 2 })
    const token = loading.previewToken
    for (const event of [{ type: 'back' }, { type: 'close' }, { type: 'preview-requested', id: 1 }]) {
      const s = reduceHistory(loading, event)
      expect(reduceHistory(s, { type: 'preview-loaded', token, detail: { html: 'late' } })).toBe(s)
      expect(reduceHistory(s, { type: 'preview-failed', token, message: 'late' })).toBe(s)
    }
  })

  it('back returns to the list', () => {
    const s = run([{ type: 'preview-requested', id: 2 }, { type: 'back' }], opened())
    expect(s).toMatchObject({ selected: null, detail: null, preview: 'idle' })
  })
})

describe('reduceHistory: save', () => {
  it('requires a name and lets viewers save nothing', () => {
    const s = reduceHistory(opened(), { type: 'save-requested', name: '' })
    expect(s).toMatchObject({ saving: false, error: NAME_REQUIRED })
    const viewer = opened(false)
    expect(reduceHistory(viewer, { type: 'save-requested', name: 'Final' })).toBe(viewer)
  })

  it('saves one at a time, then says so and shows the list', () => {
    let s = run([{ type: 'preview-requested', id: 2 }, { type: 'save-requested', name: 'Final' }], { ...opened(), notice: 'x' })
    expect(s).toMatchObject({ saving: true, error: '', notice: '' })
    expect(isBusy(s)).toBe(true)
    expect(reduceHistory(s, { type: 'save-requested', name: 'Again' })).toBe(s)
    s = reduceHistory(s, { type: 'save-succeeded', name: 'Final' })
    expect(s).toMatchObject({ saving: false, notice: 'Saved “Final”.', selected: null })
  })

  it('shows a refused save in the alert', () => {
    const s = run([{ type: 'save-requested', name: 'Nope' }, { type: 'save-failed', message: 'No permission.' }], opened())
    expect(s).toMatchObject({ saving: false, error: 'No permission.' })
  })
})

describe('reduceHistory: restore', () => {
  it('restores only a previewed version, for editors, one at a time', () => {
    expect(reduceHistory(opened(), { type: 'restore-started' })).toEqual(opened())
    const viewer = reduceHistory(opened(false), { type: 'preview-requested', id: 2 })
    expect(canRestore(viewer)).toBe(false)
    expect(reduceHistory(viewer, { type: 'restore-started' })).toBe(viewer)
    const s = run([{ type: 'preview-requested', id: 1 }, { type: 'restore-started' }], opened())
    expect(s.restoring).toBe(true)
    expect(canRestore(s)).toBe(false)
    expect(reduceHistory(s, { type: 'restore-started' })).toBe(s)
  })

  it('goes back to the list with a notice, or stays on the preview with the error', () => {
    const restoring = run([{ type: 'preview-requested', id: 1 }, { type: 'restore-started' }], opened())
    const done = reduceHistory(restoring, { type: 'restore-succeeded', label: restoreLabel(V1) })
    expect(done).toMatchObject({ restoring: false, selected: null, notice: 'Restored “Autosave”. The previous content was saved as a version.' })
    const failed = reduceHistory(restoring, { type: 'restore-failed', message: 'Too long.' })
    expect(failed).toMatchObject({ restoring: false, error: 'Too long.', selected: V1 })
  })

  it('names the version in the question', () => {
    expect(restoreLabel({ id: 3 })).toBe('this version')
    expect(restoreQuestion(V1)).toMatch(/^Restore “Autosave”\?/)
    expect(restoreQuestion(V1)).toContain('saved as a version first')
  })
})
