import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import facts from './server-facts.json'

/**
 * Builds the absolute ws:// or wss:// base URL from the data-ws-url path (e.g. "/ws/documents").
 * Absolute ws(s):// or http(s):// URLs are accepted as well. The result has no trailing slash:
 * y-websocket dials `serverUrl + "/" + roomname`.
 */
export function buildServerUrl(wsPath, loc = globalThis.location) {
  const raw = (wsPath || '/ws/documents').trim()
  let url
  if (/^wss?:\/\//i.test(raw)) {
    url = raw
  } else if (/^https?:\/\//i.test(raw)) {
    url = raw.replace(/^http/i, 'ws')
  } else {
    const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
    const path = raw.startsWith('/') ? raw : `/${raw}`
    url = `${scheme}//${loc.host}${path}`
  }
  return url.replace(/\/+$/, '')
}

/**
 * Close codes the server sends on purpose (docs/protocol.md, docs/security.md), from the server's own enum
 * (server-facts.json). CLOSED_BY_OPERATOR (an operator closed every connection) is transient: the client
 * reconnects. CREDENTIALS_INVALID (logout, password change, ...), ACCESS_REVOKED and DOCUMENT_GONE say that
 * reconnecting cannot help.
 */
export const CLOSE_CODES = Object.freeze({ ...facts.closeCodes })

/**
 * Whether a server close is final. The range is y-websocket's convention (its default `shouldReconnect`,
 * mirroring HTTP 4xx), which the server follows for its final codes; reading the range rather than listing the
 * codes keeps a final code the server adds later final here too. A missing code (a polyfill that reports none)
 * is not final.
 */
const FINAL_RANGE = [4400, 4500]
export function isTerminalClose(code) {
  return typeof code === 'number' && code >= FINAL_RANGE[0] && code < FINAL_RANGE[1]
}

/** y-websocket's `shouldReconnect`: reconnect after anything but a terminal close. */
export function shouldReconnect(event) {
  return !isTerminalClose(event && event.code)
}

export function indexeddbName(documentId) {
  return `collab-doc-${documentId}`
}

/**
 * Creates the shared Y.Doc, the y-websocket provider (room = document id) and the local
 * IndexedDB persistence (offline edits survive a reload).
 */
export function createCollabProvider({ documentId, wsUrl, location: loc = globalThis.location, WebSocketPolyfill } = {}) {
  const ydoc = new Y.Doc()
  const serverUrl = buildServerUrl(wsUrl, loc)

  let persistence = null
  if (typeof indexedDB !== 'undefined') {
    try {
      persistence = new IndexeddbPersistence(indexeddbName(documentId), ydoc)
    } catch (err) {
      console.warn('[collab] IndexedDB persistence unavailable:', err)
      persistence = null
    }
  }

  const options = { shouldReconnect }
  if (WebSocketPolyfill) options.WebSocketPolyfill = WebSocketPolyfill
  const provider = new WebsocketProvider(serverUrl, documentId, ydoc, options)
  // After a terminal close y-websocket stops reconnecting (and emits `closed`); stop the cross-tab
  // BroadcastChannel too, so this tab neither sends nor receives edits any more.
  provider.on('closed', () => provider.disconnect())

  let destroyed = false
  function destroy() {
    if (destroyed) return
    destroyed = true
    provider.destroy()
    if (persistence) persistence.destroy()
    ydoc.destroy()
  }

  return { ydoc, provider, persistence, serverUrl, destroy }
}
