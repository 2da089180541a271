/**
 * Property-based fuzz of the middleware (fast-check): thousands of generated cookie jars and
 * request shapes, each checked against what the middleware may do with it.
 *
 * Generated per case: one of four middleware configurations; a session placement (none; a valid
 * session, whole or chunked, possibly with hostile payload fields; a broken chunk sequence: gaps,
 * a missing `.0`, a duplicate with other content, hundreds of chunks, indexes past 9999; a valid
 * JWE for another secret; a valid session truncated, bit-flipped or cut about; garbage of every
 * shape up to 64 KB; a near-miss cookie name, with a valid or a garbage value); a planted garbage
 * cookie under another session name; random other cookies; an odd path (`//evil`, `/\evil`,
 * percent-encodings, `..`, non-ASCII), a query, a method, RSC / prefetch / server-action / fetch
 * metadata headers, an origin; and what the (fake) provider answers: new tokens, invalid_grant, a
 * 503, HTML, or a network error.
 *
 * Asserted for every case:
 * - nothing is thrown and no response has a status >= 500;
 * - a request whose cookies hold no session this middleware can read (see `readableBase`) passes
 *   untouched: status 200, `x-middleware-next`, no forwarded-header override, no Location, no
 *   Set-Cookie, and 0 calls of the injected `fetch` (no discovery, no token request);
 * - a readable session makes at most one token-endpoint call;
 * - a Set-Cookie is allowed only on a response that writes the session it read, because its
 *   refresh ended in new tokens or a dead refresh token: then it may set only that session's own
 *   cookie (its base name, or `base.N` chunks) to a value that decodes with the secret, and expire
 *   (Max-Age=0, empty value) only cookies of that same base name that the request carried and the
 *   new value does not use (chunk clean-up); the response is then `Cache-Control: private,
 *   no-store`. Any other Set-Cookie is stray;
 * - a Location, if any, stays on the request's origin, and so does its callbackUrl.
 *
 * Seeded (FUZZ_SEED, fixed by default, so CI runs the same cases); FUZZ_RUNS sets the number of
 * cases (default 10 000). The totals are printed as one JSON line.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import fc from 'fast-check'
import { NextRequest } from 'next/server'
import { decode as decodeV4, encode as encodeV4 } from 'next-auth/jwt'
import { decode as decodeV5, encode as encodeV5 } from 'next-auth-v5/jwt'
import { createRefreshMiddleware, oidc, type RefreshMiddleware } from '../lib'
import { AUTHJS_V5_CODEC, SECRET, quietLogger } from './support/sessions'

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122)
const OTHER_SECRET = 'another-secret-with-enough-entropy-9876543210'
const ISSUER = 'https://idp.fuzz.test'
const STANDARD = [
  'next-auth.session-token',
  '__Secure-next-auth.session-token',
  'authjs.session-token',
  '__Secure-authjs.session-token',
] as const
const CUSTOM = '__Host-app.session'
const CHUNK = 3933

type Codec = {
  encode(token: Record<string, unknown>, maxAge?: number): Promise<string>
  decode(jwt: string): Promise<Record<string, unknown> | null>
}
const v4 = (salt: string): Codec => ({
  encode: (token, maxAge) => encodeV4({ token, secret: SECRET, salt, ...(maxAge ? { maxAge } : {}) }),
  decode: async (jwt) =>
    ((await decodeV4({ token: jwt, secret: SECRET, salt }).catch(() => null)) as Record<string, unknown> | null) ?? null,
})
const v5 = (salt: string): Codec => ({
  encode: (token, maxAge) => encodeV5({ token, secret: SECRET, salt, ...(maxAge ? { maxAge } : {}) }),
  decode: async (jwt) =>
    ((await decodeV5({ token: jwt, secret: SECRET, salt }).catch(() => null)) as Record<string, unknown> | null) ?? null,
})

/** A middleware configuration and, per cookie base name, the codec it reads that name with (none: not read). */
interface Config {
  label: string
  names: readonly string[]
  codecFor(base: string): Codec | undefined
  middleware: RefreshMiddleware
}

