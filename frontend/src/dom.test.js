import { describe, it, expect } from 'vitest'
import { h, svg, messageArea } from './dom.js'
import { icon, ICON_NAMES } from './icons.js'

describe('h / svg', () => {
  it('sets classes, text, data, styles, properties and attributes, and skips empty values', () => {
    const node = h('input', { className: 'a b', dataset: { userName: 'x' }, style: { color: 'red' }, required: true, maxlength: 5, hidden: false, title: undefined, 'aria-label': 'L' })
    expect(node.className).toBe('a b')
    expect(node.dataset.userName).toBe('x')
    expect(node.style.color).toBe('red')
    expect(node.required).toBe(true)
    expect(node.getAttribute('maxlength')).toBe('5')
    expect(node.hasAttribute('hidden')).toBe(false)
    expect(node.hasAttribute('title')).toBe(false)
    expect(node.getAttribute('aria-label')).toBe('L')
  })

  it('appends nodes, strings and nested arrays of them, skipping null and false', () => {
    const node = h('p', { text: 'Hi ' }, ['a', null, [h('b', { text: 'b' }), false, ['c']]])
    expect(node.innerHTML).toBe('Hi a<b>b</b>c')
  })

  it('builds SVG in the SVG namespace', () => {
    const node = svg('svg', { viewBox: '0 0 24 24', width: 18 }, svg('line', { x1: 1 }))
    expect(node.namespaceURI).toBe('http://www.w3.org/2000/svg')
    expect(node.firstChild.namespaceURI).toBe('http://www.w3.org/2000/svg')
    expect(node.getAttribute('width')).toBe('18')
  })

  it('renders the error and notice lines from state', () => {
    const area = messageArea('x', 'x-panel')
    area.render({ error: 'Bad', notice: '' })
    expect(area.errorBox).toMatchObject({ id: 'x-error', hidden: false, textContent: 'Bad' })
    area.render({ error: '', notice: 'Done' })
    expect(area.errorBox.hidden).toBe(true)
    expect(area.notice.textContent).toBe('Done')
    expect(area.notice.getAttribute('aria-live')).toBe('polite')
  })
})

describe('icons', () => {
  it('builds a fresh, decorative node for every icon', () => {
    for (const name of ICON_NAMES) {
      const a = icon(name)
      expect(a.getAttribute('aria-hidden')).toBe('true')
      expect(icon(name)).not.toBe(a)
    }
    expect(icon('close').querySelectorAll('line')).toHaveLength(2)
    expect(icon('bold').outerHTML).toBe('<span class="toolbar__glyph toolbar__glyph--bold" aria-hidden="true">B</span>')
    expect(() => icon('nope')).toThrow(/unknown icon/)
  })
})
