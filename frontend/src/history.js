// History panel hook point. A later change fills this in (version list, restore, …).
// main.js calls it once the editor is set up; for now it renders nothing.

/**
 * @param {HTMLElement} _container  the #history-panel element (empty, hidden)
 * @param {{editor: any, ydoc: any, provider: any, api: any, documentId: string, role: string}} _context
 * @returns {{destroy: () => void}}
 */
export function renderHistoryPanel(_container, _context) {
  return { destroy() {} }
}

export default renderHistoryPanel
