#!/usr/bin/env node
/**
 * Load generator for bench/run.py: many y-websocket clients in one Node process, on loopback only.
 *
 *   node loadgen.mjs CONFIG.json      (prints one JSON result on stdout; progress on stderr)
 *
 * Scenarios (CONFIG.scenario):
 *   fanout       rooms of editors; senders type timestamped text at a fixed total rate; every receiver measures
 *                now - timestamp. Reports latency percentiles, % delivered, deliveries/s, server CPU over the run,
 *                and this process's own CPU and event-loop lag (when they are high, the figure measures it too).
 *   connections  open many idle clients (connect, sync, stay); reports connections+sync per second and the
 *                server's RSS before and after.
 *   sync         time a new client's connect -> synced on one document: first connection (cold when the room is
 *                not loaded yet), then further ones while the room is loaded (raw clients and WebsocketProvider).
 *                With CONFIG.preload (a file of length-prefixed updates) one client first pushes them into the
 *                room: how the reference server, which has no storage, gets the same document.
 *   ingest       one client pushes CONFIG.updates small updates (one keystroke each) as fast as its socket takes
 *                them, then a SyncStep1 whose SyncStep2 answer comes back after the server has handled every update
 *                before it; a client joining afterwards confirms the server's state vector has them all.
 *
 * It runs against the project's server and the reference server (@y/websocket-server) alike: the URL is
 * ``<url>/<room>?token=...`` and the reference names its room by the path and ignores the query string. The reference
 * also sends every update back to its sender (the project's server does not); a sender recognises its own client id
 * in such an echo and does not count it as a delivery.
 *
 * The light client below speaks the y-websocket protocol with y-protocols' encoders but never applies what it
 * receives (thousands of clients applying every update would measure Node, not the server); senders keep their own
 * Y.Doc, so every update they send is a real Yjs update to the ProseMirror fragment "default".
 *
 * Each update inserts "§<microseconds>" into the sender's paragraph: the sender's clock (performance.now()) at the
 * moment it was sent. Senders and receivers share this process, hence this clock. Every PARAGRAPH_UPDATES updates
 * the sender starts a new paragraph, as people do: one endless paragraph would measure yrs, whose cost per insert
 * grows with the length of the run of text it extends (docs/performance.md), rather than the server.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebsocketProvider } from 'y-websocket'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const MARKER = Buffer.from('§', 'utf8') // 0xC2 0xA7: never the start of a varint-encoded header byte pair here
const EMPTY_SYNC_STEP2 = Uint8Array.from([0, 1, 2, 0, 0]) // sync, step 2, the empty update [0, 0]
const LAG_RESOLUTION_MS = 5
// Updates (words, or keystrokes of the ingest session) per paragraph.
const PARAGRAPH_UPDATES = 60
const EMPTY_DOC = new Y.Doc() // what a receiver knows: nothing (its SyncStep1 asks for everything)
const nowUs = () => Math.round(performance.now() * 1000)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (event, extra = {}) => process.stderr.write(JSON.stringify({ event, ...extra }) + '\n')

// -- server process statistics (/proc) ------------------------------------------------------------------------------
function serverCpuSeconds () {
  if (!config.serverPid) return null
  const stat = readFileSync(`/proc/${config.serverPid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / (config.clkTck || 100) // utime + stime
}

/** Seconds the server's main (event loop) thread spent runnable but waiting for a CPU: other processes' share. */
function serverRunqueueWaitSeconds () {
  if (!config.serverPid) return null
  try {
    return Number(readFileSync(`/proc/${config.serverPid}/schedstat`, 'utf8').split(' ')[1]) / 1e9
  } catch {
    return null
  }
}

