import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { createEditor } from './editor.js'
import { createLinkPopover, getLinkPopover, isOpenableHref, normalizeLinkUrl, openLinkPopover, URL_ERROR } from './link-popover.js'

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

function setup({ editable = true, content = '<p>Read the docs here</p>' } = {}) {
  const ydoc = new Y.Doc()
  const provider = { awareness: new Awareness(ydoc) }
  const host = document.createElement('div')
  document.body.append(host)
  const editor = createEditor({ element: host, ydoc, provider, user: { name: 'alice', color: '#2563eb' }, editable: true })
  editor.commands.setContent(content)
  if (!editable) editor.setEditable(false)
  const popover = createLinkPopover(editor)
  cleanup.push(() => {
    popover.destroy()
    editor.destroy()
    provider.awareness.destroy()
  })
  const el = () => document.getElementById('link-popover')
  return { ydoc, editor, popover, host, el }
}

const press = (target, key, init = {}) =>
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init }))

describe('normalizeLinkUrl', () => {
  it.each([
    ['example.com', 'https://example.com'],
    ['  example.com/a?b=1#c ', 'https://example.com/a?b=1#c'],
    ['localhost:8000/x', 'https://localhost:8000/x'],
    ['http://example.com', 'http://example.com'],
    ['HTTPS://Example.com/Path', 'HTTPS://Example.com/Path'],
    ['mailto:ann@example.com', 'mailto:ann@example.com'],
    ['ann@example.com', 'mailto:ann@example.com'],
  ])('accepts %s as %s', (input, href) => {
    expect(normalizeLinkUrl(input)).toEqual({ ok: true, href })
  })

  it.each(['', '   ', 'javascript:alert(1)', 'data:text/html,x', 'ftp://example.com', 'foo', 'https://', 'mailto:',
    '/relative', '#top', 'exa mple.com', 'vbscript:x'])('refuses %j', (input) => {
    const result = normalizeLinkUrl(input)
    expect(result.ok).toBe(false)
    expect(result.error).toBeTruthy()
  })

  it('says what is allowed', () => {
    expect(normalizeLinkUrl('javascript:alert(1)').error).toBe(URL_ERROR)
  })

  it('only opens http, https and mailto targets', () => {
    expect(isOpenableHref('https://example.com')).toBe(true)
    expect(isOpenableHref('mailto:a@b.c')).toBe(true)
    expect(isOpenableHref('javascript:alert(1)')).toBe(false)
    expect(isOpenableHref('')).toBe(false)
  })
})

describe('link popover', () => {
  it('opens from openLinkPopover with the caret in the URL field and applies a link to the selection', () => {
    const { editor, el, ydoc, popover } = setup()
    editor.commands.setTextSelection({ from: 10, to: 14 }) // "docs"
    expect(openLinkPopover(editor)).toBe(true)
    expect(getLinkPopover(editor)).toBe(popover)
    const input = el().querySelector('input')
    expect(document.activeElement).toBe(input)
    expect(el().querySelector('.link-popover__remove').hidden).toBe(true)
    expect(editor.view.dom.querySelector('.link-popover-target').textContent).toBe('docs')
    input.value = 'example.com/docs'
    el().querySelector('form').requestSubmit()
    expect(editor.getAttributes('link').href).toBe('https://example.com/docs')
    expect(ydoc.getXmlFragment('default').toString()).toContain('https://example.com/docs')
    expect(document.getElementById('link-popover')).toBeNull()
    expect(editor.view.hasFocus() || document.activeElement === editor.view.dom).toBe(true)
  })

  it('shows an error and keeps the form open for a URL it refuses', () => {
    const { editor, el } = setup()
    editor.commands.setTextSelection({ from: 10, to: 14 })
    openLinkPopover(editor)
    el().querySelector('input').value = 'javascript:alert(1)'
    el().querySelector('form').requestSubmit()
    expect(editor.isActive('link')).toBe(false)
    expect(el().querySelector('[role="alert"]').hidden).toBe(false)
    expect(el().querySelector('input').getAttribute('aria-invalid')).toBe('true')
  })

  it('inserts the address as the link text when nothing is selected', () => {
    const { editor, el } = setup({ content: '<p>See </p>' })
    editor.commands.setTextSelection(5)
    openLinkPopover(editor)
    el().querySelector('input').value = 'example.org'
    el().querySelector('.link-popover__apply').click()
    expect(editor.getHTML()).toContain('<a target="_blank" rel="noopener noreferrer nofollow" href="https://example.org">example.org</a>')
  })

  it('edits, opens and removes an existing link', () => {
    const { editor, el } = setup({ content: '<p>Read <a href="https://old.example">the docs</a> now</p>' })
    editor.commands.setTextSelection(8)
    openLinkPopover(editor)
    const input = el().querySelector('input')
    expect(input.value).toBe('https://old.example')
    const open = el().querySelector('a.link-popover__open')
    expect(open.hidden).toBe(false)
    expect(open.getAttribute('href')).toBe('https://old.example')
    expect(open.target).toBe('_blank')
    expect(open.rel).toBe('noopener noreferrer')
    input.value = 'https://new.example'
    el().querySelector('form').requestSubmit()
    expect(editor.getHTML()).toContain('href="https://new.example">the docs</a>')

    editor.commands.setTextSelection(9)
    openLinkPopover(editor)
    el().querySelector('.link-popover__remove').click()
    expect(editor.getHTML()).not.toContain('<a')
    expect(editor.getText()).toBe('Read the docs now')
  })

  it('opens with Ctrl+K / Cmd+K in the editor and closes with Escape, giving focus back to the editor', () => {
    const { editor, el } = setup()
    editor.view.focus()
    editor.commands.setTextSelection({ from: 10, to: 14 })
    press(editor.view.dom, 'k', { metaKey: true })
    expect(el()).not.toBeNull()
    press(el().querySelector('input'), 'Escape')
    expect(el()).toBeNull()
    expect(document.activeElement).toBe(editor.view.dom)
    press(editor.view.dom, 'K', { ctrlKey: true })
    expect(el()).not.toBeNull()
  })

  it('shows only Open to viewers, on the link they click', () => {
    const { editor, el, popover } = setup({ editable: false, content: '<p>Read <a href="https://ex.example">the docs</a></p>' })
    expect(openLinkPopover(editor)).toBe(false)
    const clickAt = (pos) => popover.plugins[1].props.handleClick(editor.view, pos, new MouseEvent('click'))
    clickAt(8)
    expect(el()).not.toBeNull()
    expect(el().dataset.mode).toBe('view')
    expect(el().querySelector('form').hidden).toBe(true)
    expect(el().querySelector('.link-popover__href').textContent).toBe('https://ex.example')
    expect(el().querySelector('a.link-popover__open').getAttribute('href')).toBe('https://ex.example')
    expect(popover.apply()).toBe(false)
    clickAt(2)
    expect(el()).toBeNull()
  })

  it('keeps the collaboration undo history working after it is added to the running editor', () => {
    const { editor, ydoc } = setup({ content: '<p></p>' })
    editor.commands.insertContent('typed')
    expect(ydoc.getXmlFragment('default').toString()).toContain('typed')
    editor.commands.undo()
    expect(ydoc.getXmlFragment('default').toString()).not.toContain('typed')
  })

  it('removes its plugins on destroy', () => {
    const { editor, popover } = setup()
    const before = editor.state.plugins.length
    popover.destroy()
    expect(editor.state.plugins.length).toBe(before - 2)
    expect(openLinkPopover(editor)).toBe(false)
  })
})
