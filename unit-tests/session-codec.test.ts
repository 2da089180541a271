/**
 * The session codec's fast path (keys derived once per isolate) against the real codecs: what it
 * writes, next-auth v4's and Auth.js v5's own `decode` / `getToken` read, and what they write, it
 * reads; with secret rotation, chunked cookies, and expired or tampered tokens read as nothing.
 */
import { describe, expect, it } from 'vitest'
import { NextRequest } from 'next/server.js'
import { decode as decodeV4, encode as encodeV4, getToken as getTokenV4 } from 'next-auth/jwt'
import { decode as decodeV5, encode as encodeV5, getToken as getTokenV5 } from 'next-auth-v5/jwt'
import { EncryptJWT } from 'jose'
import {
  CHUNK_SIZE,
  decodeSession,
  encodeSession,
  installedCodec,
  readSessionCookie,
  type SessionCodec,
  type SessionFormat,
} from '../lib/session/session-cookie'
import { NOT_MINE, SessionKeyCache, decryptWith, deriveSessionKey, encryptWith, sessionCacheKey } from '../lib/session/session-codec'

const SECRET = 'unit-secret-with-enough-entropy-0123456789'
const OLD_SECRET = 'unit-old-secret-with-enough-entropy-987654'
const V4 = 'next-auth.session-token'
const V5 = 'authjs.session-token'
const DAY = 24 * 60 * 60

/** A session about the size Cognito's tokens make (joined JWT ~5.9 KB, two chunks). */
const cognitoSized = (i = 0) => ({
  sub: `user-${i}`,
  email: `user-${i}@example.test`,
  provider: 'cognito',
  access_token: `eyJ${'a'.repeat(1050)}.${i}`,
  id_token: `eyJ${'i'.repeat(1150)}.${i}`,
  refresh_token: `eyJ${'r'.repeat(1750)}.${i}`,
  expires_at: Math.floor(Date.now() / 1000) + 3600,
})

/** The cookie header next-auth would send for `jwt`: chunked above the line's chunk size. */
function cookieHeader(name: string, format: SessionFormat, jwt: string): string {
  const size = CHUNK_SIZE[format]
  if (jwt.length <= size) return `${name}=${jwt}`
  const parts: string[] = []
  for (let i = 0; i * size < jwt.length; i++) parts.push(`${name}.${i}=${jwt.slice(i * size, (i + 1) * size)}`)
  return parts.join('; ')
}
const requestWith = (cookie: string) => new NextRequest('http://app.test/', { headers: { cookie } })

/** Auth.js v5's codec, as a v5 app's `next-auth/jwt` is. */
const v5Codec: SessionCodec = { encode: (params) => encodeV5(params), decode: (params) => decodeV5(params) }

