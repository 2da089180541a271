/** Calls the provider's userinfo endpoint with an access token: proof that the token works now. */
export interface UserinfoResult {
  /** HTTP status of userinfo, or 0 when it could not be reached. */
  status: number
  sub: string
}

export async function fetchUserinfo(issuer: string, accessToken: string): Promise<UserinfoResult> {
  try {
    const discovery: unknown = await (await fetch(`${issuer}/.well-known/openid-configuration`, { cache: 'no-store' })).json()
    if (
      typeof discovery !== 'object' ||
      discovery === null ||
      !('userinfo_endpoint' in discovery) ||
      typeof discovery.userinfo_endpoint !== 'string'
    ) {
      return { status: 0, sub: '' }
    }
    const response = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` }, cache: 'no-store' })
    const claims: unknown = response.ok ? await response.json() : null
    const sub = typeof claims === 'object' && claims !== null && 'sub' in claims && typeof claims.sub === 'string' ? claims.sub : ''
    return { status: response.status, sub }
  } catch {
    return { status: 0, sub: '' }
  }
}
