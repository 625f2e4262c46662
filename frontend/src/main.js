import './style.css'
import './panels.css'
import './print.css'
import { removeAwarenessStates } from 'y-protocols/awareness'
import facts from './server-facts.json'
import { createApi } from './api.js'
import { createCollabProvider } from './provider.js'
import { createEditor } from './editor.js'
import { createToolbar } from './toolbar.js'
import { createPresence, renderPresence, safeColor } from './presence.js'
import { createStatusTracker, renderStatus } from './status.js'
import { createShareDialog, createShareButton } from './share.js'
import { createTitle } from './title.js'
import { renderHistoryPanel, createHistoryButton } from './history.js'
import { createLinkPopover } from './link-popover.js'
import { createWordCount } from './word-count.js'
import { createShortcutsHelp, createShortcutsButton } from './shortcuts-help.js'
import { h } from './dom.js'
import { icon } from './icons.js'
import { VIEWER, ROLE_LABELS, canEditRole, isOwnerRole } from './roles.js'

/** The roles the server may render into data-role; anything else is treated as the lowest. */
const ROLES = new Set(facts.roles)
const PALETTE = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626']
const UPLOAD_ERROR_MS = 8000 // how long the line saying why an image did not go in stays

function colorFromName(name) {
  let hash = 0
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}

/** Reads the data-* contract rendered by the Django template. */
export function readConfig(root) {
  const d = root.dataset
  const role = ROLES.has(d.role) ? d.role : VIEWER
  const userName = (d.userName || '').trim() || 'Anonymous'
  const color = d.userColor && safeColor(d.userColor) === d.userColor.trim() ? d.userColor.trim() : colorFromName(userName)
  return {
    documentId: (d.documentId || '').trim(),
    title: d.title || '',
    role,
    userName,
    userColor: color,
    wsUrl: d.wsUrl || '/ws/documents',
    apiBase: d.apiBase || '/api',
    csrfToken: d.csrfToken || '',
    owner: d.owner || '',
  }
}

/**
 * Builds the whole editor UI inside `root` and connects it.
 * @returns {{editor: any, ydoc: any, provider: any, config: any, destroy: () => void}}
 */
