#!/usr/bin/env node
/**
 * Soak load for bench/soak.py: honest editors, bystanders and hostile clients in one Node process, loopback only.
 *
 *   node soak.mjs CONFIG.json      (JSON lines on stdout: "started", one "minute" per report interval, "final")
 *
 * Honest editors are real y-websocket clients: y-websocket's own WebsocketProvider with a real Y.Doc and
 * y-protocols Awareness (so they sync, apply every update, relay presence and reconnect exactly as a browser tab
 * does). Each one types into its own paragraph of the ProseMirror fragment "default" at human speed (a keystroke
 * every 0.2-1 s: mostly characters, a typo corrected now and then; past 320 characters the paragraph is
 * replaced by a new one) and moves its cursor (an awareness update every 1-3 s, relative positions as
 * y-prosemirror writes them).
 *
 * Bystanders are honest editors that also set an awareness field every second and time the server's echo of it
 * (the server echoes awareness to its sender): the time from the send to the echo with the same clock. They run
 * in a worker thread with its own event loop, as a user's own browser would: on the main thread the echo would
 * also wait for the 490 other clients' work (that loop's lag p99 is about 20 ms), and the figure is the server's.
 *
 * Hostile clients cycle through abusive patterns, each on a fresh connection to a random document, reconnecting
 * after every close; a refused handshake (HTTP 403 while the server penalises the user) is counted and retried.
 *
 * Any close of an honest client's socket before the end (server close of any code, a dropped connection, the
 * provider's own 30 s "no message" watchdog, a sync that never completes) is an unexpected close.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import { WebsocketProvider } from 'y-websocket'

const config = isMainThread ? JSON.parse(readFileSync(process.argv[2], 'utf8')) : workerData.config
const {
  url,
  documents,
  honestTokens,
  hostileTokens,
  sockets,
  hostileEvery = 50,
  bystanderEvery = 50,
  durationS,
  reportS = 60,
  seed = 1,
  connectConcurrency = 32,
  stopReadingHoldS = 40,
  closeWaitS = 15,
  patterns = null
} = config

process.setMaxListeners(0) // every WebsocketProvider adds a process 'exit' listener
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (event, extra = {}) => process.stderr.write(JSON.stringify({ event, t: elapsedS(), ...extra }) + '\n')
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// In the bystanders' thread, what the main thread counts is posted to it instead
const toMain = (obj) => parentPort.postMessage(obj)

function mulberry32 (a) {
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rng = mulberry32(seed)
const between = (lo, hi) => lo + rng() * (hi - lo)
const pick = (items) => items[Math.floor(rng() * items.length)]

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}
const round = (v, d = 2) => (v === null || v === undefined ? null : Number(v.toFixed(d)))
function summary (samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    n: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1] : null)
  }
}
const bump = (counter, key, by = 1) => { counter[key] = (counter[key] || 0) + by }

// -- counters: per report interval and for the whole run ----------------------------------------------------------
let t0 = performance.now()
const elapsedS = () => round((performance.now() - t0) / 1000, 1)
let stopping = false
const newWindow = () => ({ recv: 0, sent: 0, echo: [], unexpected: [], hostile: {}, bystanderLagMs: 0 })
let win = newWindow()
const run = { recv: 0, sent: 0, echo: [], echoLost: 0, unexpected: [], hostile: {}, hostileByPattern: {} }

/** ws with message counting and the last error kept (a refused handshake reports only 1006 otherwise). */
class CountingWebSocket extends WebSocket {
  constructor (address, protocols, options) {
    super(address, protocols, options)
    this.lastError = null
    this.on('message', () => { win.recv++ })
    this.on('error', (err) => { this.lastError = String(err.message || err) })
  }

  send (data, ...rest) {
    win.sent++
    return super.send(data, ...rest)
  }
}

function unexpected (editor, what) {
  if (stopping) return
  const entry = { t: elapsedS(), client: editor.index, kind: editor.bystander ? 'bystander' : 'editor', doc: editor.docId, ...what }
  if (!isMainThread) return toMain({ unexpected: entry })
  win.unexpected.push(entry)
  run.unexpected.push(entry)
  log('unexpected-close', entry)
}

// -- honest editors -------------------------------------------------------------------------------------------------
const LETTERS = 'etaoin shrdlu cmfwyp vbgkqj xz, etaoin shrdlu.'
const ECHO_GIVE_UP_MS = 60000 // an echo later than this counts as lost (and is not a latency sample)
const MAX_PARAGRAPH = 320 // a paragraph this long is done: it is replaced by a new one