function serverRssKb () {
  if (!config.serverPid) return null
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${config.serverPid}/status`, 'utf8'))
  return match ? Number(match[1]) : null
}

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

function round (value, digits = 3) {
  return value === null || value === undefined ? null : Number(value.toFixed(digits))
}

// -- measurements shared by every client of a fanout run -------------------------------------------------------
const stats = {
  windowStartUs: Infinity, // updates sent in [windowStartUs, windowEndUs) are measured
  windowEndUs: Infinity,
  samples: [], // latencies (ms) of measured updates, one per receiver
  sentAt: [], // the send time (µs) of each sample
  received: 0, // every timestamped update received
  expected: 0, // every timestamped update times the receivers in its room
  expectedInWindow: 0,
  abortMs: Infinity,
  setupExpected: 0, // deliveries of the senders' new paragraphs
  setupReceived: 0,
  echoes: 0, // a sender's own updates sent back to it (the reference server does that; not deliveries)
  aborted: false
}

function onTimestampedUpdate (buf) {
  const at = buf.indexOf(MARKER, 2)
  if (at < 0) {
    stats.setupReceived++ // a sender's new paragraph (sent before the clock starts)
    return
  }
  let ts = 0
  for (let i = at + MARKER.length; i < buf.length; i++) {
    const c = buf[i]
    if (c < 48 || c > 57) break
    ts = ts * 10 + (c - 48)
  }
  stats.received++
  if (ts >= stats.windowStartUs && ts < stats.windowEndUs) {
    const latency = performance.now() - ts / 1000
    stats.samples.push(latency)
    stats.sentAt.push(ts)
    if (latency > stats.abortMs) stats.aborted = true
  }
}

/** One y-websocket connection: syncs, answers the server's SyncStep1, optionally sends timestamped updates. */
class LightClient {
  constructor (room, token, { sender = false, roomSize = 1 } = {}) {
    this.room = room
    this.token = token
    this.roomSize = roomSize
    this.doc = sender ? new Y.Doc() : null
    this.text = null
    this.words = 0
    this.synced = false
    this.syncBytes = 0
    this.serverStateVector = null // the server's last SyncStep1 (its state vector), as received
    this.ws = null
  }

  /** Connect and wait for the server's SyncStep2; resolves with the time it took (ms). */
  open (timeoutMs = 30000) {
    const started = performance.now()
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${config.url}/${this.room}?token=${this.token}`)
      this.ws = ws
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('sync timeout')) }, timeoutMs)
      ws.on('open', () => {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, 0)
        syncProtocol.writeSyncStep1(encoder, this.doc || EMPTY_DOC)
        ws.send(encoding.toUint8Array(encoder))
      })
      ws.on('message', (data) => {
        if (!this.synced) this.syncBytes += data.length
        if (data[0] !== 0) return // awareness and others: ignored
        const kind = data[1]
        if (kind === 2) {
          if (this.doc && this._isOwnEcho(data)) stats.echoes++
          else onTimestampedUpdate(data)
        } else if (kind === 0) {
          this.serverStateVector = data
          ws.send(this.doc ? this._syncStep2(data) : EMPTY_SYNC_STEP2)
        } else if (kind === 1 && !this.synced) {
          this.synced = true
          clearTimeout(timer)
          resolve(performance.now() - started)
        }
      })
      ws.on('error', (err) => { clearTimeout(timer); if (!this.synced) reject(err) })
      ws.on('close', (code) => { clearTimeout(timer); if (!this.synced) reject(new Error(`closed ${code}`)) })
    })
  }

  /** Whether an update message was written by this client's doc (a sender's updates have its one client id). */
  _isOwnEcho (data) {
    const decoder = decoding.createDecoder(data)
    decoding.readVarUint(decoder) // sync
    decoding.readVarUint(decoder) // update
    decoding.readVarUint(decoder) // the update's length
    if (decoding.readVarUint(decoder) === 0) return false // no structs (a deletion only): not a sender's typing
    decoding.readVarUint(decoder) // structs of the first client
    return decoding.readVarUint(decoder) === this.doc.clientID
  }

  _syncStep2 (data) {
    const decoder = decoding.createDecoder(data)
    decoding.readVarUint(decoder)
    decoding.readVarUint(decoder)
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    syncProtocol.writeSyncStep2(encoder, this.doc, decoding.readVarUint8Array(decoder))
    return encoding.toUint8Array(encoder)
  }

  /** Give the sender its own paragraph (sent before measuring) and stream its doc's updates to the server. */
  prepareSender () {
    this.doc.on('update', (update) => {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.writeUpdate(encoder, update)
      this.ws.send(encoding.toUint8Array(encoder))
    })
    this.newParagraph()
  }

  newParagraph () {
    const paragraph = new Y.XmlElement('paragraph')
    this.text = new Y.XmlText()
    this.words = 0
    paragraph.insert(0, [this.text])
    const fragment = this.doc.getXmlFragment('default')
    fragment.insert(fragment.length, [paragraph])
  }

  /** Type one timestamped word (in a new paragraph after PARAGRAPH_UPDATES of them, with the paragraph in the same
   * update); every other client of the room should receive it. */
  sendUpdate () {
    const ts = nowUs()
    if (this.words === PARAGRAPH_UPDATES) {
      this.doc.transact(() => {
        this.newParagraph()
        this.text.insert(0, `§${ts} `)
      })
    } else {
      this.text.insert(this.text.length, `§${ts} `)
    }
    this.words += 1
    const receivers = this.roomSize - 1
    stats.expected += receivers
    if (ts >= stats.windowStartUs && ts < stats.windowEndUs) stats.expectedInWindow += receivers
  }

  close () {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
  }
}

