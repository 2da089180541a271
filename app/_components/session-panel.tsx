import Link from 'next/link'
import { redirect } from 'next/navigation'
import { SIGN_IN_PATH } from '@/auth'
import { readTokenSession } from '@/app/_server/session'
import { callUserinfo } from '@/app/_server/userinfo'
import { appEnv } from '@/env'
import { Clock, Countdown } from './countdown'
import { SessionErrorWatcher } from './session-error'
import { StormPanel } from './storm-panel'
import { ApiMeButton, ServerActionButton } from './userinfo-buttons'

const PAGES = [
  { path: '/protected', label: 'Protected' },
  { path: '/protected/other', label: 'Another protected page' },
] as const

/**
 * The body of both protected pages: who is signed in, the access token's state, and a live
 * userinfo call made with that token during this render. Every value is also exposed as a
 * `data-*` attribute on `[data-testid=session-state]` for the browser tests (the token itself never is).
 */
export async function SessionPanel({ path, title }: { path: (typeof PAGES)[number]['path']; title: string }) {
  const session = await readTokenSession()
  if (!session) redirect(`${SIGN_IN_PATH}?callbackUrl=${encodeURIComponent(path)}`)
  const userinfo = session.error ? undefined : await callUserinfo(session)
  const renderedAt = Math.floor(Date.now() / 1000)

  return (
    <section
      className="panel"
      data-testid="session-state"
      data-page={path}
      data-sub={session.sub ?? ''}
      data-provider={session.provider ?? ''}
      data-fingerprint={session.fingerprint}
      data-expires-at={session.expiresAt}
      data-rendered-at={renderedAt}
      data-error={session.error ?? ''}
      data-userinfo-status={userinfo?.status ?? ''}
      data-userinfo-sub={userinfo?.sub ?? ''}
    >
      <SessionErrorWatcher serverError={session.error} provider={session.provider} callbackUrl={path} />
      <h1>{title}</h1>
      <nav className="tabs" aria-label="Protected pages">
        {PAGES.map((page) =>
          page.path === path ? (
            <span key={page.path} className="tab current" aria-current="page">
              {page.label}
            </span>
          ) : (
            // Default (auto) prefetch: only the route tree is fetched ahead (through the middleware,
            // as prefetch requests); the page itself renders on click, so it shows the current token.
            <Link key={page.path} href={page.path} className="tab" data-testid={`link-${page.path.replaceAll('/', '-').slice(1)}`}>
              {page.label}
            </Link>
          ),
        )}
        <Link href="/" className="tab">
          Home
        </Link>
      </nav>

      <dl className="facts">
        <dt>Signed in as</dt>
        <dd data-testid="user">
          {session.name ?? session.sub ?? 'unknown'}
          {session.email ? <span className="muted"> · {session.email}</span> : null}
        </dd>
        <dt>Provider</dt>
        <dd data-testid="provider">{session.provider ?? 'unknown'}</dd>
        <dt>Access token</dt>
        <dd>
          <code data-testid="token-fingerprint" title="First 8 hex characters of SHA-256(access token)">
            sha256:{session.fingerprint}
          </code>
        </dd>
        <dt>Expires</dt>
        <dd>
          <Clock at={session.expiresAt} testId="expires-at" /> · <Countdown expiresAt={session.expiresAt} />
        </dd>
        <dt>Last refreshed</dt>
        <dd data-testid="refreshed-at">
          {session.refreshedAt !== undefined ? (
            <Clock at={session.refreshedAt} />
          ) : session.writtenAt !== undefined ? (
            <>
              <Clock at={session.writtenAt} /> <span className="muted">(when the session cookie was last written)</span>
            </>
          ) : (
            'unknown'
          )}
        </dd>
        <dt>Userinfo</dt>
        <dd data-testid="userinfo">
          {userinfo === undefined ? (
            <span className="result fail">not called: the login has ended</span>
          ) : userinfo.ok ? (
            <span className="result ok">
              {userinfo.status} OK · sub <code data-testid="userinfo-sub">{userinfo.sub ?? '?'}</code>
            </span>
          ) : (
            <span className="result fail" data-testid="userinfo-error">
              {userinfo.status ?? 'no answer'} · {userinfo.error}
            </span>
          )}
        </dd>
        <dt>Rendered</dt>
        <dd>
          <Clock at={renderedAt} testId="rendered-at" />
        </dd>
      </dl>

      <h2>Calls from the browser</h2>
      <div className="probes">
        <ServerActionButton />
        <ApiMeButton />
      </div>

      {/* Database sessions (DATABASE_URL) are refreshed on Node, not by the edge middleware whose reports the panel shows. */}
      {path === '/protected' && !session.error && !appEnv().database ? <StormPanel expiresAt={session.expiresAt} /> : null}
    </section>
  )
}
