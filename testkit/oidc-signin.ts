/**
 * A scripted browser for the local provider: runs a real authorization-code flow over HTTP
 * (authorization request → login form → consent form → redirect with `code` → token request)
 * the way next-auth v4 does it (state, nonce, PKCE S256). Used by `POST /__test/signin`.
 */
import { createHash, randomBytes } from 'node:crypto'

/** The client that signs in, as registered at the provider. */
export interface SignInClient {
  /** The registered client_id. */
  client_id: string
  /** Absent for public clients (`token_endpoint_auth_method: "none"`). */
  client_secret?: string
  /** The first one is used. */
  redirect_uris: string[]
  /** `client_secret_basic`, `client_secret_post` or `none`. Default: `client_secret_basic` with a secret, else `none`. */
  token_endpoint_auth_method?: string
}

/** Options for {@link signInWithCodeFlow}. */
export interface SignInOptions {
  /** Issuer URL of the provider (discovery is read from it). */
  issuer: string
  /** The client to sign in with (its first redirect URI receives the code). */
  client: SignInClient
  /** Space-separated scopes. */
  scope: string
  /** Any login name: the local provider accepts every login with any password. */
  login: string
  /** Extra headers sent to the token endpoint (the provider uses one to skip its fault injection). */
  tokenRequestHeaders?: Record<string, string>
}

/** Thrown when a step of the flow does not go as a browser would expect; `step` names it. */
export class SignInError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(`sign-in failed at ${step}: ${message}`)
  }
}

/** Enough of a cookie jar for one origin: honours Path and deletion, ignores Domain. */
class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>()

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim())
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      let path = '/'
      let expired = value === ''
      for (const attribute of attributes) {
        const [key = '', attrValue = ''] = attribute.split('=')
        const lower = key.toLowerCase()
        if (lower === 'path' && attrValue) path = attrValue
        if (lower === 'max-age' && Number(attrValue) <= 0) expired = true
        if (lower === 'expires' && Date.parse(attrValue) <= Date.now()) expired = true
      }
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, { value, path })
    }
  }

  header(url: URL): string {
    return [...this.cookies]
      .filter(
        ([, cookie]) =>
          url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`),
      )
      .map(([name, cookie]) => `${name}=${cookie.value}`)
      .join('; ')
  }
}

const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
  '&#x2F;': '/',
  '&#x3D;': '=',
}
const decodeEntities = (text: string) => text.replace(/&(?:amp|lt|gt|quot|#39|#x2F|#x3D);/g, (m) => ENTITIES[m] ?? m)

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const match of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) {
    out[(match[1] ?? '').toLowerCase()] = decodeEntities(match[2] ?? '')
  }
  return out
}

/** Finds the first POST form in an interaction page and fills it like a user would. */
function fillForm(html: string, login: string): { action: string; fields: URLSearchParams } {
  const form = /<form\b[^>]*>/i.exec(html)
  if (!form) throw new SignInError('interaction', 'no form on the interaction page')
  const action = attributes(form[0]).action
  if (!action) throw new SignInError('interaction', 'form without action')
  const fields = new URLSearchParams()
  for (const input of html.matchAll(/<input\b[^>]*>/gi)) {
    const attrs = attributes(input[0])
    if (!attrs.name) continue
    if (attrs.type === 'hidden') fields.set(attrs.name, attrs.value ?? '')
    else if (attrs.name === 'login') fields.set('login', login)
    else if (attrs.type === 'password') fields.set(attrs.name, 'any-password')
  }
  return { action, fields }
}

const base64url = (bytes: Buffer) => bytes.toString('base64url')

/** RFC 6749 §2.3.1: client_id and secret are form-encoded before they go into Basic auth. */
function basicAuth(id: string, secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`
}

/**
 * Signs `login` in through the provider's own pages and returns the token endpoint's JSON as is
 * (`access_token`, `refresh_token`, `id_token`, `expires_in`, `token_type`, `scope`).
 * Always sends `prompt=consent`: oidc-provider drops `offline_access` (and so the refresh token)
 * from any request without it.
 *
 * @throws SignInError naming the step that went wrong.
 */
export async function signInWithCodeFlow(options: SignInOptions): Promise<Record<string, unknown>> {
  const { client } = options
  const redirectUri = client.redirect_uris[0]
  if (!redirectUri) throw new SignInError('setup', `client ${client.client_id} has no redirect_uris`)
  const discovery = (await (await fetch(new URL('.well-known/openid-configuration', `${options.issuer.replace(/\/$/, '')}/`))).json()) as {
    authorization_endpoint: string
    token_endpoint: string
  }

  const state = base64url(randomBytes(16))
  const nonce = base64url(randomBytes(16))
  const verifier = base64url(randomBytes(32))
  const authorize = new URL(discovery.authorization_endpoint)
  authorize.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: options.scope,
    prompt: 'consent',
    state,
    nonce,
    code_challenge: base64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString()

  const jar = new CookieJar()
  let request: { url: URL; init: RequestInit } = { url: authorize, init: { method: 'GET' } }
  let callback: URL | undefined
  // Login and consent take about six hops; the bound only stops a redirect loop.
  for (let hop = 0; hop < 20 && !callback; hop++) {
    const headers = new Headers(request.init.headers)
    const cookie = jar.header(request.url)
    if (cookie) headers.set('cookie', cookie)
    const response = await fetch(request.url, { ...request.init, headers, redirect: 'manual' })
    jar.store(response)
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel()
      const next = new URL(location, request.url)
      if (next.href.startsWith(redirectUri)) callback = next
      else request = { url: next, init: { method: 'GET' } }
      continue
    }
    const html = await response.text()
    if (response.status !== 200) throw new SignInError('interaction', `HTTP ${response.status}: ${html.slice(0, 300)}`)
    const { action, fields } = fillForm(html, options.login)
    request = {
      url: new URL(action, request.url),
      init: { method: 'POST', body: fields.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    }
  }
  if (!callback) throw new SignInError('redirect', 'never reached the redirect_uri')
  const error = callback.searchParams.get('error')
  if (error) throw new SignInError('callback', `${error}: ${callback.searchParams.get('error_description') ?? ''}`)
  if (callback.searchParams.get('state') !== state) throw new SignInError('callback', 'state mismatch')
  const code = callback.searchParams.get('code')
  if (!code) throw new SignInError('callback', 'no code in the redirect')

  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    ...options.tokenRequestHeaders,
  }
  const method = client.token_endpoint_auth_method ?? (client.client_secret === undefined ? 'none' : 'client_secret_basic')
  if (method === 'client_secret_basic') headers.authorization = basicAuth(client.client_id, client.client_secret ?? '')
  else {
    form.set('client_id', client.client_id)
    if (method === 'client_secret_post') form.set('client_secret', client.client_secret ?? '')
  }
  const tokenResponse = await fetch(discovery.token_endpoint, { method: 'POST', headers, body: form.toString() })
  const body = (await tokenResponse.json()) as Record<string, unknown>
  if (!tokenResponse.ok) throw new SignInError('token', `HTTP ${tokenResponse.status}: ${JSON.stringify(body)}`)
  return body
}
