import { NextResponse } from 'next/server'
import { readTokenSession } from '@/app/_server/session'
import { callUserinfo } from '@/app/_server/userinfo'

/**
 * GET /api/me: calls the provider's userinfo endpoint with the session's access token. The
 * middleware refreshed the token on the way in when it was due.
 */
export async function GET() {
  const headers = { 'cache-control': 'private, no-store' }
  const session = await readTokenSession()
  if (!session) return NextResponse.json({ error: 'not signed in' }, { status: 401, headers })
  if (session.error) return NextResponse.json({ error: session.error, fingerprint: session.fingerprint }, { status: 401, headers })
  const userinfo = await callUserinfo(session)
  const body = {
    userinfoStatus: userinfo.status,
    sub: userinfo.sub,
    fingerprint: session.fingerprint,
    expiresAt: session.expiresAt,
    ...(userinfo.error ? { error: userinfo.error } : {}),
  }
  return NextResponse.json(body, { status: userinfo.ok ? 200 : 502, headers })
}
