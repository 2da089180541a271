/**
 * Debian's Chromium for the browser tests (playwright-core drives it; `npx playwright install`
 * cannot download a browser here), with the flags a closed network needs. Node only.
 */
import { accessSync, constants } from 'node:fs'

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
