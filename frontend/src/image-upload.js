// Images go to the server, not into the document: a pasted, dropped or picked image file is uploaded
// (POST /api/documents/ID/images/), and the document gets an `image` node whose src is the site-relative URL the
// server answers. Pasted data: URIs would put megabytes into the shared document, for every collaborator to sync.
//
// While a file uploads, a placeholder shows where it will land. Its position follows edits, the collaborators' too:
// a remote change replaces the whole ProseMirror document, so positions are tracked with the editor's mappable
// positions (a Yjs relative position when the Collaboration extension is present). What the server refuses
// (too large, not an image, SVG) reaches the `onError` option with the server's own message.

import { Extension } from '@tiptap/core'
import { Plugin, PluginKey } from '@tiptap/pm/state'
import { Decoration, DecorationSet } from '@tiptap/pm/view'
import { ApiError, errorMessage } from './api.js'

export const imageUploadKey = new PluginKey('imageUpload')
export const PLACEHOLDER_CLASS = 'image-upload-placeholder'

/** The page's CSRF token, as the editor template renders it (data-csrf-token). */
function pageCsrfToken() {
  const holder = globalThis.document?.querySelector('[data-csrf-token]')
  return holder ? holder.dataset.csrfToken || '' : ''
}

/**
 * Uploads one image file to a document.
 * @param {string} documentId
 * @param {Blob} file
 * @param {{fetch?: typeof fetch, csrfToken?: string, apiBase?: string, alt?: string}} [options]
 * @returns {Promise<{id: string, url: string, width: number, height: number, content_type: string, bytes: number}>}
 * @throws {ApiError} with the server's message (and status 0 when the network failed)
 */
export async function uploadImage(documentId, file, { fetch: fetchImpl, csrfToken, apiBase = '/api', alt = '' } = {}) {
  const body = new FormData()
  body.append('file', file, file.name || 'image')
  if (alt) body.append('alt', alt)
  const base = apiBase.replace(/\/+$/, '')
  let response
  try {
    response = await (fetchImpl || globalThis.fetch)(`${base}/documents/${encodeURIComponent(documentId)}/images/`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'X-CSRFToken': csrfToken ?? pageCsrfToken() },
      credentials: 'same-origin',
      body,
    })
  } catch {
    throw new ApiError('Network error — the image was not uploaded.', 0, null)
  }
  let data = null
  try {
    data = await response.json()
  } catch {
    data = null
  }
  if (!response.ok) {
    const message = response.status === 413 && !data ? 'The image is too large.' : errorMessage(data, response.status)
    throw new ApiError(message, response.status, data)
  }
  return data
}

