#!/usr/bin/env node
/**
 * Golden Yjs v1 updates for tests/test_update_reader.py, written and decoded by the real Yjs package.
 *
 *   node yjs_updates.mjs            prints {"cases": [{name, update, structs, deletions}, ...]}: updates made by
 *                                   Yjs for typical edits, each with Yjs's own decoding of it
 *   node yjs_updates.mjs --decode   reads a JSON list of hex updates on stdin and prints Yjs's decoding of each
 *                                   ({structs, deletions}, or {error} when Yjs throws)
 *
 * A decoded struct is {client, clock, length, kind, origin, rightOrigin, parentRoot, parentId, parentSub, typeRef},
 * with IDs as [client, clock] and kind the content ref (0 GC, 10 Skip); a deletion is [client, clock, length].
 */
import * as Y from 'yjs'

const TYPE_REFS = new Map([
  [Y.Array, 0], [Y.Map, 1], [Y.Text, 2], [Y.XmlElement, 3], [Y.XmlFragment, 4], [Y.XmlHook, 5], [Y.XmlText, 6]
])

const hex = bytes => Buffer.from(bytes).toString('hex')
const id = value => (value === null ? null : [value.client, value.clock])

const describe = struct => {
  const base = { client: struct.id.client, clock: struct.id.clock, length: struct.length }
  if (struct instanceof Y.Skip) return { ...base, kind: 10 }
  if (struct instanceof Y.GC) return { ...base, kind: 0 }
  const parent = struct.parent
  return {
    ...base,
    kind: struct.content.getRef(),
    origin: id(struct.origin),
    rightOrigin: id(struct.rightOrigin),
    parentRoot: typeof parent === 'string' ? parent : null,
    parentId: parent instanceof Y.ID ? id(parent) : null,
    parentSub: struct.parentSub,
    typeRef: struct.content instanceof Y.ContentType ? TYPE_REFS.get(struct.content.type.constructor) : null
  }
}

const decode = update => {
  const { structs, ds } = Y.decodeUpdate(update)
  const deletions = []
  for (const [client, items] of ds.clients) {
    for (const item of items) deletions.push([client, item.clock, item.len])
  }
  return { structs: structs.map(describe), deletions }
}

/** Runs `edit` in a transaction of `doc` and returns the update it produced. */
const edit = (doc, change) => {
  let update = null
  const record = u => { update = u }
  doc.on('update', record)
  doc.transact(change)
  doc.off('update', record)
  return update
}

const tiptapParagraph = (text, marks = {}) => {
  const paragraph = new Y.XmlElement('paragraph')
  const xmlText = new Y.XmlText()
  xmlText.insert(0, text, marks)
  paragraph.insert(0, [xmlText])
  return paragraph
}

const cases = []
const add = (name, update) => cases.push({ name, update: hex(update), ...decode(update) })

// A document as Tiptap (y-prosemirror) writes it: XmlElements with attributes, XmlText with marks as formats.
const tiptap = new Y.Doc()
const fragment = tiptap.getXmlFragment('default')
add('tiptap document', edit(tiptap, () => {
  const heading = new Y.XmlElement('heading')
  heading.setAttribute('level', '2')
  heading.insert(0, [new Y.XmlText('Tïtle ✓')])
  const list = new Y.XmlElement('bulletList')
  const item = new Y.XmlElement('listItem')
  item.insert(0, [tiptapParagraph('nested item')])
  list.insert(0, [item])
  fragment.insert(0, [heading, tiptapParagraph('Hello '), list, new Y.XmlHook('custom-hook')])
  const text = fragment.get(1).get(0)
  text.insert(6, 'world', { bold: {}, link: { href: 'https://example.com' } })
}))
const firstText = fragment.get(1).get(0)
add('tiptap keystroke', edit(tiptap, () => firstText.insert(3, 'x')))
add('tiptap new paragraph', edit(tiptap, () => fragment.insert(2, [tiptapParagraph('second paragraph')])))
add('tiptap mark', edit(tiptap, () => firstText.format(0, 4, { italic: {} })))
add('tiptap delete paragraph', edit(tiptap, () => fragment.delete(2, 1)))
add('tiptap full state', Y.encodeStateAsUpdate(tiptap))