export function mountApp(root, { createProvider = createCollabProvider } = {}) {
  const config = readConfig(root)
  const canEdit = canEditRole(config.role)
  const isOwner = isOwnerRole(config.role)

  root.replaceChildren()
  root.classList.add('collab-app')
  root.dataset.ready = 'false'

  // --- layout ---------------------------------------------------------------------------------
  const titleBlock = h('div', { className: 'app-header__titleblock' })
  const right = h('div', { className: 'app-header__right' })
  const header = h('header', { className: 'app-header' }, [
    h('div', { className: 'app-header__left' }, [
      h('a', { className: 'app-header__home', href: '/', 'aria-label': 'All documents', title: 'All documents' }, icon('home')),
      titleBlock,
    ]),
    right,
  ])
  const toolbarSlot = h('div', { className: 'toolbar-slot' })
  const editorHost = h('div', { id: 'editor', className: 'doc-editor' })
  const historyPanel = h('aside', { id: 'history-panel', className: 'history-panel', 'aria-label': 'Version history', hidden: true })
  const pageFooter = h('footer', { className: 'page-footer' })
  // Why an image did not go in (too large, not an image, no permission): said once, then gone.
  const uploadError = h('p', { id: 'upload-error', className: 'upload-error', role: 'alert', hidden: true })
  const page = h('article', { className: 'page', id: 'doc-page' }, [uploadError, editorHost, pageFooter])
  const body = h('div', { className: 'app-body' }, [page, historyPanel])

  root.append(header, toolbarSlot, body)

  // --- collaboration ----------------------------------------------------------------------------
  const api = createApi({ apiBase: config.apiBase, csrfToken: config.csrfToken })
  const collab = createProvider({ documentId: config.documentId, wsUrl: config.wsUrl })
  const { ydoc, provider } = collab
  const user = { name: config.userName, color: config.userColor }
  provider.awareness.setLocalStateField('user', user)

  let uploadErrorTimer = null
  const showUploadError = (message) => {
    uploadError.textContent = message
    uploadError.hidden = false
    clearTimeout(uploadErrorTimer)
    uploadErrorTimer = setTimeout(() => (uploadError.hidden = true), UPLOAD_ERROR_MS)
  }
  const images = { documentId: config.documentId, apiBase: config.apiBase, csrfToken: config.csrfToken, onError: showUploadError }
  const editor = createEditor({ element: editorHost, ydoc, provider, user, editable: canEdit, images })
  // Added to the running editor (editor.registerPlugin): the toolbar's link button opens it with openLinkPopover.
  const linkPopover = createLinkPopover(editor)
  const wordCount = createWordCount(pageFooter, editor)

  // --- header widgets ---------------------------------------------------------------------------
  let shareDialog = null
  const title = createTitle({
    container: titleBlock,
    ydoc,
    provider,
    api,
    documentId: config.documentId,
    initialTitle: config.title,
    canRename: canEdit,
    onChange: (value) => {
      if (shareDialog) shareDialog.setTitle(value)
    },
  })

  const statusTracker = createStatusTracker({ ydoc, provider })
  const statusView = renderStatus(titleBlock, statusTracker)

  const presence = createPresence({ awareness: provider.awareness, status: statusTracker })
  const presenceView = renderPresence(right, presence)

  if (!isOwner) {
    right.appendChild(
      h('span', {
        id: 'doc-role',
        className: `role-badge role-badge--${config.role}`,
        dataset: { role: config.role },
        text: ROLE_LABELS[config.role],
      }),
    )
  }

  if (isOwner) {
    shareDialog = createShareDialog({
      api,
      documentId: config.documentId,
      owner: config.owner || config.userName,
      title: title.getTitle(),
      container: root,
    })
    createShareButton(right, shareDialog)
  }

  let toolbar = createToolbar(toolbarSlot, editor, { readOnly: !canEdit })

  // A terminal close (signed out, access revoked, document deleted: provider.js's isTerminalClose): the provider no
  // longer reconnects and the status pill says why; nothing typed from now on would reach the server, so stop editing.
  const onClosed = (event) => {
    root.dataset.closed = String((event && event.code) || '')
    if (!editor.isDestroyed && editor.isEditable) {
      editor.setEditable(false)
      linkPopover.close({ refocus: false })
      toolbar.destroy()
      toolbar = createToolbar(toolbarSlot, editor, { readOnly: true })
    }
  }
  provider.on('closed', onClosed)

  const history = renderHistoryPanel(historyPanel, {
    editor,
    ydoc,
    provider,
    api,
    documentId: config.documentId,
    role: config.role,
  })
  const historyButton = createHistoryButton(right, history, { before: right.querySelector('#share-button') })

  const shortcutsHelp = createShortcutsHelp({ container: root, editor })
  createShortcutsButton(right, shortcutsHelp, { before: historyButton })

  // Tell the others we left right away instead of waiting for the awareness timeout.
  const onPageHide = () => {
    removeAwarenessStates(provider.awareness, [ydoc.clientID], 'window unload')
  }
  window.addEventListener('pagehide', onPageHide)

  root.dataset.ready = 'true'

  let destroyed = false
  return {
    editor,
    ydoc,
    provider,
    config,
    destroy() {
      if (destroyed) return
      destroyed = true
      clearTimeout(uploadErrorTimer)
      window.removeEventListener('pagehide', onPageHide)
      provider.off('closed', onClosed)
      history.destroy()
      toolbar.destroy()
      if (shareDialog) shareDialog.destroy()
      presenceView.destroy()
      presence.destroy()
      statusView.destroy()
      statusTracker.destroy()
      title.destroy()
      shortcutsHelp.destroy()
      wordCount.destroy()
      editor.destroy()
      // After the editor: its plugins go with it, rather than the whole plugin set being rebuilt to drop two.
      linkPopover.destroy()
      collab.destroy()
    },
  }
}

const root = typeof document !== 'undefined' ? document.getElementById('editor-app') : null
if (root) {
  const app = mountApp(root)
  window.collab = { editor: app.editor, ydoc: app.ydoc, provider: app.provider, destroy: app.destroy }
}