// --- the injected provider fetch -------------------------------------------------------------
type ProviderMode = 'tokens' | 'invalid_grant' | 'unavailable' | 'html' | 'network-error'
let providerMode: ProviderMode = 'tokens'
let fetchCalls = 0
let tokenCalls = 0
let issued = 0
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const fakeProviderFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  fetchCalls++
  const url = new URL(input instanceof Request ? input.url : String(input))
  if (url.pathname === '/.well-known/openid-configuration') {
    return json({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/token`,
      authorization_endpoint: `${ISSUER}/auth`,
      jwks_uri: `${ISSUER}/jwks`,
      response_types_supported: ['code'],
    })
  }
  tokenCalls++
  void init
  switch (providerMode) {
    case 'tokens':
      issued++
      return json({ access_token: `fuzz-at-${issued}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `fuzz-rt-${issued}` })
    case 'invalid_grant':
      return json({ error: 'invalid_grant' }, 400)
    case 'unavailable':
      return new Response('busy', { status: 503, headers: { 'retry-after': '0' } })
    case 'html':
      return new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } })
    case 'network-error':
      throw new TypeError('fetch failed')
  }
}

function configs(): Config[] {
  const base = {
    secret: SECRET,
    providers: { oidc: oidc({ issuer: ISSUER, clientId: 'fuzz', clientSecret: 'fuzz-secret' }) },
    fetch: fakeProviderFetch,
    logger: quietLogger,
    retryAfterMs: 1,
  }
  const v4Standard = (name: string) => (STANDARD.includes(name as never) ? v4(name.includes('authjs') ? name : '') : undefined)
  return [
    { label: 'default', names: STANDARD, codecFor: v4Standard, middleware: createRefreshMiddleware(base) },
    {
      label: 'basePath+401',
      names: STANDARD,
      codecFor: v4Standard,
      middleware: createRefreshMiddleware({ ...base, basePath: '/auth', unauthorizedApi: true }),
    },
    {
      label: 'custom-name',
      names: [CUSTOM],
      codecFor: (name) => (name === CUSTOM ? v4('') : undefined),
      middleware: createRefreshMiddleware({ ...base, cookieName: CUSTOM, signInPath: '/login' }),
    },
    {
      label: 'authjs-v5-codec',
      names: STANDARD,
      // With Auth.js's codec, the v4-named cookies would need a v4 payload under v5 encryption; only the authjs names are placed readable.
      codecFor: (name) => (name === 'authjs.session-token' || name === '__Secure-authjs.session-token' ? v5(name) : undefined),
      middleware: createRefreshMiddleware({ ...base, jwt: AUTHJS_V5_CODEC, unauthorizedApi: true }),
    },
  ]
}

