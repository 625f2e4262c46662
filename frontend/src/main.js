import './style.css'
import { removeAwarenessStates } from 'y-protocols/awareness'
import { createApi } from './api.js'
import { createCollabProvider } from './provider.js'
import { createEditor } from './editor.js'
import { createToolbar } from './toolbar.js'
import { createPresence, renderPresence, safeColor } from './presence.js'
import { createStatusTracker, renderStatus } from './status.js'
import { createShareDialog, createShareButton } from './share.js'
import { createTitle } from './title.js'
import { renderHistoryPanel, createHistoryButton } from './history.js'

const ROLES = new Set(['owner', 'editor', 'viewer'])
const PALETTE = ['#2563eb', '#db2777', '#16a34a', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626']

function colorFromName(name) {
  let hash = 0
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}

/** Reads the data-* contract rendered by the Django template. */
export function readConfig(root) {
  const d = root.dataset
  const role = ROLES.has(d.role) ? d.role : 'viewer'
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

const HOME_ICON =
  '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><polyline points="14 3 14 8 19 8"/><line x1="9" y1="13" x2="15" y2="13"/><line x1="9" y1="17" x2="13" y2="17"/></svg>'

const ROLE_LABEL = { owner: 'Owner', editor: 'Editor', viewer: 'Viewer' }

/**
 * Builds the whole editor UI inside `root` and connects it.
 * @returns {{editor: any, ydoc: any, provider: any, config: any, destroy: () => void}}
 */
export function mountApp(root, { createProvider = createCollabProvider } = {}) {
  const config = readConfig(root)
  const canEdit = config.role === 'owner' || config.role === 'editor'
  const isOwner = config.role === 'owner'

  root.replaceChildren()
  root.classList.add('collab-app')
  root.dataset.ready = 'false'

  // --- layout ---------------------------------------------------------------------------------
  const header = document.createElement('header')
  header.className = 'app-header'
  const left = document.createElement('div')
  left.className = 'app-header__left'
  const home = document.createElement('a')
  home.className = 'app-header__home'
  home.href = '/'
  home.setAttribute('aria-label', 'All documents')
  home.title = 'All documents'
  home.innerHTML = HOME_ICON
  const titleBlock = document.createElement('div')
  titleBlock.className = 'app-header__titleblock'
  left.append(home, titleBlock)
  const right = document.createElement('div')
  right.className = 'app-header__right'
  header.append(left, right)

  const toolbarSlot = document.createElement('div')
  toolbarSlot.className = 'toolbar-slot'

  const body = document.createElement('div')
  body.className = 'app-body'
  const page = document.createElement('article')
  page.className = 'page'
  page.id = 'doc-page'
  const editorHost = document.createElement('div')
  editorHost.id = 'editor'
  editorHost.className = 'doc-editor'
  page.appendChild(editorHost)
  const historyPanel = document.createElement('aside')
  historyPanel.id = 'history-panel'
  historyPanel.className = 'history-panel'
  historyPanel.setAttribute('aria-label', 'Version history')
  historyPanel.hidden = true
  body.append(page, historyPanel)

  root.append(header, toolbarSlot, body)

  // --- collaboration ----------------------------------------------------------------------------
  const api = createApi({ apiBase: config.apiBase, csrfToken: config.csrfToken })
  const collab = createProvider({ documentId: config.documentId, wsUrl: config.wsUrl })
  const { ydoc, provider } = collab
  const user = { name: config.userName, color: config.userColor }
  provider.awareness.setLocalStateField('user', user)

  const editor = createEditor({ element: editorHost, ydoc, provider, user, editable: canEdit })

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

  const presence = createPresence({ provider, awareness: provider.awareness })
  const presenceView = renderPresence(right, presence)

  const roleBadge = document.createElement('span')
  roleBadge.id = 'doc-role'
  roleBadge.className = `role-badge role-badge--${config.role}`
  roleBadge.dataset.role = config.role
  roleBadge.textContent = ROLE_LABEL[config.role]
  if (!isOwner) right.appendChild(roleBadge)

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

  // A terminal close (4401 signed out, 4403 access revoked, 4404 deleted): the provider no longer reconnects
  // (provider.js) and the status pill says why; nothing typed from now on would reach the server, so stop editing.
  const onClosed = (event) => {
    root.dataset.closed = String((event && event.code) || '')
    if (!editor.isDestroyed && editor.isEditable) {
      editor.setEditable(false)
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
  createHistoryButton(right, history, { before: right.querySelector('#share-button') })

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
      editor.destroy()
      collab.destroy()
    },
  }
}

const root = typeof document !== 'undefined' ? document.getElementById('editor-app') : null
if (root) {
  const app = mountApp(root)
  window.collab = { editor: app.editor, ydoc: app.ydoc, provider: app.provider, destroy: app.destroy }
}
