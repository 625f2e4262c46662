// The toolbar's commands for the documents people write: tables, task lists, highlight, underline, alignment.
import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { createToolbar } from './toolbar.js'

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function setup({ editable = true, content } = {}) {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  const bar = document.createElement('div')
  document.body.append(bar, host)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' }, editable })
  if (content) editor.commands.setContent(content)
  const toolbar = createToolbar(bar, editor, { readOnly: !editable })
  cleanup.push(() => {
    toolbar.destroy()
    editor.destroy()
    provider.awareness.destroy()
  })
  const button = (label) => bar.querySelector(`button[aria-label="${label}"]`)
  const shared = () => ydoc.getXmlFragment('default').toString()
  return { ydoc, editor, host, bar, button, shared }
}

const TABLE_COMMANDS = ['Add row below', 'Delete row', 'Add column right', 'Delete column', 'Toggle header row', 'Delete table']

/** The table as rows of cell type names (th / td), as the user sees it. */
const grid = (host) => [...host.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => c.tagName.toLowerCase()))

describe('toolbar: tables', () => {
  it('inserts a 3×3 table with a header row, and shows the table commands only inside a table', () => {
    const { editor, host, button, shared } = setup({ content: '<p>Intro</p>' })
    for (const label of TABLE_COMMANDS) expect(button(label).hidden).toBe(true)
    editor.commands.setTextSelection(6) // the end of the paragraph: the table goes after it
    button('Insert table').click()
    expect(grid(host)).toEqual([['th', 'th', 'th'], ['td', 'td', 'td'], ['td', 'td', 'td']])
    expect(shared()).toMatch(/^<paragraph>Intro<\/paragraph><table><tablerow><tableheader colspan="1" rowspan="1">/)
    expect(editor.isActive('table')).toBe(true)
    for (const label of TABLE_COMMANDS) {
      expect(button(label).hidden).toBe(false)
      expect(button(label).disabled).toBe(false)
    }
    editor.commands.setTextSelection(2) // back in the paragraph before the table
    for (const label of TABLE_COMMANDS) expect(button(label).hidden).toBe(true)
  })

  it('adds and removes rows and columns, toggles the header row and deletes the table', () => {
    const { editor, host, button, shared } = setup({ content: '<p>Intro</p>' })
    editor.commands.setTextSelection(6)
    button('Insert table').click() // the selection is now in the first header cell
    button('Toggle header row').click()
    expect(grid(host)[0]).toEqual(['td', 'td', 'td'])
    button('Toggle header row').click()
    expect(grid(host)[0]).toEqual(['th', 'th', 'th'])
    button('Add row below').click()
    expect(grid(host)).toEqual([['th', 'th', 'th'], ['td', 'td', 'td'], ['td', 'td', 'td'], ['td', 'td', 'td']])
    button('Delete row').click() // the selected row: the header
    expect(grid(host)).toEqual([['td', 'td', 'td'], ['td', 'td', 'td'], ['td', 'td', 'td']])
    button('Add column right').click()
    expect(grid(host).map((r) => r.length)).toEqual([4, 4, 4])
    button('Delete column').click()
    expect(grid(host).map((r) => r.length)).toEqual([3, 3, 3])
    button('Delete table').click()
    expect(host.querySelector('table')).toBeNull()
    expect(shared()).not.toContain('<table')
    expect(button('Delete table').hidden).toBe(true)
  })
})

describe('toolbar: task lists', () => {
  it('toggles a task list; editors tick the box, which is shared', () => {
    const { editor, host, button, shared } = setup({ content: '<p>Buy milk</p>' })
    editor.commands.setTextSelection(2)
    button('Task list').click()
    expect(editor.isActive('taskList')).toBe(true)
    expect(button('Task list').getAttribute('aria-pressed')).toBe('true')
    expect(shared()).toBe('<tasklist><taskitem checked="false"><paragraph>Buy milk</paragraph></taskitem></tasklist>')
    const box = host.querySelector('ul[data-type="taskList"] > li input[type="checkbox"]')
    box.checked = true
    box.dispatchEvent(new Event('change'))
    expect(shared()).toContain('<taskitem checked="true">')
    button('Task list').click()
    expect(editor.isActive('taskList')).toBe(false)
  })

  it('keeps the box as it is when a viewer clicks it', () => {
    const content = '<ul data-type="taskList"><li data-type="taskItem" data-checked="false"><p>Read only</p></li></ul>'
    const { host, shared, editor } = setup({ content })
    editor.setEditable(false) // as a viewer's editor is: the content arrives from the server, not from its user
    const box = host.querySelector('ul[data-type="taskList"] > li input[type="checkbox"]')
    box.checked = true
    box.dispatchEvent(new Event('change'))
    expect(box.checked).toBe(false)
    expect(editor.getJSON().content[0].content[0].attrs.checked).toBe(false)
    expect(shared()).toContain('<taskitem checked="false">')
  })
})

describe('toolbar: underline, highlight, alignment', () => {
  it('toggles underline and highlight on the selection', () => {
    const { editor, button, shared } = setup({ content: '<p>Some text</p>' })
    editor.commands.selectAll()
    button('Underline').click()
    button('Highlight').click()
    expect(editor.isActive('underline')).toBe(true)
    expect(editor.isActive('highlight')).toBe(true)
    expect(button('Underline').getAttribute('aria-pressed')).toBe('true')
    expect(button('Highlight').getAttribute('aria-pressed')).toBe('true')
    expect(shared()).toContain('underline')
    expect(shared()).toContain('highlight')
    button('Highlight').click()
    expect(editor.isActive('highlight')).toBe(false)
  })

  it('aligns paragraphs and headings one way at a time, and a second press removes it', () => {
    const { editor, button, shared } = setup({ content: '<h2>Title</h2><p>Body</p>' })
    editor.commands.setTextSelection(2)
    button('Align center').click()
    expect(editor.getJSON().content[0].attrs).toEqual({ textAlign: 'center', level: 2 })
    expect(button('Align center').getAttribute('aria-pressed')).toBe('true')
    expect(button('Align left').getAttribute('aria-pressed')).toBe('false')
    expect(shared()).toContain('textAlign="center"')
    editor.commands.setTextSelection(editor.state.doc.content.size - 1)
    button('Justify').click()
    button('Align right').click()
    expect(editor.getJSON().content[1].attrs).toEqual({ textAlign: 'right' })
    button('Align right').click()
    expect(editor.getJSON().content[1].attrs).toEqual({ textAlign: null })
  })

  it('viewers see the new buttons disabled', () => {
    const { bar } = setup({ editable: false })
    for (const label of ['Underline', 'Highlight', 'Task list', 'Align center', 'Insert table']) {
      expect(bar.querySelector(`button[aria-label="${label}"]`).disabled).toBe(true)
    }
  })
})
