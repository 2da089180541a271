/**
 * `npm run dev`: one command, nothing to set up.
 *
 * When no sign-in provider is configured in the environment (see env.ts), starts the embedded
 * OpenID provider on 127.0.0.1:9400 (access tokens live 30 s, refresh tokens rotate on every use,
 * client `edge-refresh-demo`), then runs `next dev` on 127.0.0.1:3000 with NEXTAUTH_URL set.
 * With a provider configured it only runs `next dev`. Ctrl-C (or SIGTERM) stops both.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { DEMO_PROVIDER, EnvError, loadEnv, type AppEnv } from '../env'
import { startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'

const APP_HOST = '127.0.0.1'
const APP_PORT = 3000
/** How long `next dev` may take to exit after a signal before it is killed. */
const STOP_TIMEOUT_MS = 10_000
/** Access-token lifetime of the embedded provider: short, so a refresh is seen within a minute. */
const DEMO_ACCESS_TOKEN_TTL_SECONDS = 30

const root = fileURLToPath(new URL('..', import.meta.url))

/** Which refresh store the app will use (env.ts's precedence), without the URL's credentials. */
function storeLabel(env: AppEnv): string {
  if (env.redis) return `Redis over TCP (REDIS_URL, ${env.redis.client})`
  if (env.upstash) return `Upstash (${env.upstash.source}_*)`
  return 'memory (this process only)'
}

async function main(): Promise<number> {
  let env: AppEnv
  try {
    env = loadEnv()
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(error.message)
      return 1
    }
    throw error
  }

  const appUrl = env.url ?? DEMO_PROVIDER.appUrl
  let provider: LocalProvider | undefined
  if (env.demo) {
    try {
      provider = await startLocalProvider({
        port: DEMO_PROVIDER.port,
        accessTokenTtlSeconds: DEMO_ACCESS_TOKEN_TTL_SECONDS,
        // Loopback-only counters for the protected page's storm panel (GET /__test/stats).
        testHooks: true,
        clients: [
          {
            client_id: DEMO_PROVIDER.clientId,
            client_secret: DEMO_PROVIDER.clientSecret,
            redirect_uris: [`${appUrl}/api/auth/callback/oidc`, `http://${APP_HOST}:${APP_PORT}/api/auth/callback/oidc`],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
      })
    } catch (error) {
      const code = (error as { code?: string }).code
      console.error(
        code === 'EADDRINUSE'
          ? `Port ${DEMO_PROVIDER.port} is in use: stop whatever listens there (an earlier \`npm run dev\`?) or configure a real provider (see .env.example).`
          : `Could not start the local OpenID provider: ${error instanceof Error ? error.message : String(error)}`,
      )
      return 1
    }
    console.log(
      `[dev] local OpenID provider: ${provider.issuer} (client ${DEMO_PROVIDER.clientId}, access tokens live ${DEMO_ACCESS_TOKEN_TTL_SECONDS} s, any login name works)`,
    )
  } else {
    console.log(`[dev] providers from the environment: ${env.providers.map((p) => p.id).join(', ')}`)
  }
  console.log(`[dev] refresh store: ${storeLabel(env)}; secret: ${env.secretSource}`)
  console.log(`[dev] open ${appUrl}`)

  const nextBin = createRequire(import.meta.url).resolve('next/dist/bin/next')
  const child = spawn(process.execPath, [nextBin, 'dev', '--hostname', APP_HOST, '--port', String(APP_PORT)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NEXTAUTH_URL: appUrl },
  })

  const stopChild = (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS).unref()
  }
  let stopping = false
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      console.log(`\n[dev] ${signal}: stopping`)
      stopChild(signal)
    })
  }

  const code = await exitCodeOf(child)
  if (provider) await provider.stop()
  return code
}

function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('error', (error) => {
      console.error(`[dev] could not run next dev: ${error.message}`)
      resolve(1)
    })
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1)))
  })
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
