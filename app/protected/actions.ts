'use server'

import { readTokenSession } from '@/app/_server/session'
import { callUserinfo } from '@/app/_server/userinfo'

/** What the server action reports back to the page. */
export interface UserinfoActionResult {
  /** Userinfo HTTP status, or null when there was no session or no answer. */
  status: number | null
  sub?: string | undefined
  /** Fingerprint of the access token the action used. */
  fingerprint?: string | undefined
  error?: string | undefined
  /** Epoch ms, so the page shows each click's answer as new. */
  at: number
}

/**
 * A server action that calls userinfo with the session's access token. The middleware ran for this
 * POST too, so the cookie read here holds a fresh token.
 */
export async function userinfoAction(): Promise<UserinfoActionResult> {
  const session = await readTokenSession()
  if (!session) return { status: null, error: 'not signed in', at: Date.now() }
  if (session.error) return { status: null, error: session.error, fingerprint: session.fingerprint, at: Date.now() }
  const userinfo = await callUserinfo(session)
  return { status: userinfo.status, sub: userinfo.sub, fingerprint: session.fingerprint, error: userinfo.error, at: Date.now() }
}
