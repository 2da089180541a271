import { SessionPanel } from '@/app/_components/session-panel'

export const metadata = { title: 'Another protected page · edge refresh demo' }

export default function OtherProtectedPage() {
  return <SessionPanel path="/protected/other" title="Another protected page" />
}
