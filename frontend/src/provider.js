import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'

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

  const options = {}
  if (WebSocketPolyfill) options.WebSocketPolyfill = WebSocketPolyfill
  const provider = new WebsocketProvider(serverUrl, documentId, ydoc, options)

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
