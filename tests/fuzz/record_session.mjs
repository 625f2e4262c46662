#!/usr/bin/env node
/**
 * Record a real editing session: every y-websocket message three Yjs clients send while editing a Tiptap document.
 *
 * Why real Yjs: the fuzzer mutates traffic a browser would send, so its seeds must be byte-for-byte what yjs and
 * y-protocols encode (keystroke updates, formatting runs, concurrent inserts, deletions, cursors), not what pycrdt
 * happens to produce. The clients talk to an in-process hub that behaves like the y-websocket server (SyncStep1 on
 * connect, answers SyncStep1, relays updates and awareness); delivery is held back at times so edits are concurrent.
 *
 * The fragment "default" is shaped as y-prosemirror writes Tiptap's StarterKit schema: block nodes are XmlElements
 * (paragraph, heading with a numeric level, bulletList/orderedList > listItem > paragraph, codeBlock, blockquote),
 * text is XmlText with marks as formatting attributes (bold/italic {}, link {href, target, rel, class}), a hard break
 * is an XmlElement between two XmlTexts. Client ids are fixed so the output is reproducible.
 *
 *   node tests/fuzz/record_session.mjs > tests/fuzz/session.hex
 *
 * Output: comment lines starting with '#', then one message per line: "<client letter> <hex>".
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const modules = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'node', 'node_modules')
const load = (path) => import(pathToFileURL(resolve(modules, path)).href)
const Y = await load('yjs/dist/yjs.mjs')
const sync = await load('y-protocols/sync.js')
const awarenessProtocol = await load('y-protocols/awareness.js')
const encoding = await load('lib0/encoding.js')
const decoding = await load('lib0/decoding.js')

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const lines = []
const toHex = (bytes) => Buffer.from(bytes).toString('hex')

/** The server side: one Y.Doc; what it sends goes into each client's inbox, delivered when the script says so. */
const hub = { doc: new Y.Doc(), clients: [] }
hub.doc.clientID = 1

const frame = (type, write) => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, type)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** The hub handles one message from a client, as the y-websocket server does. */
function hubReceive (sender, message) {
  const decoder = decoding.createDecoder(message)
  const type = decoding.readVarUint(decoder)
  if (type === MESSAGE_SYNC) {
    const reply = encoding.createEncoder()
    encoding.writeVarUint(reply, MESSAGE_SYNC)
    const before = Y.encodeStateVector(hub.doc)
    sync.readSyncMessage(decoder, reply, hub.doc, sender)
    if (encoding.length(reply) > 1) sender.inbox.push(encoding.toUint8Array(reply))
    const after = Y.encodeStateVector(hub.doc)
    if (toHex(before) !== toHex(after)) {
      const update = Y.encodeStateAsUpdate(hub.doc, before)
      for (const other of hub.clients) {
        if (other !== sender) other.inbox.push(frame(MESSAGE_SYNC, (e) => sync.writeUpdate(e, update)))
      }
    }
  } else if (type === MESSAGE_AWARENESS) {
    for (const other of hub.clients) other.inbox.push(message)
  }
}

class Client {
  constructor (letter, clientID, name, color) {
    this.letter = letter
    this.doc = new Y.Doc()
    this.doc.clientID = clientID
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.inbox = []
    this.fragment = this.doc.getXmlFragment('default')
    this.doc.on('update', (update, origin) => {
      if (origin !== hub) this.send(frame(MESSAGE_SYNC, (e) => sync.writeUpdate(e, update)))
    })
    this.awareness.on('update', ({ added, updated, removed }, origin) => {
      if (origin === hub) return
      const changed = added.concat(updated, removed)
      this.send(frame(MESSAGE_AWARENESS, (e) => {
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
      }))
    })
    this.awareness.setLocalState({ user: { name, color } })
  }

  /** Messages of a disconnected client are dropped, as WebsocketProvider's are (it syncs again on connect). */
  send (message) {
    if (!this.connected) return
    lines.push(`${this.letter} ${toHex(message)}`)
    hubReceive(this, message)
  }

  /** Connect as WebsocketProvider does: SyncStep1, our awareness; the hub greets with its SyncStep1. */
  connect () {
    this.connected = true
    hub.clients.push(this)
    this.inbox.push(frame(MESSAGE_SYNC, (e) => sync.writeSyncStep1(e, hub.doc)))
    this.send(frame(MESSAGE_SYNC, (e) => sync.writeSyncStep1(e, this.doc)))
    this.send(frame(MESSAGE_AWARENESS, (e) => {
      encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID]))
    }))
  }

  /** Apply what the hub sent; replies (SyncStep2) go back through send(). */
  deliver () {
    while (this.inbox.length) {
      const decoder = decoding.createDecoder(this.inbox.shift())
      const type = decoding.readVarUint(decoder)
      if (type === MESSAGE_SYNC) {
        const reply = encoding.createEncoder()
        encoding.writeVarUint(reply, MESSAGE_SYNC)
        sync.readSyncMessage(decoder, reply, this.doc, hub)
        if (encoding.length(reply) > 1) this.send(encoding.toUint8Array(reply))
      } else if (type === MESSAGE_AWARENESS) {
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), hub)
      }
    }
  }

  /** Type text one keystroke (one transaction, one code point) at a time, as a user does; indexes are UTF-16. */
  type (text, index, chars, marks = {}) {
    for (const char of chars) {
      text.insert(index, char, marks)
      index += char.length
    }
  }

  cursor (text, index) {
    const anchor = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, index))
    this.awareness.setLocalStateField('cursor', { anchor, head: anchor })
  }

  leave () {
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], 'leave')
    this.connected = false
    hub.clients.splice(hub.clients.indexOf(this), 1)
  }
}

