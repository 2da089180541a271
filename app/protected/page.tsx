import { SessionPanel } from '@/app/_components/session-panel'

export const metadata = { title: 'Protected · edge refresh demo' }

export default function ProtectedPage() {
  return <SessionPanel path="/protected" title="Protected page" />
}
