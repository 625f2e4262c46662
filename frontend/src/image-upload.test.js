import { describe, it, expect, afterEach, vi } from 'vitest'
import * as Y from 'yjs'
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Image from '@tiptap/extension-image'
import Collaboration from '@tiptap/extension-collaboration'
import { ApiError } from './api.js'
import {
  ImageUpload,
  PLACEHOLDER_CLASS,
  altFromName,
  imageFiles,
  insertImages,
  pickImage,
  uploadImage,
} from './image-upload.js'

const UPLOADED = { id: 'i1', url: '/documents/d1/images/i1', width: 4, height: 3, content_type: 'image/png', bytes: 99 }

let cleanup = []
afterEach(() => {
  cleanup.forEach((fn) => fn())
  cleanup = []
  document.body.replaceChildren()
})

const png = (name = 'chart.png') => new File([new Uint8Array([137, 80, 78, 71])], name, { type: 'image/png' })

/** An upload that ends when the test says so. */
function pendingUpload() {
  const calls = []
  const upload = vi.fn((documentId, file, options) => new Promise((resolve, reject) => calls.push({ documentId, file, options, resolve, reject })))
  return { upload, calls }
}

function setup({ upload, ydoc, content = '<p>Hello world</p>' } = {}) {
  const element = document.createElement('div')
  document.body.append(element)
  const errors = []
  const extensions = [
    StarterKit.configure(ydoc ? { undoRedo: false } : {}),
    Image,
    ImageUpload.configure({ documentId: 'd1', upload, onError: (message) => errors.push(message) }),
    ...(ydoc ? [Collaboration.configure({ document: ydoc, field: 'default' })] : []),
  ]
  const editor = new Editor({ element, extensions, ...(ydoc ? {} : { content }) })
  cleanup.push(() => editor.destroy())
  return { editor, errors }
}

const plugin = (editor) => editor.view.state.plugins.find((p) => p.props.handlePaste && p.spec.key && p.spec.key.key.startsWith('imageUpload'))
const placeholders = (editor) => [...editor.view.dom.querySelectorAll(`.${PLACEHOLDER_CLASS}`)]
const images = (editor) => editor.getJSON().content.filter((node) => node.type === 'image')
const flush = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('uploadImage', () => {
  it('posts the file as multipart with the page CSRF token and answers the JSON', async () => {
    const holder = document.createElement('div')
    holder.dataset.csrfToken = 'tok123'
    document.body.append(holder)
    const fetch = vi.fn(async () => new Response(JSON.stringify(UPLOADED), { status: 201 }))
    const result = await uploadImage('d1', png(), { fetch, alt: 'A chart' })
    expect(result).toEqual(UPLOADED)
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/documents/d1/images/')
    expect(init.method).toBe('POST')
    expect(init.credentials).toBe('same-origin')
    expect(init.headers['X-CSRFToken']).toBe('tok123')
    expect(init.body.get('file').name).toBe('chart.png')
    expect(init.body.get('alt')).toBe('A chart')
  })

  it('throws the server message with its status', async () => {
    const detail = 'SVG images are not accepted: they can carry scripts. Send PNG, JPEG, GIF, WebP.'
    const fetch = async () => new Response(JSON.stringify({ detail }), { status: 415 })
    const error = await uploadImage('d1', png(), { fetch, csrfToken: 't' }).catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.status).toBe(415)
    expect(error.message).toBe(detail)
  })

  it('explains a 413 without a JSON body (a proxy) and a network failure', async () => {
    const proxy = async () => new Response('<html>413</html>', { status: 413 })
    expect((await uploadImage('d1', png(), { fetch: proxy }).catch((e) => e)).message).toBe('The image is too large.')
    const offline = async () => {
      throw new TypeError('Failed to fetch')
    }
    const error = await uploadImage('d1', png(), { fetch: offline }).catch((e) => e)
    expect(error.status).toBe(0)
    expect(error.message).toMatch(/Network error/)
  })
})

describe('helpers', () => {
  it('keeps only image files and derives alt texts from names', () => {
    const text = new File(['x'], 'notes.txt', { type: 'text/plain' })
    expect(imageFiles([text, png()]).map((f) => f.name)).toEqual(['chart.png'])
    expect(altFromName('Quarterly chart.final.png')).toBe('Quarterly chart.final')
    expect(altFromName('image.png')).toBe('')
  })
})

