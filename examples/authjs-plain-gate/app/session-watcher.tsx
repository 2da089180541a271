'use client'

/**
 * Where the client watcher goes: a client component in the root layout (app/layout.tsx), so every
 * page has it. When the refresh finds the login ended (the provider refused the refresh token), the
 * session says so and the user goes to this app's own sign-in page, back to where they were after.
 * It imports from `next-auth-edge-refresh/client`, the package's client-safe entry.
 */
import { isLoginEnded } from 'next-auth-edge-refresh/client'
import { SessionProvider, useSession } from 'next-auth/react'
import { usePathname, useRouter } from 'next/navigation'
import { useEffect } from 'react'

function Watch() {
  const { data: session } = useSession()
  const pathname = usePathname()
  const router = useRouter()
  useEffect(() => {
    if (isLoginEnded(session) && pathname !== '/login') router.replace(`/login?from=${encodeURIComponent(pathname)}`)
  }, [session, pathname, router])
  return null
}

export function SessionWatcher() {
  return (
    <SessionProvider>
      <Watch />
    </SessionProvider>
  )
}
