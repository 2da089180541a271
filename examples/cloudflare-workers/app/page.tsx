import Link from 'next/link'

export default function HomePage() {
  return (
    <main>
      <h1>Auth.js v5 on Cloudflare Workers · edge refresh example</h1>
      <Link href="/protected">Protected page</Link>
    </main>
  )
}
