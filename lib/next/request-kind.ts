/**
 * What kind of request this is, as far as a redirect is concerned. Only a top-level page navigation
 * can follow a redirect to the sign-in page; React Server Component fetches, router prefetches,
 * server actions and API calls would receive the sign-in HTML as data and break.
 */
export type RequestKind = 'navigation' | 'rsc' | 'prefetch' | 'server-action' | 'api' | 'other'

/**
 * Classifies a request from the headers Next.js and browsers send.
 *
 * @param request Any Web `Request` (a `NextRequest` fits).
 */
export function classifyRequest(request: Request): RequestKind {
  const headers = request.headers
  const url = new URL(request.url)
  if (headers.has('next-action')) return 'server-action'
  if (
    headers.get('next-router-prefetch') === '1' ||
    headers.get('purpose') === 'prefetch' ||
    headers.get('sec-purpose')?.includes('prefetch')
  ) {
    return 'prefetch'
  }
  if (headers.get('rsc') === '1' || url.searchParams.has('_rsc')) return 'rsc'
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return 'api'
  if (request.method !== 'GET' && request.method !== 'HEAD') return 'other'
  const mode = headers.get('sec-fetch-mode')
  if (mode) return mode === 'navigate' ? 'navigation' : 'other'
  // Clients that send no fetch metadata: a request that prefers HTML is a navigation.
  return (headers.get('accept') ?? '').includes('text/html') ? 'navigation' : 'other'
}
