#!/usr/bin/env node
/**
 * The reference y-websocket client, driven from the command line by tests/test_node_client.py.
 *
 * It connects a real `WebsocketProvider` (y-websocket, over the `ws` package), waits for `sync`, optionally appends a
 * paragraph to the ProseMirror fragment "default" (XmlElement "paragraph" holding an XmlText, as Tiptap writes it),
 * publishes an awareness state, then waits until every expectation holds or the timeout passes. It prints one JSON
 * object on stdout and exits 0 when every expectation held, 2 on timeout, 1 on a usage error.
 *
 *   node yclient.mjs --url ws://127.0.0.1:8000/ws/documents --room ID --token KEY
 *        [--insert TEXT] [--name NAME] [--expect TEXT]... [--expect-count N] [--expect-peer NAME]...
 *        [--expect-echo] [--linger MS] [--timeout MS]
 *
 * Progress goes to stderr as JSON lines ({"event": "synced"}, {"event": "inserted"}, ...), so a caller can act at
 * the right moment without waiting for the final result.
 *
 * Output fields:
 *   ok             every expectation held before the timeout
 *   synced         the provider emitted `sync` (true)
 *   clientID       this client's Yjs client id
 *   paragraphs     texts of the paragraphs of the fragment "default", in document order
 *   peerNames      user names of other clients' awareness states ever seen (sorted)
 *   echoes         names the server put into this client's own awareness state when echoing it back (keepalive)
 *   received       counts of y-websocket message kinds received on the socket
 *   closeCodes     close codes of connections the server closed
 *   missing        the expectations that did not hold (on timeout)
 *   elapsedMs      time from start to the end of waiting
 */
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as decoding from 'lib0/decoding'

const USAGE = 'usage: yclient.mjs --url WS_BASE --room ID --token KEY [--insert TEXT] [--name NAME] ' +
  '[--expect TEXT]... [--expect-count N] [--expect-peer NAME]... [--expect-echo] [--linger MS] [--timeout MS]'

let args
try {
  args = parseArgs({
    options: {
      url: { type: 'string' },
      room: { type: 'string' },
      token: { type: 'string' },
      insert: { type: 'string' },
      name: { type: 'string', default: 'node client' },
      expect: { type: 'string', multiple: true, default: [] },
      'expect-count': { type: 'string' },
      'expect-peer': { type: 'string', multiple: true, default: [] },
      'expect-echo': { type: 'boolean', default: false },
      linger: { type: 'string', default: '0' },
      timeout: { type: 'string', default: '15000' }
    },
    strict: true
  }).values
} catch (err) {
  process.stderr.write(`${err.message}\n${USAGE}\n`)
  process.exit(1)
}
if (!args.url || !args.room) {
  process.stderr.write(`${USAGE}\n`)
  process.exit(1)
}

const started = Date.now()
const timeoutMs = Number(args.timeout)
const lingerMs = Number(args.linger)
const expectCount = args['expect-count'] === undefined ? null : Number(args['expect-count'])

const progress = (event, extra = {}) => process.stderr.write(JSON.stringify({ event, ms: Date.now() - started, ...extra }) + '\n')

// -- what arrives on the socket, seen below the provider ----------------------------------------------------------
const received = {}
const echoes = []
const closeCodes = []
let ydoc = null

const SYNC_KINDS = ['sync-step1', 'sync-step2', 'sync-update']
const KINDS = { 1: 'awareness', 2: 'auth', 3: 'query-awareness' }

/** Count one incoming frame by kind; note the server's echo of our own awareness state. */
function record (data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  let kind = 'unknown'
  try {
    const decoder = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(decoder)
    if (type === 0) {
      kind = SYNC_KINDS[decoding.readVarUint(decoder)] || 'sync-unknown'
    } else {
      kind = KINDS[type] || `type-${type}`
      if (type === 1) {
        const payload = decoding.createDecoder(decoding.readVarUint8Array(decoder))
        const count = decoding.readVarUint(payload)
        for (let i = 0; i < count; i++) {
          const clientID = decoding.readVarUint(payload)
          decoding.readVarUint(payload) // clock
          const state = JSON.parse(decoding.readVarString(payload))
          if (ydoc !== null && clientID === ydoc.clientID && state !== null) {
            echoes.push(state.user ? state.user.name : null)
          }
        }
      }
    }
  } catch (err) {
    kind = 'undecodable'
  }
  received[kind] = (received[kind] || 0) + 1
}