// --- generators --------------------------------------------------------------------------------
const NEAR_MISS = [
  // (Not ' next-auth.session-token': the Cookie header parser drops the space after `;`, so that is the real name.)
  'next-auth.session-token ',
  'Next-Auth.Session-Token',
  'next-auth.session-tokens',
  'next-auth.session-token_',
  'next-auth.session-token.00',
  'next-auth.session-token.01',
  'next-auth.session-token.-1',
  'next-auth.session-token.1e3',
  'next-auth.session-token.10000',
  'next-auth.session-token.0 ',
  'next-auth.session-token.',
  '__secure-next-auth.session-token',
  '__Secure-next-auth.session-token.x',
  '__Host-next-auth.session-token',
  'next-auth.csrf-token',
  'next-auth.callback-url',
  'authjs.session-token.00',
  'authjs.session_token',
  '__Host-app.session.00',
  '__Host-app.sessionx',
  '__host-app.session',
]
const unicodeText = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength })
const garbage = fc.oneof(
  fc.string({ maxLength: 40 }),
  unicodeText(20),
  fc.constantFrom(
    '',
    'null',
    'undefined',
    '{}',
    '[]',
    'true',
    '0',
    'a.b.c.d.e',
    '....',
    'eyJ',
    '%',
    '%E0%A4%A',
    '%00',
    '=',
    '"quoted"',
    'x'.repeat(5000),
  ),
  fc
    .array(
      fc.string({
        unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')),
        minLength: 0,
        maxLength: 60,
      }),
      { minLength: 5, maxLength: 5 },
    )
    .map((parts) => parts.join('.')),
  fc.integer({ min: 1, max: 64 }).map((kb) => 'A'.repeat(kb * 1024)),
)
const hostileValue = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    -1e308,
    2 ** 53,
    '',
    '0',
    'NaN',
    'Infinity',
    '__proto__',
    'constructor',
    [],
    {},
    [1, 2],
    { toString: 'x' },
    { __proto__: 'x' },
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }),
  fc.array(fc.integer(), { maxLength: 3 }),
)
const now = () => Math.floor(Date.now() / 1000)
const payload = fc.record(
  {
    access_token: fc.oneof(
      { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map((s) => `at-${s}`) },
      { weight: 1, arbitrary: hostileValue },
    ),
    refresh_token: fc.oneof(
      { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map((s) => `rt-${s}`) },
      { weight: 1, arbitrary: hostileValue },
    ),
    expires_at: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: -7200, max: 7200 }).map((offset) => ({ relative: offset })) },
      { weight: 1, arbitrary: hostileValue.map((value) => ({ absolute: value })) },
    ),
    provider: fc.oneof(
      { weight: 3, arbitrary: fc.constant<unknown>('oidc') },
      { weight: 2, arbitrary: fc.constantFrom<unknown>('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'google', undefined) },
      { weight: 1, arbitrary: hostileValue },
    ),
    error: fc.constantFrom<unknown>(undefined, undefined, undefined, 'RefreshTokenError', 'RefreshAccessTokenError', 42),
    accessTokenExpires: fc.constantFrom<unknown>(undefined, undefined, 0, Date.now() - 1000, 'soon', 1e20),
    accessToken: fc.constantFrom<unknown>(undefined, undefined, 'legacy-at', 7),
    refreshed_at: fc.constantFrom<unknown>(undefined, undefined, 'x', -1, 1e12),
    bulk: fc.constantFrom(0, 0, 0, 6000, 12000),
  },
  { requiredKeys: ['access_token', 'expires_at', 'bulk'] },
)
type Payload = typeof payload extends fc.Arbitrary<infer T> ? T : never

function materialise(p: Payload): Record<string, unknown> {
  const { expires_at, bulk, ...rest } = p
  const token: Record<string, unknown> = { sub: 'fuzz', ...rest }
  token.expires_at = 'relative' in expires_at ? now() + expires_at.relative : expires_at.absolute
  if (bulk) token.profile_blob = 'p'.repeat(bulk)
  for (const key of Object.keys(token)) if (token[key] === undefined) delete token[key]
  return token
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.double({ min: 0, max: 0.999, noNaN: true }) }),
  fc.record({
    kind: fc.constant('bitflip' as const),
    at: fc.double({ min: 0, max: 0.999, noNaN: true }),
    bit: fc.integer({ min: 0, max: 6 }),
  }),
  fc.record({ kind: fc.constant('drop-segment' as const), segment: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('swap-segments' as const), a: fc.integer({ min: 0, max: 4 }), b: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('append' as const), tail: fc.string({ minLength: 1, maxLength: 8 }) }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate(jwt: string, m: Mutation): string {
  switch (m.kind) {
    case 'truncate':
      return jwt.slice(0, Math.floor(jwt.length * m.keep))
    case 'bitflip': {
      const at = Math.floor(jwt.length * m.at)
      return jwt.slice(0, at) + String.fromCharCode(jwt.charCodeAt(at) ^ (1 << m.bit)) + jwt.slice(at + 1)
    }
    case 'drop-segment':
      return jwt
        .split('.')
        .filter((_, i) => i !== m.segment)
        .join('.')
    case 'swap-segments': {
      const parts = jwt.split('.')
      ;[parts[m.a], parts[m.b]] = [parts[m.b]!, parts[m.a]!]
      return parts.join('.')
    }
    case 'append':
      return jwt + m.tail
  }
}

const brokenChunks = fc.constantFrom(
  'gap',
  'missing-zero',
  'truncated-tail',
  'dup-garbage',
  'hundreds',
  'index-too-big',
  'whole-garbage-wins',
)
const placement = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('valid' as const), chunked: fc.boolean(), duplicateChunk: fc.boolean(), payload }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('broken-chunks' as const), how: brokenChunks, payload }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wrong-secret' as const), payload }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('mutated' as const), mutation, payload }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('garbage' as const), value: garbage }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('near-miss' as const),
      name: fc.constantFrom(...NEAR_MISS),
      validValue: fc.boolean(),
      payload,
    }),
  },
)

