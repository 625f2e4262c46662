// Word and character count in the page's corner ("123 words · 456 characters", or "12 of 123 words · …" while
// text is selected), as Google Docs users know it.
//
// Counted from the editor state rather than with CharacterCount from @tiptap/extensions, because the editor's
// extension list is fixed where the editor is built; the definitions are close to CharacterCount's: characters
// are the text's characters (spaces included, block breaks not), a word is a run of letters or digits (with
// inner apostrophes, hyphens or dots, so "don't", "e-mail", "3.14" are one) and each CJK ideograph or kana is one.
// Remote edits arrive as transactions too, so the count is refreshed at most once per animation frame, and the
// totals of top-level blocks are cached by node: ProseMirror keeps unchanged nodes, so a keystroke recounts only
// the block it changed.

import { h } from './dom.js'

const WORD = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[\p{L}\p{M}\p{N}]+(?:['’.\-][\p{L}\p{M}\p{N}]+)*/gu
const HIGH_SURROGATE = /[\uD800-\uDBFF]/g

/** Characters as a reader counts them: an emoji or other astral character is one, not two UTF-16 units. */
function charLength(text) {
  const astral = text.match(HIGH_SURROGATE)
  return text.length - (astral ? astral.length : 0)
}

export function countWords(text) {
  const words = text.match(WORD)
  return words ? words.length : 0
}

/**
 * Words and characters of `node`'s content between `from` and `to` (positions inside the node).
 * @param {import('@tiptap/pm/model').Node} node
 */
export function countRange(node, from = 0, to = node.content.size) {
  // Blocks and line breaks separate words; leaf nodes such as images add nothing.
  const words = countWords(node.textBetween(from, to, '\n', (leaf) => (leaf.type.name === 'hardBreak' ? '\n' : ' ')))
  let characters = 0
  node.nodesBetween(from, to, (child, pos) => {
    if (!child.isText) return true
    const start = Math.max(from, pos) - pos
    const end = Math.min(to, pos + child.nodeSize) - pos
    characters += charLength(child.text.slice(start, end))
    return false
  })
  return { words, characters }
}

const blockCache = new WeakMap()

/** The document's totals, from per-block counts kept for as long as a block is unchanged. */
export function countDoc(doc) {
  let words = 0
  let characters = 0
  doc.forEach((block) => {
    let counts = blockCache.get(block)
    if (!counts) {
      counts = block.isLeaf ? { words: 0, characters: 0 } : countRange(block)
      blockCache.set(block, counts)
    }
    words += counts.words
    characters += counts.characters
  })
  return { words, characters }
}

const NUMBER = new Intl.NumberFormat('en-US')
const plural = (n, one, many) => (n === 1 ? one : many)

/**
 * The label: totals, or "part of total" while text is selected.
 * @param {{words: number, characters: number}} total
 * @param {{words: number, characters: number} | null} [selected]
 */
export function formatCount(total, selected = null) {
  const part = (key, one, many) => {
    const word = plural(total[key], one, many)
    return selected
      ? `${NUMBER.format(selected[key])} of ${NUMBER.format(total[key])} ${word}`
      : `${NUMBER.format(total[key])} ${word}`
  }
  return `${part('words', 'word', 'words')} · ${part('characters', 'character', 'characters')}`
}

/** Counts for an editor state: {total, selected}; `selected` is null when the selection is empty. */
export function countState(state) {
  const total = countDoc(state.doc)
  const { from, to, empty } = state.selection
  return { total, selected: empty ? null : countRange(state.doc, from, to) }
}

const defaultSchedule = (fn) =>
  typeof requestAnimationFrame === 'function' ? requestAnimationFrame(fn) : setTimeout(fn, 16)
const defaultCancel = (id) => (typeof cancelAnimationFrame === 'function' ? cancelAnimationFrame(id) : clearTimeout(id))

/**
 * Renders #word-count into `container` and keeps it current.
 * Not a live region: a screen reader announcing the count on every keystroke would drown out the typing.
 *
 * @returns {{element: HTMLElement, update: () => void, destroy: () => void}}
 */
export function createWordCount(container, editor, { schedule = defaultSchedule, cancel = defaultCancel } = {}) {
  const element = h('p', { id: 'word-count', className: 'word-count' })
  container.appendChild(element)
  let pending = null
  let last = ''

  function update() {
    pending = null
    if (editor.isDestroyed) return
    const { total, selected } = countState(editor.state)
    const label = formatCount(total, selected)
    if (label === last) return
    last = label
    element.textContent = label
    element.dataset.words = String(total.words)
    element.dataset.characters = String(total.characters)
    element.classList.toggle('word-count--selection', !!selected)
  }

  const onTransaction = () => {
    if (pending === null) pending = schedule(update)
  }
  editor.on('transaction', onTransaction)
  update()

  return {
    element,
    update,
    destroy() {
      editor.off('transaction', onTransaction)
      if (pending !== null) cancel(pending)
      pending = null
      element.remove()
    },
  }
}