/** The image files among `files` (a FileList or an array). */
export function imageFiles(files) {
  return Array.from(files || []).filter((file) => /^image\//.test(file.type || ''))
}

/** An alt text from a file's name; none for the name browsers give pasted screenshots ("image.png"). */
export function altFromName(name) {
  const stem = String(name || '').replace(/\.[^.]*$/, '').trim()
  return /^(image|blob)$/i.test(stem) ? '' : stem
}

function placeholderElement(label) {
  const element = document.createElement('span')
  element.className = PLACEHOLDER_CLASS
  element.setAttribute('role', 'status')
  element.setAttribute('contenteditable', 'false')
  element.textContent = `Uploading ${label}…`
  return element
}

function uploadOptions(editor) {
  const extension = editor.extensionManager.extensions.find((item) => item.name === 'imageUpload')
  return { ...ImageUpload.options, ...(extension ? extension.options : {}) }
}

/**
 * Uploads `files` and inserts each as an `image` node at `pos` (the selection when omitted), showing a
 * placeholder meanwhile. Resolves once every upload has ended, with the inserted images' upload answers.
 */
export function insertImages(editor, files, pos = editor.state.selection.from, overrides = {}) {
  const options = { ...uploadOptions(editor), ...overrides }
  const uploads = imageFiles(files).map((file) => {
    const id = {}
    const alt = altFromName(file.name)
    editor.view.dispatch(editor.state.tr.setMeta(imageUploadKey, { add: { id, pos, label: alt || 'image' } }))
    const ended = (result, error) => {
      if (editor.isDestroyed) return null
      const at = placeholderPosition(editor.state, id)
      const remove = editor.state.tr.setMeta(imageUploadKey, { remove: id })
      if (error || at == null || !editor.schema.nodes.image) {
        editor.view.dispatch(remove)
        if (error) options.onError(error.message || 'The image could not be uploaded.', error)
        else if (!editor.schema.nodes.image) options.onError('This editor cannot show images.', null)
        return null
      }
      editor
        .chain()
        .command(({ tr }) => {
          tr.setMeta(imageUploadKey, { remove: id })
          return true
        })
        .insertContentAt(at, { type: 'image', attrs: { src: result.url, alt } })
        .run()
      return result
    }
    const { fetch, csrfToken, apiBase } = options
    return options
      .upload(options.documentId, file, { fetch, csrfToken, apiBase, alt })
      .then((result) => ended(result, null), (error) => ended(null, error))
  })
  return Promise.all(uploads).then((results) => results.filter(Boolean))
}

/** Where the placeholder of upload `id` stands now, or null when it is gone. */
export function placeholderPosition(state, id) {
  const entry = (imageUploadKey.getState(state) || []).find((item) => item.id === id)
  return entry ? Math.min(entry.position.position, state.doc.content.size) : null
}

/**
 * Opens the file picker for a toolbar button; the chosen images are uploaded at the selection.
 * @returns {HTMLInputElement} the (detached) input, whose change event starts the uploads
 */
export function pickImage(editor, documentId, overrides = {}) {
  const input = document.createElement('input')
  input.type = 'file'
  input.accept = 'image/*'
  input.multiple = true
  input.addEventListener('change', () => {
    if (editor.isDestroyed || !editor.isEditable) return
    insertImages(editor, input.files, editor.state.selection.from, { ...overrides, documentId })
  })
  input.click()
  return input
}

function imageUploadPlugin(editor) {
  const start = (view, files, pos) => {
    const images = imageFiles(files)
    if (!images.length) return false
    insertImages(editor, images, pos)
    return true
  }
  return new Plugin({
    key: imageUploadKey,
    state: {
      init: () => [],
      apply(tr, uploads) {
        let next = uploads.map((item) => ({ ...item, position: editor.utils.getUpdatedPosition(item.position, tr).position }))
        const meta = tr.getMeta(imageUploadKey)
        if (meta && meta.add) {
          next = [...next, { id: meta.add.id, label: meta.add.label, position: editor.utils.createMappablePosition(meta.add.pos) }]
        }
        if (meta && meta.remove) next = next.filter((item) => item.id !== meta.remove)
        return next
      },
    },
    props: {
      decorations(state) {
        const uploads = imageUploadKey.getState(state)
        if (!uploads.length) return DecorationSet.empty
        const size = state.doc.content.size
        return DecorationSet.create(
          state.doc,
          uploads.map((item) =>
            Decoration.widget(Math.min(item.position.position, size), () => placeholderElement(item.label), {
              id: item.id,
              side: -1,
            }),
          ),
        )
      },
      handlePaste(view, event) {
        const files = event.clipboardData && event.clipboardData.files
        if (!start(view, files, view.state.selection.from)) return false
        event.preventDefault()
        return true
      },
      handleDrop(view, event, slice, moved) {
        if (moved) return false
        let pos = view.state.selection.from
        try {
          const found = view.posAtCoords({ left: event.clientX, top: event.clientY })
          if (found) pos = found.pos
        } catch {
          // no layout to ask (a hidden editor): the selection will do
        }
        if (!start(view, event.dataTransfer && event.dataTransfer.files, pos)) return false
        event.preventDefault()
        return true
      },
    },
  })
}

/**
 * Pasted and dropped image files are uploaded and inserted as `image` nodes (the schema needs
 * @tiptap/extension-image). Options: documentId; onError(message, error) for refused uploads; upload (the function
 * that sends a file, uploadImage by default) and its fetch, csrfToken and apiBase.
 */
export const ImageUpload = Extension.create({
  name: 'imageUpload',

  addOptions() {
    return {
      documentId: '',
      upload: uploadImage,
      fetch: undefined,
      csrfToken: undefined,
      apiBase: '/api',
      onError: () => {},
    }
  },

  addProseMirrorPlugins() {
    return [imageUploadPlugin(this.editor)]
  },
})