/** Open clients with at most ``concurrency`` handshakes in flight; returns per-client connect->synced times. */
async function openAll (clients, concurrency) {
  const times = []
  const failures = []
  let next = 0
  async function worker () {
    while (next < clients.length) {
      const client = clients[next++]
      try {
        times.push(await client.open())
      } catch (err) {
        failures.push(String(err.message || err))
      }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker))
  const seconds = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  return {
    opened: times.length,
    failed: failures.length,
    failures: [...new Set(failures)].slice(0, 5),
    seconds: round(seconds),
    perSecond: round(times.length / seconds, 1),
    syncP50Ms: round(percentile(times, 50)),
    syncP99Ms: round(percentile(times, 99))
  }
}

function shuffle (items, seed = 12345) {
  const out = [...items]
  let state = seed
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

// -- scenarios -----------------------------------------------------------------------------------------------------
/** Latency by send time: [seconds into the window, samples, p50 ms, max ms] per bucket (shows stalls). */
function latencyTimeline (bucketMs) {
  const buckets = new Map()
  for (let i = 0; i < stats.samples.length; i++) {
    const bucket = Math.floor((stats.sentAt[i] - stats.windowStartUs) / 1000 / bucketMs)
    if (!buckets.has(bucket)) buckets.set(bucket, [])
    buckets.get(bucket).push(stats.samples[i])
  }
  return [...buckets.keys()].sort((a, b) => a - b).map((bucket) => {
    const values = buckets.get(bucket).sort((a, b) => a - b)
    return [round((bucket * bucketMs) / 1000, 2), values.length, round(percentile(values, 50), 1), round(values[values.length - 1], 1)]
  })
}

async function fanout () {
  const { rooms, tokens, totalRate, warmupS, durationS, drainTimeoutS, settleS = 0, abortMs = Infinity } = config
  const clients = []
  const senders = []
  for (const room of rooms) {
    for (let i = 0; i < room.clients; i++) {
      const client = new LightClient(room.id, tokens[i % tokens.length], { sender: i < room.senders, roomSize: room.clients })
      clients.push(client)
      if (i < room.senders) senders.push(client)
    }
  }
  const connect = await openAll(clients, config.concurrency || 50)
  log('connected', connect)
  if (connect.failed > 0) return { error: 'connections failed', connect }
  for (const sender of senders) {
    sender.prepareSender()
    stats.setupExpected += sender.roomSize - 1
  }
  // The paragraphs reach everyone (and the store commits them) before the clock starts: no backlog in the window.
  const setupDeadline = performance.now() + 30000
  while (stats.setupReceived < stats.setupExpected && performance.now() < setupDeadline) await sleep(10)
  log('setup', { expected: stats.setupExpected, received: stats.setupReceived })
  await sleep(1500)

  const order = shuffle(senders)
  const cpuStart = serverCpuSeconds()
  const waitStart = serverRunqueueWaitSeconds()
  const ownCpuStart = process.cpuUsage()
  // How late this process's own event loop ran: a latency it adds to every sample (it is the clients' side).
  // The histogram holds the intervals of a LAG_RESOLUTION_MS timer: the lag is what exceeds the resolution.
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()
  const t0 = performance.now()
  stats.windowStartUs = Math.round((t0 + warmupS * 1000) * 1000)
  stats.windowEndUs = Math.round((t0 + (warmupS + durationS) * 1000) * 1000)
  stats.abortMs = abortMs
  const endMs = t0 + (warmupS + durationS) * 1000
  const interval = 1000 / totalRate
  let k = 0
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      if (now >= endMs || stats.aborted) return resolve()
      while (t0 + k * interval <= now) {
        order[k % order.length].sendUpdate()
        k++
      }
      setTimeout(tick, 1)
    }
    tick()
  })
  const sendEnd = performance.now()
  const drainDeadline = sendEnd + drainTimeoutS * 1000
  while (stats.received < stats.expected && performance.now() < drainDeadline) await sleep(5)
  const drainMs = performance.now() - sendEnd
  const drained = stats.received >= stats.expected
  const wallS = (performance.now() - t0) / 1000
  const ownCpu = process.cpuUsage(ownCpuStart)
  lag.disable()
  if (settleS > 0) await sleep(settleS * 1000) // the store's group commit (and compaction) of what was sent
  const cpuEnd = serverCpuSeconds()
  const waitEnd = serverRunqueueWaitSeconds()
  const cpuWallS = (performance.now() - t0) / 1000

  const timeline = latencyTimeline(config.timelineBucketMs || 500)
  const samples = stats.samples.sort((a, b) => a - b)
  const measuredS = stats.aborted ? Math.max(0.001, (sendEnd - t0) / 1000 - warmupS) : durationS
  const serverCpuS = cpuStart === null ? null : cpuEnd - cpuStart
  const result = {
    editors: rooms.reduce((n, room) => n + room.clients, 0),
    rooms: rooms.length,
    senders: senders.length,
    targetRate: totalRate,
    sentRate: round(k / ((sendEnd - t0) / 1000), 1),
    sent: k,
    expected: stats.expected,
    received: stats.received,
    measured: samples.length,
    expectedInWindow: stats.expectedInWindow,
    deliveredPct: stats.expectedInWindow ? round((100 * samples.length) / stats.expectedInWindow, 3) : null,
    deliveredPerSecond: round(samples.length / measuredS, 1),
    p50Ms: round(percentile(samples, 50)),
    p90Ms: round(percentile(samples, 90)),
    p99Ms: round(percentile(samples, 99)),
    maxMs: round(samples.length ? samples[samples.length - 1] : null),
    aborted: stats.aborted,
    drained,
    drainMs: round(drainMs, 1),
    serverCpuS: round(serverCpuS),
    serverCpuPct: serverCpuS === null ? null : round((100 * serverCpuS) / cpuWallS, 1),
    serverMsPerDelivered: serverCpuS === null || !stats.received ? null : round((serverCpuS * 1000) / stats.received, 5),
    serverRunqueueWaitPct: waitStart === null ? null : round((100 * (waitEnd - waitStart)) / cpuWallS, 1),
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    loadgenCpuPct: round((100 * (ownCpu.user + ownCpu.system)) / 1e6 / wallS, 1),
    loadgenLagP99Ms: round(Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS), 1),
    loadgenLagMaxMs: round(Math.max(0, lag.max / 1e6 - LAG_RESOLUTION_MS), 1),
    echoes: stats.echoes,
    connect,
    timeline
  }
  for (const client of clients) client.close()
  await sleep(300)
  return result
}

