// A tiny element builder shared by the panels (share dialog, history panel).

/**
 * Create an element with properties, attributes and children.
 * Keys: `className`, `text` (textContent), `html` (innerHTML, for already-sanitised markup), `dataset`;
 * other non-string values are set as properties, strings as attributes; null/undefined/false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'className') node.className = value
    else if (key === 'text') node.textContent = value
    else if (key === 'html') node.innerHTML = value
    else if (key === 'dataset') Object.assign(node.dataset, value)
    else if (key in node && typeof value !== 'string') node[key] = value
    else node.setAttribute(key, value === true ? '' : value)
  }
  for (const child of children) if (child) node.append(child)
  return node
}

/**
 * An error line (role=alert, hidden when empty) and a polite notice line, with their setters.
 * Showing an error clears the notice, so the two never contradict each other.
 */
export function messageArea(idPrefix, classPrefix) {
  const errorBox = el('p', { id: `${idPrefix}-error`, className: `${classPrefix}__error`, role: 'alert' })
  errorBox.hidden = true
  const notice = el('p', { id: `${idPrefix}-notice`, className: `${classPrefix}__notice`, role: 'status', 'aria-live': 'polite' })
  return {
    errorBox,
    notice,
    showError(message) {
      errorBox.textContent = message || ''
      errorBox.hidden = !message
      if (message) notice.textContent = ''
    },
    showNotice(message) {
      notice.textContent = message || ''
    },
  }
}
