import { NextResponse } from 'next/server'

/**
 * GET /api/storm/probe: what the storm panel sends N times at once. It does nothing itself: the
 * middleware in front of it refreshes (or not) and says how in the `x-edge-refresh` header.
 */
export function GET() {
  return NextResponse.json({ ok: true }, { headers: { 'cache-control': 'private, no-store' } })
}
