// Roles on a document, as the server names them (server-facts.json, generated from documents.models.Role).
// The server lists them lowest first; the editor refers to them by that rank instead of by spelling, so a
// renamed role follows the server. roles.test.js pins the shape this relies on (three roles, members below owner).

import facts from './server-facts.json'

export const ROLES = Object.freeze([...facts.roles])
export const [VIEWER, EDITOR, OWNER] = ROLES
/** The roles an owner can give a member (everything but owner). */
export const MEMBER_ROLES = Object.freeze([...facts.memberRoles])

/** Editors and owners may change the document, save versions and restore them. */
export const canEditRole = (role) => ROLES.indexOf(role) >= ROLES.indexOf(EDITOR)
export const isOwnerRole = (role) => role === OWNER

/** What the interface calls each role. */
export const ROLE_LABELS = Object.freeze({ [VIEWER]: 'Viewer', [EDITOR]: 'Editor', [OWNER]: 'Owner' })
