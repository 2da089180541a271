/** Which requests may be redirected to sign-in: only top-level page navigations. */
import { describe, expect, it } from 'vitest'
import { classifyRequest } from '../lib/next/request-kind'

const request = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  new Request(`http://app.test${path}`, { method, headers })

describe('classifyRequest', () => {
  it('a browser navigation (fetch metadata, or HTML accepted without it)', () => {
    expect(classifyRequest(request('/page', { 'sec-fetch-mode': 'navigate' }))).toBe('navigation')
    expect(classifyRequest(request('/page', { accept: 'text/html,application/xhtml+xml' }))).toBe('navigation')
  })

  it('what cannot follow a redirect to an HTML page', () => {
    expect(classifyRequest(request('/page', { 'next-action': 'abc', 'sec-fetch-mode': 'navigate' }, 'POST'))).toBe('server-action')
    expect(classifyRequest(request('/page', { 'next-router-prefetch': '1' }))).toBe('prefetch')
    expect(classifyRequest(request('/page', { purpose: 'prefetch' }))).toBe('prefetch')
    expect(classifyRequest(request('/page', { 'sec-purpose': 'prefetch;prerender' }))).toBe('prefetch')
    expect(classifyRequest(request('/page', { rsc: '1', 'sec-fetch-mode': 'cors' }))).toBe('rsc')
    expect(classifyRequest(request('/page?_rsc=x'))).toBe('rsc')
    expect(classifyRequest(request('/api/me', { 'sec-fetch-mode': 'navigate' }))).toBe('api')
    expect(classifyRequest(request('/api'))).toBe('api')
  })

  it('anything else: non-GET, cors fetches, no metadata and no HTML', () => {
    expect(classifyRequest(request('/page', { 'sec-fetch-mode': 'navigate' }, 'POST'))).toBe('other')
    expect(classifyRequest(request('/page', { 'sec-fetch-mode': 'cors' }))).toBe('other')
    expect(classifyRequest(request('/page', { accept: 'application/json' }))).toBe('other')
    expect(classifyRequest(request('/apiary', { accept: 'text/html' }))).toBe('navigation')
  })
})
