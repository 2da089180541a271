import Link from 'next/link'

export default function HomePage() {
  return (
    <main>
      <h1>next-auth v4 · edge refresh example</h1>
      <Link href="/protected">Protected page</Link>
    </main>
  )
}