class Editor {
  constructor (index, docId, token, bystander) {
    this.index = index
    this.docId = docId
    this.bystander = bystander
    this.doc = new Y.Doc()
    this.text = null
    this.cursor = 0
    this.everSynced = false
    this.pending = new Map() // awareness clock -> performance.now() at send (bystanders)
    this.pingSeq = 0
    this.provider = new WebsocketProvider(url, docId, this.doc, {
      params: { token },
      WebSocketPolyfill: CountingWebSocket,
      disableBc: true,
      connect: false
    })
    this.awareness = this.provider.awareness
    this.awareness.setLocalState({ user: { name: `soak ${index}` }, cursor: null })
    this.provider.on('connection-close', (event) => {
      if (event === null) {
        unexpected(this, { code: 'watchdog', reason: 'no message from the server for 30 s (provider closed it)' })
      } else {
        unexpected(this, { code: event.code, reason: event.reason || '', error: event.target?.lastError || null })
      }
    })
    this.provider.on('sync', (synced) => { if (synced) this.onSynced() })
    if (bystander) {
      this.provider.messageHandlers[1] = (_encoder, decoder, provider) => {
        const payload = decoding.readVarUint8Array(decoder)
        this.checkEcho(payload)
        awarenessProtocol.applyAwarenessUpdate(provider.awareness, payload, provider)
      }
    }
  }

  /** Connect; resolves once synced (or after the timeout, counted as an unexpected close). */
  open (timeoutMs = 30000) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.provider.off('sync', onSync)
        unexpected(this, { code: 'sync-timeout', reason: `not synced ${timeoutMs / 1000} s after connecting` })
        resolve(false)
      }, timeoutMs)
      const onSync = (synced) => {
        if (!synced) return
        clearTimeout(timer)
        this.provider.off('sync', onSync)
        resolve(true)
      }
      this.provider.on('sync', onSync)
      this.provider.connect()
    })
  }

  get live () {
    return this.provider.synced && this.provider.wsconnected
  }

  onSynced () {
    if (this.everSynced) return
    this.everSynced = true
    this.newParagraph()
  }

  newParagraph () {
    this.paragraph = new Y.XmlElement('paragraph')
    this.text = new Y.XmlText()
    this.paragraph.insert(0, [this.text])
    const fragment = this.doc.getXmlFragment('default')
    fragment.insert(fragment.length, [this.paragraph])
    this.cursor = 0
  }

  start () {
    const key = () => {
      if (stopping) return
      if (this.live && this.text) this.keystroke()
      setTimeout(key, between(200, 1000))
    }
    const cursor = () => {
      if (stopping) return
      if (this.live && this.text) this.moveCursor()
      setTimeout(cursor, between(1000, 3000))
    }
    setTimeout(key, between(0, 1000))
    setTimeout(cursor, between(0, 3000))
    if (this.bystander) {
      const ping = () => {
        if (stopping) return
        this.ping()
        setTimeout(ping, 1000)
      }
      setTimeout(ping, between(0, 1000))
    }
  }

  keystroke () {
    const text = this.text
    const length = text.length
    this.cursor = Math.min(this.cursor, length)
    if (length > MAX_PARAGRAPH) {
      // The paragraph is done: it goes and a new one starts, in one change. Its items are then collected (a
      // deleted type's content shrinks to a range per client), so the document stays the size of what is being
      // written; deleting only part of it would leave a tombstone per keystroke, growing every Doc for good.
      this.doc.transact(() => {
        const fragment = this.doc.getXmlFragment('default')
        const index = fragment.toArray().indexOf(this.paragraph)
        if (index >= 0) fragment.delete(index, 1)
        this.newParagraph()
      })
    } else if (this.cursor > 0 && rng() < 0.06) {
      text.delete(this.cursor - 1, 1) // a typo corrected
      this.cursor--
    } else {
      text.insert(this.cursor, LETTERS[Math.floor(rng() * LETTERS.length)])
      this.cursor++
    }
  }

  moveCursor () {
    if (rng() < 0.1) this.cursor = Math.floor(rng() * (this.text.length + 1)) // clicked elsewhere
    const position = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, this.cursor))
    this.awareness.setLocalStateField('cursor', { anchor: position, head: position })
  }

  ping () {
    const now = performance.now()
    for (const [clock, at] of this.pending) {
      if (now - at > ECHO_GIVE_UP_MS) {
        this.pending.delete(clock)
        toMain({ lost: 1 })
      }
    }
    if (!this.live) return
    const at = performance.now()
    this.awareness.setLocalStateField('ping', ++this.pingSeq) // sent at once by the provider's update handler
    this.pending.set(this.awareness.meta.get(this.doc.clientID).clock, at)
  }

  checkEcho (payload) {
    const now = performance.now()
    const decoder = decoding.createDecoder(payload)
    const count = decoding.readVarUint(decoder)
    for (let i = 0; i < count; i++) {
      const client = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      decoding.readVarString(decoder)
      if (client !== this.doc.clientID) continue
      const at = this.pending.get(clock)
      if (at !== undefined) {
        this.pending.delete(clock)
        toMain({ echo: now - at })
      }
    }
  }

  destroy () {
    this.provider.destroy()
    this.awareness.destroy()
    this.doc.destroy()
  }
}

