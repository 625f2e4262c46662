// The one way the editor builds DOM: h(tag, attrs, children) for HTML, svg(tag, attrs, children) for icons.
// Views build their skeleton once with these and then patch it from state; nothing sets innerHTML, so no
// markup string is ever parsed except the history preview, which goes through DOMPurify.

const SVG_NS = 'http://www.w3.org/2000/svg'

/** Appends children: nodes, strings (as text), and arrays of them; null/undefined/false are skipped. */
function appendChildren(node, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : String(child))
  }
  return node
}

/**
 * An HTML element. Attribute keys: `className`, `text` (textContent), `dataset` and `style` (objects
 * merged in); other non-string values are set as properties (`hidden`, `disabled`, `required`, ...),
 * strings as attributes; null/undefined/false are skipped.
 */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'className') node.className = value
    else if (key === 'text') node.textContent = value
    else if (key === 'dataset') Object.assign(node.dataset, value)
    else if (key === 'style') Object.assign(node.style, value)
    else if (key in node && typeof value !== 'string') node[key] = value
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  return appendChildren(node, children)
}

/** An SVG element: every key is an attribute (SVG elements have no writable properties worth setting). */
export function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(key, String(value))
  }
  return appendChildren(node, children)
}

/**
 * The panels' error line (role=alert, hidden when empty) and polite notice line. The state decides
 * what they say (showing an error clears the notice in the reducers, so the two never contradict).
 */
export function messageArea(idPrefix, classPrefix) {
  const errorBox = h('p', { id: `${idPrefix}-error`, className: `${classPrefix}__error`, role: 'alert', hidden: true })
  const notice = h('p', { id: `${idPrefix}-notice`, className: `${classPrefix}__notice`, role: 'status', 'aria-live': 'polite' })
  return {
    errorBox,
    notice,
    render({ error, notice: text }) {
      errorBox.textContent = error || ''
      errorBox.hidden = !error
      notice.textContent = text || ''
    },
  }
}