const cookieName = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.'.split('')),
  minLength: 1,
  maxLength: 16,
})
const cookieValue = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789%=!"/\\:+'.split('')), maxLength: 30 }),
  unicodeText(8),
)
const otherCookies = fc
  .array(fc.tuple(cookieName, cookieValue), { maxLength: 6 })
  .map((pairs) => pairs.filter(([name, value]) => !`${name}=${value}`.toLowerCase().includes('session')))

const path = fc.oneof(
  fc.constantFrom(
    '/',
    '//evil.test',
    '//evil.test/steal',
    '/\\evil.test',
    '/\\\\evil.test',
    '/%2F%2Fevil.test',
    '/%5C%5Cevil.test',
    '/%2f/evil.test',
    '/..%2F..%2Fetc%2Fpasswd',
    '/api',
    '/api/',
    '/api/data',
    '/api/auth/session',
    '/api/auth/signin',
    '/auth/session',
    '/auth/signin',
    '/login',
    '/api/v1/x',
    '/%E0%A4%A',
    '/é/中文',
    '/a b',
    '/a%20b',
    '/%00',
    '/.well-known/x',
    '/_next/data/x.json',
  ),
  fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
)
const search = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?callbackUrl=https://evil.test', '?_rsc=1', '?a=1&b=%2F%2Fevil', '?x=%'),
  fc.string({ maxLength: 16 }).map((s) => `?${s}`),
)
const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')
const randomHeaders = fc.record(
  {
    accept: fc.constantFrom('text/html', 'text/html,application/xhtml+xml', 'application/json', 'text/x-component', '*/*', ''),
    'sec-fetch-mode': fc.constantFrom('navigate', 'cors', 'no-cors', 'same-origin', ''),
    rsc: fc.constantFrom('1', '0'),
    'next-router-prefetch': fc.constantFrom('1', '0'),
    purpose: fc.constant('prefetch'),
    'sec-purpose': fc.constantFrom('prefetch', 'prefetch;prerender'),
    'next-action': fc.string({ minLength: 1, maxLength: 12 }).map((s) => `a${s.replace(/[^\x21-\x7e]/g, '')}`),
    'next-router-state-tree': fc.constant('%5B%22%22%5D'),
  },
  { requiredKeys: [] },
)
/** Half page navigations (the only requests that may be redirected), half anything. */
const headers = fc.oneof(
  fc.constantFrom<Record<string, string>>(
    { accept: 'text/html', 'sec-fetch-mode': 'navigate' },
    { accept: 'text/html,application/xhtml+xml' },
    { 'sec-fetch-mode': 'navigate' },
  ),
  randomHeaders,
)

const fuzzCase = fc.record({
  config: fc.integer({ min: 0, max: 3 }),
  base: fc.integer({ min: 0, max: 3 }),
  placement,
  planted: fc.option(fc.tuple(fc.integer({ min: 0, max: 4 }), garbage), { nil: undefined }),
  others: otherCookies,
  othersFirst: fc.boolean(),
  path,
  search,
  method,
  headers,
  origin: fc.constantFrom('http://app.test', 'https://app.test', 'http://localhost:3000'),
  providerMode: fc.constantFrom<ProviderMode>('tokens', 'tokens', 'invalid_grant', 'invalid_grant', 'unavailable', 'html', 'network-error'),
})
type FuzzCase = typeof fuzzCase extends fc.Arbitrary<infer T> ? T : never