// -- hostile clients ------------------------------------------------------------------------------------------------
const ALL_PATTERNS = ['sync-flood-unread', 'query-awareness-flood', 'awareness-100k', 'awareness-deep', 'corrupt-update', 'stops-reading']
const PATTERNS = patterns || ALL_PATTERNS
for (const pattern of PATTERNS) if (!ALL_PATTERNS.includes(pattern)) throw new Error(`unknown pattern ${pattern}`)
const SYNC_STEP1_EMPTY = Uint8Array.from([0, 0, 1, 0])
const QUERY_AWARENESS = Uint8Array.from([3])

function awarenessMessage (entries) {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, entries.length)
  for (const [client, clock, state] of entries) {
    encoding.writeVarUint(inner, client)
    encoding.writeVarUint(inner, clock)
    encoding.writeVarString(inner, state)
  }
  const outer = encoding.createEncoder()
  encoding.writeVarUint(outer, 1)
  encoding.writeVarUint8Array(outer, encoding.toUint8Array(inner))
  return encoding.toUint8Array(outer)
}

const AWARENESS_100K = awarenessMessage(Array.from({ length: 100000 }, (_, i) => [i + 1, 1, '{}']))
const DEEP_STATE = '{"cursor":' + '['.repeat(1000) + ']'.repeat(1000) + '}'
// A sync update claiming 1,000 structs of client 42 in a few bytes.
const CORRUPT_UPDATE = Uint8Array.from([0, 2, 8, 0x01, 0xe8, 0x07, 0x2a, 0x00, 0xff, 0xff, 0xff])

class Hostile {
  constructor (index, token) {
    this.index = index
    this.token = token
    this.ws = null
    this.finish = null
  }

  async loop () {
    let k = this.index
    while (!stopping) {
      const pattern = PATTERNS[k++ % PATTERNS.length]
      const outcome = await this.attempt(pattern, pick(documents))
      if (stopping) break
      bump(win.hostile, outcome)
      bump(run.hostile, outcome)
      run.hostileByPattern[pattern] ||= {}
      bump(run.hostileByPattern[pattern], outcome)
      await sleep(outcome.startsWith('refused') ? 2000 : 500)
    }
  }

