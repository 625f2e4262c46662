// Small JSON client for the Django REST API (session cookie + CSRF header).

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.body = body
  }
}

const capitalize = (t) => t.charAt(0).toUpperCase() + t.slice(1)

/** Puts a field's name into a DRF field error so it reads as a sentence on its own. */
function withField(field, message) {
  const label = field.replace(/_/g, ' ')
  if (/^this field\b/i.test(message)) return message.replace(/^this field/i, capitalize(label))
  if (/\bthis field\b/i.test(message)) return message.replace(/\bthis field\b/i, `the ${label}`)
  const stem = label.replace(/name$/i, '')
  const lower = message.toLowerCase()
  if (lower.includes(label.toLowerCase()) || (stem.length >= 3 && lower.includes(stem.toLowerCase()))) return message
  return `${capitalize(label)}: ${message}`
}

function flatten(value) {
  if (value == null) return []
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(flatten)
  if (typeof value === 'object') {
    for (const key of ['message', 'detail', 'error']) {
      if (key in value) return flatten(value[key])
    }
    return Object.entries(value).flatMap(([field, v]) => {
      const parts = flatten(v)
      if (field === 'non_field_errors') return parts
      if (field === 'code' || field === 'status') return []
      return parts.map((p) => withField(field, p))
    })
  }
  return [String(value)]
}

/** Turns an error response body (DRF style or {error: ...}) into one human-readable line. */
export function errorMessage(body, status) {
  const parts = flatten(body).filter(Boolean)
  if (parts.length) return parts.join(' ')
  if (status === 403) return 'You do not have permission to do that.'
  if (status === 404) return 'Not found.'
  return status ? `Request failed (${status}).` : 'Request failed.'
}

/** The items of a list answer: the API returns a plain list, or a paginated {results}. */
export function listFrom(data) {
  if (Array.isArray(data)) return data
  return Array.isArray(data && data.results) ? data.results : []
}

/**
 * @param {{apiBase: string, csrfToken?: string, fetchImpl?: typeof fetch}} config
 */
export function createApi({ apiBase, csrfToken = '', fetchImpl }) {
  const base = (apiBase || '/api').replace(/\/+$/, '')
  const doFetch = (...args) => (fetchImpl || globalThis.fetch)(...args)

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken
    let response
    try {
      response = await doFetch(base + path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (err) {
      throw new ApiError('Network error — check your connection and try again.', 0, null)
    }
    let data = null
    const text = response.status === 204 ? '' : await response.text()
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = null
      }
    }
    if (!response.ok) {
      throw new ApiError(errorMessage(data, response.status), response.status, data)
    }
    return data
  }

  return {
    base,
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
    patch: (path, body) => request('PATCH', path, body),
    delete: (path) => request('DELETE', path),
  }
}
