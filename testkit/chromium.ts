/**
 * Debian's Chromium for the browser tests (playwright-core drives it; `npx playwright install`
 * cannot download a browser here), with the flags a closed network needs. Node only.
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

/** Headless, as root, and without the background connections a closed network refuses. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Throws a one-line instruction when Chromium is not installed. */
export function requireChromium(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK)
  } catch {
    throw new Error('chromium not found: run `apt-get install -y chromium`')
  }
}

/** A browser context with its own empty profile; `close` also removes the profile. */
export interface ChromiumSession {
  context: BrowserContext
  close(): Promise<void>
}

/**
 * Launches Chromium with a fresh profile (cookies start empty), after {@link requireChromium}.
 * @param defaultTimeoutMs Every wait of the context is bounded by this.
 */
export async function launchChromium(viewport: { width: number; height: number }, defaultTimeoutMs: number): Promise<ChromiumSession> {
  requireChromium()
  const userDataDir = mkdtempSync(join(tmpdir(), 'edge-refresh-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  })
  context.setDefaultTimeout(defaultTimeoutMs)
  return {
    context,
    async close() {
      await context.close().catch(() => undefined)
      rmSync(userDataDir, { recursive: true, force: true })
    },
  }
}