// --- building a case --------------------------------------------------------------------------
interface Built {
  cookies: Array<[string, string]>
  /** The base name of the session this configuration can read, if any. */
  readableBase: string | undefined
  /** A cut-about session placed under this base name: readable or not is decided on the request (see `settle`). */
  mutatedBase?: string
}

function chunksOf(name: string, value: string): Array<[string, string]> {
  const parts: Array<[string, string]> = []
  for (let i = 0; i * CHUNK < value.length; i++) parts.push([`${name}.${i}`, value.slice(i * CHUNK, (i + 1) * CHUNK)])
  return parts
}

async function build(c: FuzzCase, config: Config): Promise<Built> {
  const names = config.label === 'custom-name' ? [CUSTOM, ...STANDARD] : [...STANDARD]
  const base = config.label === 'custom-name' && c.base < 2 ? CUSTOM : names[c.base % names.length]!
  const codec = config.codecFor(base)
  const p = c.placement
  const session: Array<[string, string]> = []
  let readableBase: string | undefined
  // A value that really is a session, for this configuration if it reads `base`, otherwise for v4 / empty salt.
  const validJwt = async (pl: Payload) => (codec ?? v4('')).encode(materialise(pl))
  switch (p.kind) {
    case 'none':
      break
    case 'valid': {
      const jwt = await validJwt(p.payload)
      if (p.chunked || jwt.length > CHUNK) {
        const parts = chunksOf(base, jwt)
        session.push(...parts)
        if (p.duplicateChunk) session.push(parts[parts.length - 1]!)
      } else session.push([base, jwt])
      if (codec) readableBase = base
      break
    }
    case 'broken-chunks': {
      const jwt = await validJwt(p.payload)
      // A short session is padded so that it needs several chunks (the padding alone makes it unreadable).
      const parts = chunksOf(base, jwt.length > 2 * CHUNK ? jwt : jwt + 'x'.repeat(2 * CHUNK))
      switch (p.how) {
        case 'gap':
          session.push(...parts.filter((_, i) => i !== 1))
          break
        case 'missing-zero':
          session.push(...parts.slice(1))
          break
        case 'truncated-tail':
          session.push(...parts.slice(0, -1))
          break
        case 'dup-garbage':
          session.push(...parts, [parts[0]![0], 'garbage'])
          break
        case 'hundreds':
          for (let i = 0; i < 300; i++) session.push([`${base}.${i}`, `g${i}`])
          break
        case 'index-too-big':
          session.push([`${base}.10000`, jwt], [`${base}.99999`, jwt])
          break
        case 'whole-garbage-wins':
          session.push([base, 'garbage'], ...chunksOf(base, jwt))
          break
      }
      break
    }
    case 'wrong-secret':
      session.push([
        base,
        await encodeV4({ token: materialise(p.payload), secret: OTHER_SECRET, salt: base.includes('authjs') ? base : '' }),
      ])
      break
    case 'mutated': {
      const jwt = mutate(await validJwt(p.payload), p.mutation)
      if (jwt.length > CHUNK) session.push(...chunksOf(base, jwt))
      else session.push([base, jwt])
      return { cookies: assemble(c, names, base, session), readableBase: undefined, ...(codec ? { mutatedBase: base } : {}) }
    }
    case 'garbage':
      session.push([base, p.value])
      break
    case 'near-miss':
      session.push([p.name, p.validValue ? await validJwt(p.payload) : 'garbage'])
      break
  }
  return { cookies: assemble(c, names, base, session), readableBase }
}

function assemble(c: FuzzCase, names: readonly string[], base: string, session: Array<[string, string]>): Array<[string, string]> {
  const cookies: Array<[string, string]> = []
  if (c.planted) {
    const plantedName = names[c.planted[0] % names.length]!
    if (plantedName !== base) cookies.push([plantedName, c.planted[1]])
  }
  if (c.othersFirst) cookies.unshift(...c.others)
  cookies.push(...session)
  if (!c.othersFirst) cookies.push(...c.others)
  return cookies
}