async function connections () {
  const { rooms, tokens, count, concurrency = 64, holdS = 2 } = config
  const clients = Array.from({ length: count }, (_, i) => new LightClient(rooms[i % rooms.length], tokens[i % tokens.length]))
  // One connection per room first, so room loading is not counted as connection memory.
  const warm = rooms.map((room, i) => new LightClient(room, tokens[i % tokens.length]))
  await openAll(warm, 8)
  await sleep(1000)
  const rssBeforeKb = serverRssKb()
  log('connecting', { count })
  const waitStart = serverRunqueueWaitSeconds()
  const cpuStart = serverCpuSeconds()
  const connectStarted = performance.now()
  const connect = await openAll(clients, concurrency)
  const waitEnd = serverRunqueueWaitSeconds()
  connect.serverCpuS = cpuStart === null ? null : round(serverCpuSeconds() - cpuStart)
  connect.serverRunqueueWaitPct = waitStart === null ? null : round((100 * (waitEnd - waitStart) * 1000) / (performance.now() - connectStarted), 1)
  log('connected', connect)
  await sleep(holdS * 1000)
  const rssAfterKb = serverRssKb()
  const open = clients.filter((c) => c.ws && c.ws.readyState === WebSocket.OPEN).length
  for (const client of [...clients, ...warm]) client.close()
  await sleep(1500)
  return {
    count,
    rooms: rooms.length,
    open,
    rssBeforeKb,
    rssAfterKb,
    rssAfterCloseKb: serverRssKb(),
    kbPerConnection: rssBeforeKb === null ? null : round((rssAfterKb - rssBeforeKb) / Math.max(1, connect.opened), 2),
    connect
  }
}

