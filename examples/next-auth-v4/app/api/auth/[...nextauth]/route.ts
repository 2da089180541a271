import NextAuth from 'next-auth'
import { authOptions } from '@/auth'

/** next-auth's handler, made on the first request: its options read the environment then. */
function handler(request: Request, context: { params: Promise<{ nextauth: string[] }> }): Promise<Response> {
  return NextAuth(authOptions())(request, context)
}

export { handler as GET, handler as POST }