/**
 * Some cuts leave a session readable (base64url's spare bits), and the Cookie header parser may see
 * another value than the one placed (a `;` or `%` in it, a pair a header cannot carry). So whether
 * a cut-about session is readable is asked of the real decoder, with the value the request carries.
 */
async function settle(built: Built, request: NextRequest, config: Config): Promise<void> {
  const base = built.mutatedBase
  if (!base) return
  const whole = request.cookies.get(base)?.value
  let value = whole
  if (value === undefined) {
    const parts: string[] = []
    for (let i = 0; request.cookies.has(`${base}.${i}`); i++) parts.push(request.cookies.get(`${base}.${i}`)!.value)
    value = parts.join('')
  }
  if (value && (await config.codecFor(base)!.decode(value)) !== null) built.readableBase = base
}

function requestOf(c: FuzzCase, built: Built): NextRequest {
  const url = new URL(c.origin)
  url.pathname = c.path
  url.search = c.search
  // Header values must be ByteStrings without CR, LF or NUL: a pair a browser could not send is left out.
  const cookie = built.cookies
    .map(([name, value]) => `${name}=${value}`)
    // eslint-disable-next-line no-control-regex -- the control characters are the point: those a header may carry
    .filter((pair) => /^[\x01-\x09\x0b\x0c\x0e-\xff]*$/.test(pair))
    .join('; ')
  const headers = new Headers()
  for (const [name, value] of Object.entries(c.headers)) if (value !== undefined) headers.set(name, value)
  if (cookie) headers.set('cookie', cookie)
  return new NextRequest(url, { method: c.method, headers })
}

// --- checking a response ----------------------------------------------------------------------
interface Line {
  name: string
  value: string
  maxAge: string | undefined
}
const parseSetCookie = (line: string): Line => {
  const [pair, ...attributes] = line.split(';')
  const eq = pair!.indexOf('=')
  const maxAge = attributes.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('max-age='))
  return {
    name: pair!.slice(0, eq).trim(),
    value: decodeURIComponent(pair!.slice(eq + 1).trim()),
    maxAge: maxAge?.slice('max-age='.length),
  }
}
const baseOf = (name: string) => name.replace(/\.(0|[1-9]\d{0,3})$/, '')

/** Why the Set-Cookie lines of this response are not allowed, or undefined when they are. */
async function straySetCookie(response: Response, carried: ReadonlySet<string>, built: Built, config: Config): Promise<string | undefined> {
  const lines = response.headers.getSetCookie().map(parseSetCookie)
  if (lines.length === 0) return undefined
  const base = built.readableBase
  if (!base) return `Set-Cookie for an unreadable session: ${lines.map((l) => l.name).join(', ')}`
  if (response.headers.get('cache-control') !== 'private, no-store') return 'a session write without Cache-Control: private, no-store'
  const set = lines.filter((line) => line.maxAge !== '0')
  const expired = lines.filter((line) => line.maxAge === '0')
  for (const line of lines) if (baseOf(line.name) !== base) return `Set-Cookie for ${line.name}, not the session read (${base})`
  for (const line of expired) {
    if (line.value !== '' || !carried.has(line.name)) return `expires ${line.name}, which the request did not carry`
    if (set.some((s) => s.name === line.name)) return `sets and expires ${line.name}`
  }
  if (set.length === 0) return 'expires chunks without writing the session'
  const joined =
    set.length === 1 && set[0]!.name === base
      ? set[0]!.value
      : set
          .sort((a, b) => Number(a.name.slice(base.length + 1)) - Number(b.name.slice(base.length + 1)))
          .map((s) => s.value)
          .join('')
  if ((await config.codecFor(base)!.decode(joined)) === null) return 'writes a session that does not decode'
  return undefined
}