async function providerSync (room, token, expectParagraphs) {
  const started = performance.now()
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(config.url, room, doc, {
    params: { token }, WebSocketPolyfill: WebSocket, disableBc: true
  })
  provider.awareness.setLocalState(null) // a silent reader: no presence broadcast to the room
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('provider sync timeout')), 30000)
    provider.on('sync', (state) => { if (state) { clearTimeout(timer); resolve() } })
  })
  const ms = performance.now() - started
  const paragraphs = doc.getXmlFragment('default').length
  provider.destroy()
  if (expectParagraphs !== undefined && paragraphs !== expectParagraphs) {
    throw new Error(`provider got ${paragraphs} paragraphs, expected ${expectParagraphs}`)
  }
  return ms
}

/** Update messages of a file of [u32 little-endian length][update] records. */
function readUpdateMessages (path) {
  const buf = readFileSync(path)
  const messages = []
  for (let at = 0; at < buf.length;) {
    const length = buf.readUInt32LE(at)
    messages.push(updateMessage(buf.subarray(at + 4, at + 4 + length)))
    at += 4 + length
  }
  return messages
}

function updateMessage (update) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

function syncStep1Message (doc) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeSyncStep1(encoder, doc)
  return encoding.toUint8Array(encoder)
}

/**
 * Send every message as fast as the socket takes them (handing the kernel more whenever ws' own buffer is below
 * 1 MiB), then a SyncStep1 of ``doc``; resolves when its SyncStep2 arrives. A server handles one connection's
 * messages in order, so the answer means every update before it was handled. Returns the times (ms) and the answer.
 */
async function pushAll (ws, messages, doc, timeoutMs) {
  const started = performance.now()
  const deadline = started + timeoutMs
  let bytes = 0
  for (let i = 0; i < messages.length;) {
    const end = Math.min(messages.length, i + 256)
    for (; i < end; i++) {
      ws.send(messages[i])
      bytes += messages[i].length
    }
    if (performance.now() > deadline) throw new Error(`push timeout after ${i} messages`)
    if (ws.readyState !== WebSocket.OPEN) throw new Error(`closed after ${i} messages`)
    if (ws.bufferedAmount > 1 << 20) await sleep(1)
    else await new Promise(setImmediate) // let the socket write (and the echoes in) before queueing more
  }
  const sentMs = performance.now() - started
  const answer = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SyncStep2 after the push')), Math.max(1, deadline - performance.now()))
    const onMessage = (data) => {
      if (data[0] === 0 && data[1] === 1) {
        clearTimeout(timer)
        ws.off('message', onMessage)
        resolve(data)
      }
    }
    ws.on('message', onMessage)
  })
  ws.send(syncStep1Message(doc))
  const step2 = await answer
  return { sentMs, answeredMs: performance.now() - started, bytes, step2 }
}

