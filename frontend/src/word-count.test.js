import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { countDoc, countWords, createWordCount, formatCount } from './word-count.js'

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function setup(content) {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  const footer = document.createElement('div')
  document.body.append(host, footer)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' } })
  editor.commands.setContent(content)
  const frames = []
  const count = createWordCount(footer, editor, { schedule: (fn) => frames.push(fn), cancel: () => {} })
  const flush = () => frames.splice(0).forEach((fn) => fn())
  cleanup.push(() => {
    count.destroy()
    editor.destroy()
    provider.awareness.destroy()
  })
  return { editor, count, footer, frames, flush }
}

describe('countWords', () => {
  it.each([
    ['', 0],
    ['   ', 0],
    ['Hello world', 2],
    ["don't e-mail me at 3.14 — ok?", 6],
    ['one,two;three', 3],
    ['漢字かな', 4],
    ['naïve café', 2],
  ])('%j has %i words', (text, n) => {
    expect(countWords(text)).toBe(n)
  })
})

describe('formatCount', () => {
  it('labels totals and selections, singular and plural, with thousands separators', () => {
    expect(formatCount({ words: 123, characters: 4567 })).toBe('123 words · 4,567 characters')
    expect(formatCount({ words: 1, characters: 1 })).toBe('1 word · 1 character')
    expect(formatCount({ words: 123, characters: 456 }, { words: 12, characters: 60 })).toBe('12 of 123 words · 60 of 456 characters')
  })
})

describe('word count', () => {
  it('counts words across blocks without joining them, and characters without block breaks', () => {
    const { footer } = setup('<h1>Title</h1><p>Hello <strong>big</strong> world</p><ul><li><p>one</p></li><li><p>two</p></li></ul><p>a<br>b</p>')
    const el = footer.querySelector('#word-count')
    expect(el.textContent).toBe('8 words · 28 characters')
    expect(el.dataset.words).toBe('8')
    expect(el.getAttribute('role')).toBeNull()
  })

  it('counts an emoji as one character', () => {
    const { editor } = setup('<p>hi 👋</p>')
    expect(countDoc(editor.state.doc)).toEqual({ words: 1, characters: 4 })
  })

  it('updates once per frame however many transactions came, and shows the selection', () => {
    const { editor, footer, frames, flush } = setup('<p>one two three</p>')
    const el = footer.querySelector('#word-count')
    editor.commands.insertContentAt(editor.state.doc.content.size - 1, ' four')
    editor.commands.insertContentAt(editor.state.doc.content.size - 1, ' five')
    expect(frames).toHaveLength(1)
    expect(el.textContent).toBe('3 words · 13 characters')
    flush()
    expect(el.textContent).toBe('5 words · 23 characters')
    editor.commands.setTextSelection({ from: 1, to: 8 })
    flush()
    expect(el.textContent).toBe('2 of 5 words · 7 of 23 characters')
    expect(el.classList.contains('word-count--selection')).toBe(true)
  })

  it('stops listening on destroy', () => {
    const { editor, count, footer, frames } = setup('<p>x</p>')
    count.destroy()
    editor.commands.insertContent('more')
    expect(frames).toHaveLength(0)
    expect(footer.querySelector('#word-count')).toBeNull()
  })
})