describe('next-auth v4 (the installed line here)', () => {
  it('runs where v4 gets the fast path (the edge runtime), so the tests below exercise it', () => {
    expect(typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime).toBe('string')
  })

  it('our encode is read by v4 decode and by v4 getToken from two chunks', async () => {
    const jwt = await encodeSession(cognitoSized(), { name: V4, format: 'next-auth-v4' }, [SECRET], 30 * DAY, installedCodec)
    expect(jwt.length).toBeGreaterThan(CHUNK_SIZE['next-auth-v4'])
    expect(jwt.length).toBeLessThan(2 * CHUNK_SIZE['next-auth-v4'])
    const theirs = await decodeV4({ token: jwt, secret: SECRET })
    expect(theirs).toMatchObject({ sub: 'user-0', refresh_token: cognitoSized().refresh_token })
    expect(typeof theirs?.jti).toBe('string')
    expect((theirs!.exp as number) - (theirs!.iat as number)).toBe(30 * DAY)
    const viaGetToken = await getTokenV4({ req: requestWith(cookieHeader(V4, 'next-auth-v4', jwt)) as never, secret: SECRET })
    expect(viaGetToken).toMatchObject({ sub: 'user-0' })
  })

  it('v4 encode is read by ours, from two chunks', async () => {
    const jwt = await encodeV4({ token: cognitoSized(1), secret: SECRET })
    const read = await readSessionCookie(
      { getAll: () => requestWith(cookieHeader(V4, 'next-auth-v4', jwt)).cookies.getAll() },
      { secrets: [SECRET] },
    )
    expect(read?.payload).toMatchObject({ sub: 'user-1' })
    expect(read?.location).toMatchObject({ name: V4, format: 'next-auth-v4', names: [`${V4}.0`, `${V4}.1`] })
  })

  it('secret rotation: an old-secret cookie decodes, and the new cookie is written with the first secret', async () => {
    const old = await encodeV4({ token: cognitoSized(2), secret: OLD_SECRET })
    const read = await decodeSession(old, { name: V4, format: 'next-auth-v4' }, [SECRET, OLD_SECRET], installedCodec)
    expect(read?.payload).toMatchObject({ sub: 'user-2' })
    const rewritten = await encodeSession(read!.payload, { name: V4, format: 'next-auth-v4' }, [SECRET, OLD_SECRET], DAY, installedCodec)
    expect(await decodeV4({ token: rewritten, secret: SECRET })).toMatchObject({ sub: 'user-2' })
    await expect(decodeV4({ token: rewritten, secret: OLD_SECRET })).rejects.toThrow()
  })

  it('an expired, a tampered, an other-secret and a garbage token read as null', async () => {
    const location = { name: V4, format: 'next-auth-v4' as const }
    // v4 allows 15 s of clock skew: 20 s past exp is expired for it and for us.
    const expired = await encodeV4({ token: { sub: 'x' }, secret: SECRET, maxAge: -20 })
    await expect(decodeV4({ token: expired, secret: SECRET })).rejects.toThrow()
    expect(await decodeSession(expired, location, [SECRET], installedCodec)).toBeNull()
    // Within the tolerance both still read it.
    const justExpired = await encodeV4({ token: { sub: 'y' }, secret: SECRET, maxAge: -5 })
    expect(await decodeSession(justExpired, location, [SECRET], installedCodec)).toMatchObject({ payload: { sub: 'y' } })

    const good = await encodeV4({ token: cognitoSized(3), secret: SECRET })
    const parts = good.split('.')
    parts[3] = `${parts[3]!.slice(0, 10)}${parts[3]![10] === 'A' ? 'B' : 'A'}${parts[3]!.slice(11)}`
    expect(await decodeSession(parts.join('.'), location, [SECRET], installedCodec)).toBeNull()
    expect(await decodeSession(good, location, [OLD_SECRET], installedCodec)).toBeNull()
    expect(await decodeSession('not.a.jwe', location, [SECRET], installedCodec)).toBeNull()
    expect(await decodeSession('', location, [SECRET], installedCodec)).toBeNull()
  })

  it('a header v4 accepts but does not write (dir / A128CBC-HS256 with the same key) still decodes, through v4 itself', async () => {
    const key = await deriveSessionKey('next-auth-v4', SECRET, '')
    const odd = await new EncryptJWT({ sub: 'odd' })
      .setProtectedHeader({ alg: 'dir', enc: 'A128CBC-HS256' })
      .setExpirationTime('1h')
      .encrypt(key.bytes)
    expect(await decodeV4({ token: odd, secret: SECRET })).toMatchObject({ sub: 'odd' })
    expect(await decryptWith(key, odd)).toBe(NOT_MINE)
    expect(await decodeSession(odd, { name: V4, format: 'next-auth-v4' }, [SECRET], installedCodec)).toMatchObject({
      payload: { sub: 'odd' },
    })
  })

  it('a v4 app with an authjs-named cookie: v4 salts with the name, and so does the fast path', async () => {
    const jwt = await encodeV4({ token: { sub: 'salted' }, secret: SECRET, salt: V5 })
    expect(await decodeSession(jwt, { name: V5, format: 'authjs-v5' }, [SECRET], installedCodec)).toMatchObject({
      payload: { sub: 'salted' },
    })
    const ours = await encodeSession({ sub: 'salted-ours' }, { name: V5, format: 'authjs-v5' }, [SECRET], DAY, installedCodec)
    expect(await decodeV4({ token: ours, secret: SECRET, salt: V5 })).toMatchObject({ sub: 'salted-ours' })
  })

  it('regression: a custom jwt codec of the app is still called, for decode and encode', async () => {
    let decodes = 0
    let encodes = 0
    const custom: SessionCodec = {
      decode: async (params) => ((decodes += 1), decodeV4(params)),
      encode: async (params) => ((encodes += 1), encodeV4(params)),
    }
    const jwt = await encodeSession({ sub: 'c' }, { name: V4, format: 'next-auth-v4' }, [SECRET], DAY, custom)
    expect(await decodeSession(jwt, { name: V4, format: 'next-auth-v4' }, [SECRET], custom)).toMatchObject({ payload: { sub: 'c' } })
    expect({ decodes, encodes }).toEqual({ decodes: 1, encodes: 1 })
  })
})