/** The document in a SyncStep2 message, applied to a fresh Y.Doc. */
function docOfSyncStep2 (data) {
  const decoder = decoding.createDecoder(data)
  decoding.readVarUint(decoder)
  decoding.readVarUint(decoder)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, decoding.readVarUint8Array(decoder))
  return doc
}

async function preload (room, token, path) {
  const messages = readUpdateMessages(path)
  const pusher = new LightClient(room, token)
  await pusher.open()
  const cpuStart = serverCpuSeconds()
  const push = await pushAll(pusher.ws, messages, EMPTY_DOC, 300000)
  const serverCpuS = cpuStart === null ? null : round(serverCpuSeconds() - cpuStart)
  pusher.close()
  const paragraphs = docOfSyncStep2(push.step2).getXmlFragment('default').length
  log('preloaded', { updates: messages.length, ms: push.answeredMs, paragraphs })
  return {
    updates: messages.length,
    bytes: push.bytes,
    sentMs: round(push.sentMs),
    answeredMs: round(push.answeredMs),
    updatesPerSecond: round((messages.length * 1000) / push.answeredMs, 1),
    serverCpuS,
    stateBytes: push.step2.length,
    paragraphs
  }
}

async function sync () {
  const { room, token, warmupRoom, warm = 10, provider = 5, expectParagraphs } = config
  const preloaded = config.preload ? await preload(room, token, config.preload) : null
  if (preloaded && expectParagraphs !== undefined && preloaded.paragraphs !== expectParagraphs) {
    throw new Error(`preloaded ${preloaded.paragraphs} paragraphs, expected ${expectParagraphs}`)
  }
  if (warmupRoom) {
    const w = new LightClient(warmupRoom, token) // loads the process's lazy parts (DB connection, registry)
    await w.open()
    w.close()
  }
  const holder = new LightClient(room, token)
  const firstMs = await holder.open(60000)
  const firstBytes = holder.syncBytes
  const warmMs = []
  for (let i = 0; i < warm; i++) {
    const client = new LightClient(room, token)
    warmMs.push(await client.open())
    client.close()
  }
  const providerMs = []
  for (let i = 0; i < provider; i++) providerMs.push(await providerSync(room, token, expectParagraphs))
  holder.close()
  await sleep(200)
  const sortedWarm = [...warmMs].sort((a, b) => a - b)
  const sortedProvider = [...providerMs].sort((a, b) => a - b)
  return {
    preloaded,
    firstMs: round(firstMs),
    firstBytes,
    warmMs: warmMs.map((v) => round(v)),
    warmP50Ms: round(percentile(sortedWarm, 50)),
    providerMs: providerMs.map((v) => round(v)),
    providerP50Ms: round(percentile(sortedProvider, 50))
  }
}

/** ``count`` updates of one person typing (a keystroke each; a new paragraph every PARAGRAPH_UPDATES, a backspace
 * every 17). */
function typingSession (count) {
  const doc = new Y.Doc()
  const messages = []
  doc.on('update', (update) => messages.push(updateMessage(update)))
  const fragment = doc.getXmlFragment('default')
  let text = null
  for (let i = 0; messages.length < count; i++) {
    if (text === null || i % PARAGRAPH_UPDATES === 0) {
      const paragraph = new Y.XmlElement('paragraph')
      text = new Y.XmlText()
      paragraph.insert(0, [text])
      fragment.insert(fragment.length, [paragraph])
    } else if (i % 17 === 16 && text.length > 2) {
      text.delete(text.length - 1, 1)
    } else {
      text.insert(text.length, 'abcdefghij'[i % 10])
    }
  }
  return { doc, messages }
}

