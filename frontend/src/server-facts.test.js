import { describe, it, expect } from 'vitest'
import facts from './server-facts.json'
import { ROLES, VIEWER, EDITOR, OWNER, MEMBER_ROLES, canEditRole, isOwnerRole, ROLE_LABELS } from './roles.js'
import { isTerminalClose, CLOSE_CODES } from './provider.js'
import { createHistoryView } from './history-view.js'
import { createTitleView } from './title-view.js'

// roles.js names the roles by their rank in server-facts.json: if the server adds or reorders roles, these
// fail, and roles.js has to be looked at again.
describe('server facts the editor relies on', () => {
  it('has three roles, lowest first, and members get every role but the owner', () => {
    expect(ROLES).toEqual(facts.roles)
    expect(ROLES).toHaveLength(3)
    expect(MEMBER_ROLES).toEqual(ROLES.filter((role) => role !== OWNER))
    expect(new Set([VIEWER, EDITOR, OWNER]).size).toBe(3)
  })

  it('lets editors and owners edit, and only owners share', () => {
    expect(ROLES.map(canEditRole)).toEqual([false, true, true])
    expect(ROLES.map(isOwnerRole)).toEqual([false, false, true])
    expect(canEditRole('admin')).toBe(false)
    for (const role of ROLES) expect(ROLE_LABELS[role]).toMatch(/^[A-Z]/)
  })

  it('reads the final close codes as final and the operator close as transient', () => {
    expect(CLOSE_CODES).toEqual(facts.closeCodes)
    for (const name of ['CREDENTIALS_INVALID', 'ACCESS_REVOKED', 'DOCUMENT_GONE']) expect(isTerminalClose(CLOSE_CODES[name])).toBe(true)
    expect(isTerminalClose(CLOSE_CODES.CLOSED_BY_OPERATOR)).toBe(false)
  })

  it("limits the title and version name inputs to the server's lengths", () => {
    expect(Number.isInteger(facts.titleMaxLength)).toBe(true)
    expect(Number.isInteger(facts.versionNameMaxLength)).toBe(true)
    const panel = document.createElement('aside')
    createHistoryView(panel, { canEdit: true })
    expect(panel.querySelector('#history-name').maxLength).toBe(facts.versionNameMaxLength)
    const host = document.createElement('div')
    createTitleView(host, { initialTitle: 'Plan', canRename: true })
    expect(host.querySelector('#doc-title-input').maxLength).toBe(facts.titleMaxLength)
  })
})