// Y.Text with formats, embeds, non-ASCII, astral characters, a split surrogate pair and a lone surrogate.
const textDoc = new Y.Doc()
const text = textDoc.getText('text')
add('text insert', edit(textDoc, () => text.insert(0, 'héllo wörld 😀 𝔘𝔫𝔦 日本語')))
add('text format', edit(textDoc, () => text.format(0, 5, { bold: true, color: '#f00' })))
add('text unformat', edit(textDoc, () => text.format(1, 2, { bold: null })))
add('text embed', edit(textDoc, () => text.insertEmbed(3, { image: 'x.png' })))
add('text split surrogate pair', edit(textDoc, () => text.insert(13, 'x')))
add('text lone surrogate', edit(textDoc, () => text.insert(0, 'a\ud800b')))
add('text long', edit(textDoc, () => text.insert(0, 'long text é😀 '.repeat(2000))))
add('text delete', edit(textDoc, () => text.delete(2, 30)))
add('text full state', Y.encodeStateAsUpdate(textDoc))

// Y.Map and Y.Array with nested types and every kind of Any value.
const mapDoc = new Y.Doc()
const map = mapDoc.getMap('map')
add('map nested', edit(mapDoc, () => {
  const inner = new Y.Map()
  const array = new Y.Array()
  map.set('inner', inner)
  map.set('array', array)
  inner.set('deeper', new Y.Map())
  inner.get('deeper').set('k', 'v')
  array.push([1, -1, -0, 2 ** 31, 2 ** 40, -(2 ** 52), 1.5, 0.1, Number.MAX_VALUE, NaN, true, false, null, { u: undefined }])
  array.push(['str', '', 'ünïcode 😀', { a: { b: [1, [2, { c: null }]] } }, [], {}, { big: 1234567890123456789n }])
  array.push([new Uint8Array([1, 2, 3])])
  array.push([new Y.Array(), new Y.Text('t'), new Y.XmlFragment()])
  map.set('bytes', new Uint8Array([0, 255]))
  map.set('nothing', undefined)
}))
add('map overwrite', edit(mapDoc, () => {
  map.set('inner', 'replaced')
  map.set('bytes', 42)
}))
add('map subdoc', edit(mapDoc, () => map.set('sub', new Y.Doc({ guid: 'sub-guid' }))))
add('array delete', edit(mapDoc, () => map.get('array').delete(2, 5)))
add('map full state', Y.encodeStateAsUpdate(mapDoc))

// After deletions with gc on, the state holds GC structs (children of deleted types) and Deleted items.
const gcDoc = new Y.Doc()
const gcFragment = gcDoc.getXmlFragment('default')
edit(gcDoc, () => gcFragment.insert(0, [tiptapParagraph('one'), tiptapParagraph('two'), tiptapParagraph('three')]))
edit(gcDoc, () => gcFragment.delete(0, 2))
edit(gcDoc, () => gcFragment.get(0).get(0).delete(1, 2))
add('gc full state', Y.encodeStateAsUpdate(gcDoc))

// Merged updates: several clients, and a gap in one client's clocks, which Yjs encodes as a Skip struct.
const alice = new Y.Doc()
const bob = new Y.Doc()
const aliceText = alice.getText('t')
const first = edit(alice, () => aliceText.insert(0, 'first '))
Y.applyUpdate(bob, first)
const second = edit(alice, () => aliceText.insert(6, 'second '))
const third = edit(alice, () => aliceText.insert(13, 'third'))
const fromBob = edit(bob, () => bob.getText('t').insert(0, 'bob '))
add('merged with gap', Y.mergeUpdates([first, third, fromBob]))
add('merged clients', Y.mergeUpdates([first, second, third, fromBob]))

if (process.argv.includes('--decode')) {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const updates = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const results = updates.map(update => {
    try {
      return decode(Buffer.from(update, 'hex'))
    } catch (error) {
      return { error: String(error) }
    }
  })
  process.stdout.write(JSON.stringify(results))
} else {
  process.stdout.write(JSON.stringify({ cases }))
}