const sameStateVector = (a, b) => a.size === b.size && [...a].every(([client, clock]) => b.get(client) === clock)

function stateVectorOfSyncStep1 (data) {
  const decoder = decoding.createDecoder(data)
  decoding.readVarUint(decoder)
  decoding.readVarUint(decoder)
  return Y.decodeStateVector(decoding.readVarUint8Array(decoder))
}

async function ingest () {
  const { room, token, updates = 100000, timeoutS = 240 } = config
  const generated = performance.now()
  const { doc, messages } = typingSession(updates)
  const expected = Y.decodeStateVector(Y.encodeStateVector(doc))
  log('generated', { updates: messages.length, ms: round(performance.now() - generated) })
  const pusher = new LightClient(room, token)
  await pusher.open()
  const cpuStart = serverCpuSeconds()
  const waitStart = serverRunqueueWaitSeconds()
  const ownCpuStart = process.cpuUsage()
  const started = performance.now()
  const push = await pushAll(pusher.ws, messages, doc, timeoutS * 1000)
  // Confirmation from a second connection: the server's SyncStep1 to a newcomer carries its whole state vector.
  let probes = 0
  let confirmedMs = null
  let lastProbe = null
  const deadline = started + timeoutS * 1000
  while (confirmedMs === null && performance.now() < deadline) {
    const probe = new LightClient(room, token)
    await probe.open()
    const waitUntil = performance.now() + 5000
    while (probe.serverStateVector === null && performance.now() < waitUntil) await sleep(1)
    probes++
    probe.close()
    lastProbe = probe.serverStateVector && stateVectorOfSyncStep1(probe.serverStateVector)
    if (lastProbe && sameStateVector(lastProbe, expected)) confirmedMs = performance.now() - started
    else await sleep(100)
  }
  const cpuEnd = serverCpuSeconds()
  const waitEnd = serverRunqueueWaitSeconds()
  const wallS = (performance.now() - started) / 1000
  const ownCpu = process.cpuUsage(ownCpuStart)
  pusher.close()
  await sleep(300)
  if (confirmedMs === null) {
    return { error: `the server's state vector never matched: ${JSON.stringify([...(lastProbe || [])])}` }
  }
  // The round trip proves the updates were handled; the probe that they were all taken. The later of the two.
  const doneMs = probes === 1 ? push.answeredMs : confirmedMs
  const serverCpuS = cpuStart === null ? null : cpuEnd - cpuStart
  return {
    updates: messages.length,
    bytes: push.bytes,
    sentMs: round(push.sentMs),
    answeredMs: round(push.answeredMs),
    confirmedMs: round(confirmedMs),
    probes,
    doneMs: round(doneMs),
    updatesPerSecond: round((messages.length * 1000) / doneMs, 1),
    serverCpuS: round(serverCpuS),
    serverUsPerUpdate: serverCpuS === null ? null : round((serverCpuS * 1e6) / messages.length, 2),
    serverRunqueueWaitPct: waitStart === null ? null : round((100 * (waitEnd - waitStart)) / wallS, 1),
    loadgenCpuPct: round((100 * (ownCpu.user + ownCpu.system)) / 1e6 / wallS, 1),
    echoed: stats.setupReceived // updates the server sent back to the pusher (the reference echoes each)
  }
}

const scenarios = { fanout, connections, sync, ingest }

async function main () {
  const run = scenarios[config.scenario]
  if (!run) throw new Error(`unknown scenario ${config.scenario}`)
  const hardStop = setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: 'loadgen hard timeout' }) + '\n', () => process.exit(3))
  }, (config.hardTimeoutS || 120) * 1000)
  hardStop.unref()
  const result = await run()
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err.stack || err) }) + '\n', () => process.exit(1))
})