  /** One connection running one abusive pattern; resolves with what ended it (a close code, "refused(403)"...). */
  attempt (pattern, docId) {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${url}/${docId}?token=${this.token}`)
      this.ws = ws
      const timers = []
      let done = false
      let opened = false
      const finish = (outcome) => {
        if (done) return
        done = true
        for (const timer of timers) clearTimeout(timer)
        this.finish = null
        try { ws._socket?.resume() } catch {}
        ws.terminate()
        resolve(outcome)
      }
      this.finish = finish
      const later = (ms, fn) => timers.push(setTimeout(fn, ms))
      later(15000, () => { if (!opened) finish('connect-timeout') })
      ws.on('unexpected-response', (req, res) => {
        res.resume()
        finish(`refused(${res.statusCode})`)
      })
      ws.on('error', (err) => { if (!opened) finish(`connect-error(${err.code || err.message})`) })
      ws.on('message', () => { win.recv++ })
      ws.on('close', (code) => finish(String(code)))
      const send = (data) => { win.sent++; ws.send(data) }
      ws.on('open', () => {
        opened = true
        switch (pattern) {
          case 'sync-flood-unread': // ask for the whole state again and again, reading nothing
            ws._socket.pause()
            for (let i = 0; i < 200; i++) send(SYNC_STEP1_EMPTY)
            later(3000, () => ws._socket.resume())
            break
          case 'query-awareness-flood':
            for (let i = 0; i < 200; i++) send(QUERY_AWARENESS)
            break
          case 'awareness-100k':
            send(AWARENESS_100K)
            break
          case 'awareness-deep':
            send(awarenessMessage([[1 + Math.floor(rng() * 2 ** 30), 1, DEEP_STATE]]))
            break
          case 'corrupt-update':
            send(CORRUPT_UPDATE)
            break
          case 'stops-reading': { // stops reading; asks for the state within the allowance (1/s) meanwhile
            ws._socket.pause()
            const ask = () => {
              if (done) return
              if (ws.readyState === WebSocket.OPEN) send(SYNC_STEP1_EMPTY)
              later(1000, ask)
            }
            ask()
            later(stopReadingHoldS * 1000, () => {
              ws._socket.resume() // a close frame the server sent meanwhile is read now
              later(3000, () => finish('self-ended'))
            })
            return
          }
        }
        later(closeWaitS * 1000 + 3000, () => finish('not-closed'))
      })
    })
  }

  stop () {
    if (this.finish) this.finish('stopped')
  }
}

// -- the run --------------------------------------------------------------------------------------------------------
function docStats (editors) {
  const seen = new Set()
  let structs = 0
  let stateBytes = 0
  for (const editor of editors) {
    if (seen.has(editor.docId) || !editor.everSynced) continue
    seen.add(editor.docId)
    for (const list of editor.doc.store.clients.values()) structs += list.length
    stateBytes += Y.encodeStateAsUpdate(editor.doc).length
  }
  return { docs: seen.size, structs, stateKiB: round(stateBytes / 1024, 1) }
}

async function main () {
  const hardStop = setTimeout(() => {
    emit({ type: 'error', error: 'soak hard timeout' })
    process.exit(3)
  }, (durationS + 300) * 1000)
  hardStop.unref()

  const editors = []
  const hostiles = []
  const bystanderSpecs = [] // [index, document, token] of each bystander: they live in their own thread
  for (let i = 0; i < sockets; i++) {
    if (i % hostileEvery === hostileEvery - 1 && hostiles.length < hostileTokens.length) {
      hostiles.push(new Hostile(hostiles.length, hostileTokens[hostiles.length]))
      continue
    }
    const spec = [i, documents[i % documents.length], honestTokens[i % honestTokens.length]]
    if (i % bystanderEvery === 0) bystanderSpecs.push(spec)
    else editors.push(new Editor(...spec, false))
  }
  t0 = performance.now()
  const bystanders = startBystanders(bystanderSpecs)
  log('connecting', { editors: editors.length, hostiles: hostiles.length, bystanders: bystanderSpecs.length })
  let next = 0
  const workers = Array.from({ length: connectConcurrency }, async () => {
    while (next < editors.length) await editors[next++].open()
  })
  await Promise.all(workers)
  const bystandersSynced = await bystanders.connected
  const connectS = (performance.now() - t0) / 1000
  const connected = editors.filter((e) => e.live).length + bystandersSynced
  emit({
    type: 'started',
    editors: editors.length + bystanderSpecs.length,
    hostiles: hostiles.length,
    bystanders: bystanderSpecs.length,
    connected,
    connectS: round(connectS, 2)
  })

  t0 = performance.now()
  win = newWindow()
  for (const editor of editors) editor.start()
  bystanders.start()
  const hostileLoops = hostiles.map((h) => h.loop())
  let cpu = process.cpuUsage()
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  for (let k = 1; ; k++) {
    const at = Math.min(k * reportS, durationS)
    await sleep(Math.max(0, t0 + at * 1000 - performance.now()))
    const w = win
    win = newWindow()
    const seconds = Math.max(1e-3, at - (k - 1) * reportS)
    run.recv += w.recv
    run.sent += w.sent
    const ownCpu = process.cpuUsage(cpu)
    cpu = process.cpuUsage()
    emit({
      type: 'minute',
      t: at,
      open: editors.filter((e) => e.provider.wsconnected).length + bystanders.open + hostiles.filter((h) => h.ws?.readyState === WebSocket.OPEN).length,
      openHonest: editors.filter((e) => e.provider.wsconnected).length + bystanders.open,
      recvPerS: round(w.recv / seconds, 1),
      sentPerS: round(w.sent / seconds, 1),
      echo: summary(w.echo),
      unexpected: w.unexpected,
      hostile: w.hostile,
      echoLost: run.echoLost,
      docs: docStats(editors),
      nodeRssMiB: round(process.memoryUsage().rss / 2 ** 20, 1),
      nodeCpuPct: round((100 * (ownCpu.user + ownCpu.system)) / 1e6 / seconds, 1),
      nodeLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 1), max: round(loopDelay.max / 1e6, 1) },
      bystanderLoopDelayMaxMs: w.bystanderLagMs
    })
    loopDelay.reset()
    if (at >= durationS) break
  }
  stopping = true
  for (const h of hostiles) h.stop()
  await Promise.race([Promise.all(hostileLoops), sleep(5000)])
  await bystanders.stop()
  const docs = docStats(editors)
  for (const editor of editors) editor.destroy()
  await sleep(500)
  emit({
    type: 'final',
    durationS,
    echo: summary(run.echo),
    echoLost: run.echoLost,
    unexpected: run.unexpected,
    hostile: run.hostile,
    hostileByPattern: run.hostileByPattern,
    messages: run.recv + run.sent,
    received: run.recv,
    sent: run.sent,
    docs
  })
}

// -- the bystanders' thread -------------------------------------------------------------------------------------------
/** Start the bystanders' thread; what it posts goes into this thread's counters. */
function startBystanders (specs) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { config, specs } })
  let open = 0
  let onConnected, onDone
  const connected = new Promise((resolve) => { onConnected = resolve })
  const done = new Promise((resolve) => { onDone = resolve })
  worker.on('message', (m) => {
    if (m.echo !== undefined) {
      win.echo.push(m.echo)
      run.echo.push(m.echo)
    } else if (m.unexpected) {
      win.unexpected.push(m.unexpected)
      run.unexpected.push(m.unexpected)
      log('unexpected-close', m.unexpected)
    } else if (m.lost) {
      run.echoLost += m.lost
    } else if (m.counts) {
      win.recv += m.counts.recv
      win.sent += m.counts.sent
      win.bystanderLagMs = Math.max(win.bystanderLagMs, m.counts.lagMaxMs)
      open = m.counts.open
    } else if (m.connected !== undefined) {
      open = m.connected
      onConnected(m.connected)
    } else if (m.done) {
      onDone()
    }
  })
  worker.on('error', (err) => {
    emit({ type: 'error', error: `bystander thread: ${String(err.stack || err)}` })
    process.exit(1)
  })
  return {
    connected,
    get open () { return open },
    start: () => worker.postMessage('start'),
    async stop () {
      worker.postMessage('stop')
      await Promise.race([done, sleep(5000)])
      await worker.terminate()
    }
  }
}

/** The bystanders' thread: connect them, then run them from 'start' to 'stop', posting every count to the main one. */
async function bystanderThread () {
  const editors = workerData.specs.map((spec) => new Editor(...spec, true))
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < editors.length) await editors[next++].open()
  }))
  toMain({ connected: editors.filter((e) => e.live).length })
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  let ticker = null
  parentPort.on('message', (m) => {
    if (m === 'start') {
      t0 = performance.now()
      win = newWindow()
      for (const editor of editors) editor.start()
      ticker = setInterval(() => {
        const w = win
        win = newWindow()
        const open = editors.filter((e) => e.provider.wsconnected).length
        toMain({ counts: { recv: w.recv, sent: w.sent, open, lagMaxMs: round(lag.max / 1e6, 1) } })
        lag.reset()
      }, 1000)
    } else if (m === 'stop') {
      stopping = true
      clearInterval(ticker)
      for (const editor of editors) editor.destroy()
      toMain({ done: true })
    }
  })
}

if (isMainThread) {
  main().then(
    () => setTimeout(() => process.exit(0), 200),
    (err) => process.stdout.write(JSON.stringify({ type: 'error', error: String(err.stack || err) }) + '\n', () => process.exit(1))
  )
} else {
  bystanderThread().catch((err) => toMain({ unexpected: { code: 'bystander-thread', reason: String(err.stack || err) } }))
}
