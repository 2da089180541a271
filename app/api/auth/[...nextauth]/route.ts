import NextAuth from 'next-auth'
import type { NextRequest } from 'next/server'
import { getAuthOptions } from '@/auth'

interface RouteContext {
  params: Promise<{ nextauth: string[] }>
}

/** next-auth v4's App Router handler; the options are built on the first request (see auth.ts). */
function handler(request: NextRequest, context: RouteContext): Promise<Response> {
  return NextAuth(request, context, getAuthOptions())
}

export { handler as GET, handler as POST }
