// Every icon the editor shows, by name: stroked 24×24 SVGs and the toolbar's text glyphs.
// `icon(name)` builds a fresh node each call, because a DOM node can only sit in one place.

import { h, svg } from './dom.js'

const line = (x1, y1, x2, y2, extra = {}) => svg('line', { x1, y1, x2, y2, ...extra })
const poly = (points) => svg('polyline', { points })
const path = (d, extra = {}) => svg('path', { d, ...extra })
const dot = (cx, cy) => svg('circle', { cx, cy, r: 1, fill: 'currentColor' })

/** A decorative (aria-hidden) stroked icon; `size` is its width and height in CSS pixels. */
const stroked = (size, parts) => () =>
  svg(
    'svg',
    {
      viewBox: '0 0 24 24',
      width: size,
      height: size,
      'aria-hidden': 'true',
      focusable: 'false',
      fill: 'none',
      stroke: 'currentColor',
      'stroke-width': 2,
      'stroke-linecap': 'round',
      'stroke-linejoin': 'round',
    },
    parts(),
  )

/** Four lines of text aligned one way: `starts` and `ends` are the x coordinates of each line's ends. */
const aligned = (starts, ends) => stroked(18, () => [6, 10, 14, 18].map((y, i) => line(starts[i], y, ends[i], y)))

/** A 3×3 table outline (the table icons' base), with `extra` parts drawn over it. */
const grid = (extra = () => []) =>
  stroked(18, () => [svg('rect', { x: 3, y: 4, width: 18, height: 16, rx: 2 }), line(3, 9.5, 21, 9.5), line(9, 4, 9, 20), line(15, 4, 15, 20), ...extra()])

/** A text glyph (H1, B, I, S) styled by `toolbar__glyph--<modifier>`. */
const glyph = (text, modifier) => () =>
  h('span', { className: `toolbar__glyph toolbar__glyph--${modifier}`, 'aria-hidden': 'true', text })

const ICONS = {
  // header and panels
  home: stroked(22, () => [
    path('M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z'),
    poly('14 3 14 8 19 8'),
    line(9, 13, 15, 13),
    line(9, 17, 13, 17),
  ]),
  share: stroked(16, () => [svg('rect', { x: 5, y: 11, width: 14, height: 10, rx: 2 }), path('M8 11V7a4 4 0 0 1 8 0v4')]),
  image: stroked(18, () => [
    svg('rect', { x: 3, y: 4, width: 18, height: 16, rx: 2 }),
    svg('circle', { cx: 9, cy: 10, r: 2 }),
    poly('21 16 16 11 7 20'),
  ]),
  history: stroked(16, () => [path('M3 12a9 9 0 1 0 3-6.7L3 8'), poly('3 3 3 8 8 8'), poly('12 7 12 12 15.5 14')]),
  close: stroked(18, () => [line(6, 6, 18, 18), line(18, 6, 6, 18)]),
  refresh: stroked(18, () => [path('M21 12a9 9 0 1 1-2.64-6.36L21 8'), poly('21 3 21 8 16 8')]),
  back: stroked(16, () => [poly('15 18 9 12 15 6')]),

  // formatting toolbar
  heading1: glyph('H1', 'heading'),
  heading2: glyph('H2', 'heading'),
  heading3: glyph('H3', 'heading'),
  bold: glyph('B', 'bold'),
  italic: glyph('I', 'italic'),
  strike: glyph('S', 'strike'),
  underline: glyph('U', 'underline'),
  highlight: stroked(18, () => [path('m9 11-5 5v3h3l5-5'), path('m15 5 4 4-6.5 6.5-4-4z'), line(13, 20, 21, 20)]),
  code: stroked(18, () => [poly('9 8 5 12 9 16'), poly('15 8 19 12 15 16')]),
  link: stroked(18, () => [
    path('M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1'),
    path('M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1'),
  ]),
  bulletList: stroked(18, () => [line(9, 6, 20, 6), line(9, 12, 20, 12), line(9, 18, 20, 18), dot(4.5, 6), dot(4.5, 12), dot(4.5, 18)]),
  orderedList: stroked(18, () => [
    line(10, 6, 20, 6),
    line(10, 12, 20, 12),
    line(10, 18, 20, 18),
    path('M4 5h1.5v4', { 'stroke-width': 1.6 }),
    path('M3.8 14.2c.3-.6 1-.9 1.6-.7.8.3.9 1.2.3 1.8L3.8 17.5h2.4', { 'stroke-width': 1.6 }),
  ]),
  taskList: stroked(18, () => [
    svg('rect', { x: 3, y: 4, width: 6, height: 6, rx: 1 }),
    poly('4.5 7 5.8 8.3 7.8 5.8'),
    svg('rect', { x: 3, y: 14, width: 6, height: 6, rx: 1 }),
    line(12, 7, 21, 7),
    line(12, 17, 21, 17),
  ]),
  blockquote: stroked(18, () => [path('M7 7h4v5H8l-1 4'), path('M14 7h4v5h-3l-1 4')]),
  codeBlock: stroked(18, () => [
    svg('rect', { x: 3, y: 4, width: 18, height: 16, rx: 2 }),
    poly('9.5 10 7.5 12 9.5 14'),
    poly('14.5 10 16.5 12 14.5 14'),
  ]),
  horizontalRule: stroked(18, () => [line(4, 12, 20, 12)]),
  'align-left': aligned([4, 4, 4, 4], [20, 14, 18, 12]),
  'align-center': aligned([4, 7, 5, 8], [20, 17, 19, 16]),
  'align-right': aligned([4, 10, 6, 12], [20, 20, 20, 20]),
  'align-justify': aligned([4, 4, 4, 4], [20, 20, 20, 14]),
  table: grid(),
  addRowAfter: stroked(18, () => [svg('rect', { x: 3, y: 3, width: 18, height: 9, rx: 2 }), line(12, 15, 12, 21), line(9, 18, 15, 18)]),
  deleteRow: stroked(18, () => [svg('rect', { x: 3, y: 3, width: 18, height: 9, rx: 2 }), line(9.5, 15.5, 14.5, 20.5), line(14.5, 15.5, 9.5, 20.5)]),
  addColumnAfter: stroked(18, () => [svg('rect', { x: 3, y: 3, width: 9, height: 18, rx: 2 }), line(15, 12, 21, 12), line(18, 9, 18, 15)]),
  deleteColumn: stroked(18, () => [svg('rect', { x: 3, y: 3, width: 9, height: 18, rx: 2 }), line(15.5, 9.5, 20.5, 14.5), line(20.5, 9.5, 15.5, 14.5)]),
  toggleHeaderRow: grid(() => [svg('rect', { x: 3, y: 4, width: 18, height: 5.5, rx: 2, fill: 'currentColor', stroke: 'none' })]),
  deleteTable: grid(() => [line(6, 7, 18, 17, { stroke: 'var(--danger, #b42318)' }), line(18, 7, 6, 17, { stroke: 'var(--danger, #b42318)' })]),
  undo: stroked(18, () => [path('M9 14 4 9l5-5'), path('M4 9h10.5a5.5 5.5 0 0 1 0 11H11')]),
  redo: stroked(18, () => [path('m15 14 5-5-5-5'), path('M20 9H9.5a5.5 5.5 0 0 0 0 11H13')]),
}

export const ICON_NAMES = Object.keys(ICONS)

/** A new node for the icon `name`; an unknown name is a programming error, so it throws. */
export function icon(name) {
  const make = ICONS[name]
  if (!make) throw new Error(`unknown icon: ${name}`)
  return make()
}
