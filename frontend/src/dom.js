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