describe('Auth.js v5 as the installed line', () => {
  const keys = () => new SessionKeyCache(v5Codec)

  it('detects the line and derives the key v5 thumbprints into its kid', async () => {
    const key = await keys().keyFor(SECRET, V5)
    expect(key).toMatchObject({ line: 'authjs' })
    expect(key!.bytes.byteLength).toBe(64)
    const theirs = await encodeV5({ token: { sub: 'k' }, secret: SECRET, salt: V5 })
    expect(JSON.parse(atob(theirs.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/')))).toMatchObject({ kid: key!.kid })
  })

  it('ours → v5 decode and v5 getToken (two chunks); v5 encode → ours', async () => {
    const key = (await keys().keyFor(SECRET, V5))!
    const ours = await encryptWith(key, cognitoSized(5), 30 * DAY)
    expect(ours.length).toBeGreaterThan(CHUNK_SIZE['authjs-v5'])
    const decoded = await decodeV5({ token: ours, secret: SECRET, salt: V5 })
    expect(decoded).toMatchObject({ sub: 'user-5' })
    expect(decoded!.exp! - decoded!.iat!).toBe(30 * DAY)
    expect(typeof decoded!.jti).toBe('string')
    const viaGetToken = await getTokenV5({ req: requestWith(cookieHeader(V5, 'authjs-v5', ours)), secret: SECRET, secureCookie: false })
    expect(viaGetToken).toMatchObject({ sub: 'user-5' })

    const theirs = await encodeV5({ token: cognitoSized(6), secret: SECRET, salt: V5 })
    expect(await decryptWith(key, theirs)).toMatchObject({ sub: 'user-6' })
  })

  it('secret rotation: the kid picks the secret, for v5 reading ours and for us reading v5', async () => {
    const cache = keys()
    const oldKey = (await cache.keyFor(OLD_SECRET, V5))!
    const newKey = (await cache.keyFor(SECRET, V5))!
    const oursOld = await encryptWith(oldKey, { sub: 'rotated' }, DAY)
    expect(await decodeV5({ token: oursOld, secret: [SECRET, OLD_SECRET], salt: V5 })).toMatchObject({ sub: 'rotated' })
    const theirsOld = await encodeV5({ token: { sub: 'rotated-2' }, secret: OLD_SECRET, salt: V5 })
    // The new secret's key sees another kid: null, as v5 with only that secret would fail.
    expect(await decryptWith(newKey, theirsOld)).toBeNull()
    await expect(decodeV5({ token: theirsOld, secret: SECRET, salt: V5 })).rejects.toThrow()
    expect(await decryptWith(oldKey, theirsOld)).toMatchObject({ sub: 'rotated-2' })
  })

  it('expired and tampered tokens read as null; a legacy A256GCM v5 token is left to v5 itself', async () => {
    const key = (await keys().keyFor(SECRET, V5))!
    const expired = await encodeV5({ token: { sub: 'e' }, secret: SECRET, salt: V5, maxAge: -20 })
    expect(await decryptWith(key, expired)).toBeNull()
    const good = await encodeV5({ token: { sub: 't' }, secret: SECRET, salt: V5 })
    const parts = good.split('.')
    parts[4] = `${parts[4]![0] === 'A' ? 'B' : 'A'}${parts[4]!.slice(1)}`
    expect(await decryptWith(key, parts.join('.'))).toBeNull()
    const gcm = await deriveSessionKey('next-auth-v4', SECRET, V5)
    // v5 reads A256GCM with a 32-byte key from its own info string; not the shape it writes.
    const legacy = await new EncryptJWT({ sub: 'legacy' }).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(gcm.bytes)
    expect(await decryptWith(key, legacy)).toBe(NOT_MINE)
  })
})

describe('the self-check', () => {
  it('turns the fast path off for a pair the installed codec does not round-trip with', async () => {
    // Writes the v4 header shape, but with a key of its own: not what the fast path would derive.
    const stranger: SessionCodec = {
      encode: async ({ token }) =>
        new EncryptJWT(token).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(new Uint8Array(32).fill(7)),
      decode: async () => null,
    }
    expect(await new SessionKeyCache(stranger).keyFor(SECRET, '')).toBeNull()
    const broken: SessionCodec = {
      encode: async () => {
        throw new Error('no')
      },
      decode: async () => null,
    }
    expect(await new SessionKeyCache(broken).keyFor(SECRET, '')).toBeNull()
  })

  it('derives once per pair: concurrent and later calls share it, and decrypting calls no codec', async () => {
    let encodes = 0
    let decodes = 0
    const counting: SessionCodec = {
      encode: async (params) => ((encodes += 1), encodeV4(params)),
      decode: async (params) => ((decodes += 1), decodeV4(params)),
    }
    const cache = new SessionKeyCache(counting)
    const [a, b] = await Promise.all([cache.keyFor(SECRET, ''), cache.keyFor(SECRET, '')])
    expect(a).toBe(b)
    const jwt = await encodeV4({ token: { sub: 'once' }, secret: SECRET })
    for (let i = 0; i < 5; i++) expect(await decryptWith((await cache.keyFor(SECRET, ''))!, jwt)).toMatchObject({ sub: 'once' })
    expect({ encodes, decodes }).toEqual({ encodes: 1, decodes: 1 })
  })
})

describe('sessionCacheKey', () => {
  it('is short for a JWE, the same for the same value and different for another session', async () => {
    const a = await encodeSession(cognitoSized(7), { name: V4, format: 'next-auth-v4' }, [SECRET], DAY, installedCodec)
    const b = await encodeSession(cognitoSized(7), { name: V4, format: 'next-auth-v4' }, [SECRET], DAY, installedCodec)
    expect(sessionCacheKey(a).length).toBeLessThan(40)
    expect(sessionCacheKey(a)).toBe(sessionCacheKey(`${a}`))
    expect(sessionCacheKey(a)).not.toBe(sessionCacheKey(b))
    expect(sessionCacheKey(a).startsWith(a.slice(a.lastIndexOf('.') + 1))).toBe(true)
    const v5Key = (await new SessionKeyCache(v5Codec).keyFor(SECRET, V5))!
    expect(sessionCacheKey(await encryptWith(v5Key, { sub: 'x' }, DAY)).length).toBeLessThan(60)
  })

  it('is the value itself for anything that is not one of the two JWE shapes', () => {
    for (const value of ['', 'garbage', 'a.b.c', `x.${'y'.repeat(100)}`]) expect(sessionCacheKey(value)).toBe(value)
  })
})