/** The `ws` WebSocket, listening to every frame before the provider handles it. */
class RecordingWebSocket extends WebSocket {
  constructor (...params) {
    super(...params)
    this.addEventListener('message', (event) => record(event.data))
    this.addEventListener('close', (event) => { if (event.code !== 1000 && event.code !== 1005) closeCodes.push(event.code) })
  }
}

// -- the document and the provider -------------------------------------------------------------------------------
ydoc = new Y.Doc()
const fragment = ydoc.getXmlFragment('default')
const provider = new WebsocketProvider(args.url, args.room, ydoc, {
  params: args.token ? { token: args.token } : {},
  WebSocketPolyfill: RecordingWebSocket,
  disableBc: true,
  maxBackoffTime: 500
})

const peerNames = new Set()
provider.awareness.on('change', () => {
  for (const [clientID, state] of provider.awareness.getStates()) {
    if (clientID !== ydoc.clientID && state && state.user && typeof state.user.name === 'string') {
      peerNames.add(state.user.name)
    }
  }
})

/** The text of each paragraph (XmlElement) of the fragment, in order. */
function paragraphs () {
  return fragment.toArray().map((node) => {
    if (!(node instanceof Y.XmlElement)) return ''
    return node.toArray().map((child) => child instanceof Y.XmlText
      ? child.toDelta().map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('')
      : '').join('')
  })
}

function missing () {
  const texts = paragraphs()
  const out = []
  if (!provider.synced) out.push('sync')
  for (const text of args.expect) if (!texts.includes(text)) out.push(`text:${text}`)
  if (expectCount !== null && texts.length !== expectCount) out.push(`count:${expectCount} (have ${texts.length})`)
  for (const name of args['expect-peer']) if (!peerNames.has(name)) out.push(`peer:${name}`)
  if (args['expect-echo'] && echoes.length === 0) out.push('echo')
  return out
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function main () {
  const deadline = started + timeoutMs
  // 1. Synced.
  await new Promise((resolve) => {
    if (provider.synced) return resolve()
    const onSync = (state) => { if (state) { provider.off('sync', onSync); resolve() } }
    provider.on('sync', onSync)
    setTimeout(resolve, Math.max(0, deadline - Date.now()))
  })
  if (provider.synced) progress('synced', { paragraphs: paragraphs() })
  // 2. Edit and presence.
  if (provider.synced && args.insert !== undefined) {
    ydoc.transact(() => {
      const paragraph = new Y.XmlElement('paragraph')
      paragraph.insert(0, [new Y.XmlText(args.insert)])
      fragment.insert(fragment.length, [paragraph])
    })
    progress('inserted', { text: args.insert })
  }
  if (provider.synced) {
    provider.awareness.setLocalState({ user: { name: args.name, color: '#123456' }, cursor: null })
  }
  // 3. Expectations.
  while (missing().length > 0 && Date.now() < deadline) await sleep(20)
  const stillMissing = missing()
  const elapsedMs = Date.now() - started
  if (stillMissing.length === 0) {
    progress('done')
    if (lingerMs > 0) await sleep(lingerMs)
  }
  const result = {
    ok: stillMissing.length === 0,
    synced: provider.synced,
    clientID: ydoc.clientID,
    paragraphs: paragraphs(),
    peerNames: [...peerNames].sort(),
    echoes,
    received,
    closeCodes,
    missing: stillMissing,
    elapsedMs
  }
  provider.destroy()
  await sleep(50) // let the close frame (and anything queued before it) go out
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(result.ok ? 0 : 2))
}

// A hard stop even if something above hangs: the script is always bounded in time.
setTimeout(() => {
  process.stdout.write(JSON.stringify({ ok: false, missing: ['hard-timeout'], received, closeCodes }) + '\n', () => process.exit(2))
}, timeoutMs + lingerMs + 5000).unref()

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`)
  process.exit(1)
})
