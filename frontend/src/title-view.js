// Live document title, the view: the header's <h1> (a rename button for editors), the inline input and the
// error line, built once; `render(state)` patches them, and the page's own title and heading follow.

import { h } from './dom.js'
import { MAX_TITLE_LENGTH } from './title-state.js'

/**
 * @param {HTMLElement} container
 * @param {{initialTitle: string, canRename: boolean}} options  initialTitle: to find what the page appends to it
 */
export function createTitleView(container, { initialTitle, canRename }) {
  // Keep whatever the page appends to the title (base.html renders "Title · Collab").
  const pageTitle = typeof document !== 'undefined' ? document.title : ''
  const titleSuffix = pageTitle.startsWith(initialTitle) ? pageTitle.slice(initialTitle.length) : ''

  const button = canRename ? h('button', { type: 'button', id: 'doc-title-button', className: 'doc-title__button' }) : null
  const text = canRename ? null : h('span', { className: 'doc-title__text' })
  const heading = h('h1', { id: 'doc-title', className: 'doc-title__heading' }, button || text)
  const input = h('input', {
    type: 'text',
    id: 'doc-title-input',
    className: 'doc-title__input',
    maxLength: MAX_TITLE_LENGTH,
    'aria-label': 'Document title',
    hidden: true,
  })
  const error = h('span', { id: 'doc-title-error', className: 'doc-title__error', role: 'alert', hidden: true })
  const wrap = h('div', { className: 'doc-title' }, [heading, input, error])
  container.appendChild(wrap)

  let shownTitle = null
  function renderTitle(title) {
    if (title === shownTitle) return
    shownTitle = title
    if (button) {
      button.textContent = title
      button.setAttribute('aria-label', `Rename document: ${title}`)
      button.title = 'Rename'
    } else {
      text.textContent = title
    }
    heading.dataset.title = title
    document.title = title + titleSuffix
    // The server-rendered page header (outside the app) shows the title too.
    const pageHeading = document.getElementById('document-title')
    if (pageHeading && !wrap.contains(pageHeading)) pageHeading.textContent = title
  }

  /** @param {import('./title-state.js').TitleState} state */
  function render(state) {
    renderTitle(state.title)
    input.hidden = !state.editing
    heading.hidden = state.editing
    error.textContent = state.error
    error.hidden = !state.error
    if (state.saving) wrap.dataset.saving = 'true'
    else delete wrap.dataset.saving
  }

  return {
    element: wrap,
    elements: { button, input },
    render,
    /** Opens the input on `title`, selected, so typing replaces it. */
    beginEdit(title) {
      input.value = title
      input.focus()
      input.select()
    },
    inputValue: () => input.value,
    focusButton() {
      if (button) button.focus()
    },
    destroy: () => wrap.remove(),
  }
}
