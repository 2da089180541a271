import { NextResponse } from 'next/server'
import { isLoopbackHostname } from '@/env'
import { readTokenSession } from '@/app/_server/session'
import { appEnv } from '@/env'
import { providerHooks } from '@/testkit/provider-hooks'

/**
 * GET /api/storm/stats: the provider's own refresh counters for the signed-in user, for the storm
 * panel. Only the local provider (the demo's, or a test's, on loopback) serves them
 * (`/__test/stats`); with any other provider this answers 404 and the panel says so. Either answer
 * carries `expiresAt`, the expiry of the token this very request carries: the middleware may just
 * have refreshed it, and then the panel must wait for the new one, not the one its page rendered.
 */
export async function GET() {
  const headers = { 'cache-control': 'private, no-store' }
  const session = await readTokenSession()
  if (!session?.sub) return NextResponse.json({ error: 'not signed in' }, { status: 401, headers })
  const local = appEnv().providers.find((provider) => provider.id === 'oidc' && isLoopbackHostname(new URL(provider.issuer).hostname))
  const { expiresAt } = session
  if (!local || local.id !== 'oidc')
    return NextResponse.json({ error: 'only the local provider serves its counters', expiresAt }, { status: 404, headers })
  try {
    return NextResponse.json({ ...(await providerHooks(local.issuer).stats(session.sub)), expiresAt }, { headers })
  } catch {
    return NextResponse.json(
      { error: 'the provider serves no counters (started without its test hooks)', expiresAt },
      { status: 404, headers },
    )
  }
}