describe('ImageUpload', () => {
  it('uploads a pasted image with a placeholder, then inserts it where the placeholder was', async () => {
    const { upload, calls } = pendingUpload()
    const { editor } = setup({ upload })
    editor.commands.setTextSelection(6) // after "Hello"
    const event = { clipboardData: { files: [png()] }, preventDefault: vi.fn() }
    expect(plugin(editor).props.handlePaste(editor.view, event)).toBe(true)
    expect(event.preventDefault).toHaveBeenCalled()
    expect(calls[0].documentId).toBe('d1')
    expect(placeholders(editor).map((el) => el.textContent)).toEqual(['Uploading chart…'])
    editor.commands.insertContentAt(1, 'Oh, ') // an edit before it moves it
    calls[0].resolve(UPLOADED)
    await flush()
    expect(placeholders(editor)).toEqual([])
    expect(images(editor)).toEqual([expect.objectContaining({ attrs: expect.objectContaining({ src: UPLOADED.url, alt: 'chart' }) })])
    expect(editor.getText()).toMatch(/^Oh, Hello/)
  })

  it('shows a refused upload through onError and leaves the document as it was', async () => {
    const { upload, calls } = pendingUpload()
    const { editor, errors } = setup({ upload })
    const before = editor.getJSON()
    plugin(editor).props.handlePaste(editor.view, { clipboardData: { files: [png()] }, preventDefault() {} })
    calls[0].reject(new ApiError('The image is larger than the 10485760-byte limit (COLLAB_IMAGE_MAX_BYTES).', 413, null))
    await flush()
    expect(errors).toEqual(['The image is larger than the 10485760-byte limit (COLLAB_IMAGE_MAX_BYTES).'])
    expect(placeholders(editor)).toEqual([])
    expect(editor.getJSON()).toEqual(before)
  })

  it('leaves pastes and drops without image files to the editor', () => {
    const { upload } = pendingUpload()
    const { editor } = setup({ upload })
    const text = new File(['x'], 'a.txt', { type: 'text/plain' })
    expect(plugin(editor).props.handlePaste(editor.view, { clipboardData: { files: [text] } })).toBe(false)
    expect(plugin(editor).props.handleDrop(editor.view, { dataTransfer: { files: [] } }, null, false)).toBe(false)
    expect(plugin(editor).props.handleDrop(editor.view, { dataTransfer: { files: [png()] } }, null, true)).toBe(false)
    expect(upload).not.toHaveBeenCalled()
  })

  it('uploads dropped images', async () => {
    const { upload, calls } = pendingUpload()
    const { editor } = setup({ upload })
    const event = { dataTransfer: { files: [png('a.png'), png('b.png')] }, clientX: 0, clientY: 0, preventDefault: vi.fn() }
    expect(plugin(editor).props.handleDrop(editor.view, event, null, false)).toBe(true)
    expect(placeholders(editor)).toHaveLength(2)
    calls.forEach((call, index) => call.resolve({ ...UPLOADED, url: `/documents/d1/images/${index}` }))
    await flush()
    expect(images(editor).map((node) => node.attrs.src).sort()).toEqual(['/documents/d1/images/0', '/documents/d1/images/1'])
  })

  it('keeps its place through a collaborator\'s change (which replaces the whole document)', async () => {
    const ydoc = new Y.Doc()
    const peer = new Y.Doc()
    ydoc.on('update', (update, origin) => origin !== 'peer' && Y.applyUpdate(peer, update, 'peer'))
    peer.on('update', (update, origin) => origin !== 'peer' && Y.applyUpdate(ydoc, update, 'peer'))
    const { upload, calls } = pendingUpload()
    const { editor } = setup({ upload, ydoc })
    editor.commands.setContent('<p>first</p><p>second</p>')
    const end = editor.state.doc.content.size - 1 // the end of "second"
    insertImages(editor, [png()], end)
    peer.transact(() => {
      const paragraph = new Y.XmlElement('paragraph')
      paragraph.insert(0, [new Y.XmlText('from a peer')])
      peer.getXmlFragment('default').insert(0, [paragraph])
    })
    expect(editor.getText()).toMatch(/^from a peer/)
    expect(placeholders(editor)).toHaveLength(1)
    calls[0].resolve(UPLOADED)
    await flush()
    const kinds = editor.getJSON().content.map((node) => node.type)
    expect(kinds.indexOf('image')).toBeGreaterThan(2) // after "from a peer", "first" and the start of "second"
    expect(peer.getXmlFragment('default').toString()).toContain(UPLOADED.url)
  })

  it('pickImage opens a file input for images and uploads the choice at the selection', async () => {
    const { upload, calls } = pendingUpload()
    const { editor } = setup({ upload })
    const click = vi.spyOn(HTMLInputElement.prototype, 'click').mockImplementation(() => {})
    cleanup.push(() => click.mockRestore())
    const input = pickImage(editor, 'd1')
    expect(click).toHaveBeenCalled()
    expect(input.type).toBe('file')
    expect(input.accept).toBe('image/*')
    Object.defineProperty(input, 'files', { value: [png()] })
    input.dispatchEvent(new Event('change'))
    expect(calls).toHaveLength(1)
    calls[0].resolve(UPLOADED)
    await flush()
    expect(images(editor)).toHaveLength(1)
  })
})