function offOrigin(response: Response, request: NextRequest): string | undefined {
  const location = response.headers.get('location')
  if (location === null) return undefined
  const target = new URL(location, request.url)
  if (target.origin !== request.nextUrl.origin) return `Location ${location} leaves ${request.nextUrl.origin}`
  const callbackUrl = target.searchParams.get('callbackUrl')
  if (
    callbackUrl !== null &&
    (!/^\/(?![/\\])/.test(callbackUrl) || new URL(callbackUrl, request.nextUrl.origin).origin !== request.nextUrl.origin)
  ) {
    return `callbackUrl ${callbackUrl} leaves the origin`
  }
  return undefined
}

// --- the property -------------------------------------------------------------------------------
const totals = {
  fuzz: 'middleware',
  seed: SEED,
  cases: 0,
  readable_sessions: 0,
  unreadable_sessions: 0,
  set_cookie_responses: 0,
  redirects: 0,
  status_5xx: 0,
  throws: 0,
  provider_calls_unreadable: 0,
  provider_token_calls_total: 0,
  untouched_violations: 0,
  stray_set_cookie: 0,
  off_origin_location: 0,
  seconds: 0,
}
let all: Config[]

beforeAll(() => {
  all = configs()
})

afterAll(() => {
  console.log(JSON.stringify(totals))
})

it(`${RUNS} generated cookie jars and requests: no 5xx, no throw, no provider call or cookie write for an unreadable session, no stray Set-Cookie, no off-origin redirect`, async () => {
  const started = performance.now()
  await fc.assert(
    fc.asyncProperty(fuzzCase, async (c) => {
      const config = all[c.config]!
      const built = await build(c, config)
      const request = requestOf(c, built)
      await settle(built, request, config)
      // Before the middleware runs: it may rewrite the request's cookies for the app behind it.
      const carried = new Set(request.cookies.getAll().map((cookie) => cookie.name))
      providerMode = c.providerMode
      const fetchBefore = fetchCalls
      const tokenBefore = tokenCalls
      totals.cases++
      if (built.readableBase) totals.readable_sessions++
      else totals.unreadable_sessions++
      let response: Response
      try {
        response = await config.middleware(request)
      } catch (error) {
        totals.throws++
        throw new Error(`[${config.label}] middleware threw: ${String(error)}`, { cause: error })
      }
      const problems: string[] = []
      if (response.status >= 500) {
        totals.status_5xx++
        problems.push(`status ${response.status}`)
      }
      const fetched = fetchCalls - fetchBefore
      const tokenRequests = tokenCalls - tokenBefore
      totals.provider_token_calls_total += tokenRequests
      if (response.headers.getSetCookie().length > 0) totals.set_cookie_responses++
      if (response.headers.get('location')) totals.redirects++
      if (!built.readableBase) {
        if (fetched > 0) {
          totals.provider_calls_unreadable += fetched
          problems.push(`${fetched} provider fetches for an unreadable session`)
        }
        if (
          response.status !== 200 ||
          response.headers.get('x-middleware-next') !== '1' ||
          response.headers.get('x-middleware-override-headers') !== null ||
          response.headers.get('location') !== null
        ) {
          totals.untouched_violations++
          problems.push(`unreadable session not passed untouched (status ${response.status})`)
        }
      } else if (tokenRequests > 1) {
        problems.push(`${tokenRequests} token requests for one request`)
      }
      const stray = await straySetCookie(response, carried, built, config)
      if (stray) {
        totals.stray_set_cookie++
        problems.push(stray)
      }
      const away = offOrigin(response, request)
      if (away) {
        totals.off_origin_location++
        problems.push(away)
      }
      if (problems.length > 0) throw new Error(`[${config.label}] ${problems.join('; ')}`)
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  )
  totals.seconds = Math.round((performance.now() - started) / 100) / 10
  expect(totals.cases).toBeGreaterThanOrEqual(RUNS)
  if (RUNS >= 1_000) {
    // The generator reaches the interesting paths: readable sessions, session writes, sign-in redirects.
    expect(totals.readable_sessions).toBeGreaterThan(RUNS / 10)
    expect(totals.set_cookie_responses).toBeGreaterThan(0)
    expect(totals.redirects).toBeGreaterThan(0)
  }
}, 300_000)