const deliverAll = (...clients) => { for (let round = 0; round < 4; round++) clients.forEach((c) => c.deliver()) }
const para = (content = []) => {
  const element = new Y.XmlElement('paragraph')
  element.insert(0, content)
  return element
}

const a = new Client('A', 1001, 'Ada', '#e06c75')
const b = new Client('B', 2002, 'Brian', '#61afef')
const c = new Client('C', 3003, 'Chen', '#98c379')
a.connect(); b.connect()
deliverAll(a, b)

// Ada writes a heading and a first paragraph, keystroke by keystroke.
const heading = new Y.XmlElement('heading')
heading.setAttribute('level', 1)
const headingText = new Y.XmlText()
heading.insert(0, [headingText])
a.fragment.insert(0, [heading])
a.type(headingText, 0, 'Plans')
const intro = new Y.XmlText()
a.fragment.insert(1, [para([intro])])
a.type(intro, 0, 'We ship on Friday.')
a.cursor(intro, 18)
intro.format(3, 4, { bold: {} })
deliverAll(a, b)

// Concurrent typing into the same paragraph, then into a new list, before either sees the other.
b.type(b.fragment.get(1).get(0), 0, 'Note: ')
a.type(intro, intro.length, ' Maybe.', { italic: {} })
const list = new Y.XmlElement('bulletList')
const item = new Y.XmlElement('listItem')
const itemText = new Y.XmlText()
item.insert(0, [para([itemText])])
list.insert(0, [item])
b.fragment.insert(2, [list])
b.type(itemText, 0, 'tests')
b.cursor(itemText, 5)
deliverAll(a, b)

// Chen joins late and syncs, then adds an ordered list, a code block and a link.
c.connect()
deliverAll(a, b, c)
const ordered = new Y.XmlElement('orderedList')
ordered.setAttribute('start', 1)
const steps = ['draft', 'review', 'merge'].map((word) => {
  const text = new Y.XmlText()
  text.insert(0, word)
  const li = new Y.XmlElement('listItem')
  li.insert(0, [para([text])])
  return li
})
ordered.insert(0, steps)
c.fragment.insert(c.fragment.length, [ordered])
const code = new Y.XmlElement('codeBlock')
code.setAttribute('language', 'python')
const codeText = new Y.XmlText()
code.insert(0, [codeText])
c.fragment.insert(c.fragment.length, [code])
c.type(codeText, 0, 'print(1)')
const linkText = new Y.XmlText()
c.fragment.insert(c.fragment.length, [para([linkText])])
c.type(linkText, 0, 'see docs')
linkText.format(4, 4, { link: { href: 'https://example.com/docs', target: '_blank', rel: 'noopener noreferrer nofollow', class: null } })
deliverAll(a, b, c)

// A hard break, a quote, deletions: characters, a whole block, a mark removed; concurrent with Ada's edits.
const before = new Y.XmlText()
before.insert(0, 'line one')
const after = new Y.XmlText()
after.insert(0, 'line two')
b.fragment.insert(b.fragment.length, [para([before, new Y.XmlElement('hardBreak'), after])])
const quote = new Y.XmlElement('blockquote')
const quoteText = new Y.XmlText()
quote.insert(0, [para([quoteText])])
b.fragment.insert(b.fragment.length, [quote])
b.type(quoteText, 0, 'quoted café ☕ 中文 😀!')
a.fragment.get(1).get(0).delete(0, 3)
a.fragment.get(1).get(0).format(0, 4, { bold: null })
c.fragment.get(2).get(0).get(0).get(0).insert(5, ' first', { bold: {} })
deliverAll(a, b, c)
c.fragment.delete(c.fragment.length - 4, 1)
headingText.delete(0, 5)
a.type(headingText, 0, 'Release plan')
heading.setAttribute('level', 2)
deliverAll(a, b, c)
c.leave()
deliverAll(a, b)
a.type(intro, 0, 'Ok. ')
deliverAll(a, b)

for (const client of [a, b, c]) client.awareness.destroy()
const version = (name) => JSON.parse(readFileSync(resolve(modules, name, 'package.json'), 'utf8')).version
const header = [
  `# Recorded by tests/fuzz/record_session.mjs with yjs ${version('yjs')} and y-protocols ${version('y-protocols')}.`,
  '# Every y-websocket message three Tiptap clients (A, B, C) send while editing one document; "<client> <hex>".'
]
process.stdout.write(header.concat(lines).join('\n') + '\n')
