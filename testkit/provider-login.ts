/**
 * The local provider's own login and consent pages (oidc-provider's development interactions),
 * driven in a browser page: what a user does between "Sign in" and the app's callback.
 */
import type { Page } from 'playwright-core'

/**
 * Waits for the provider's page, logs in as `login` (any password) unless the provider already
 * has a session, and consents: oidc-provider grants offline_access (a refresh token) only after
 * explicit consent.
 */
export async function loginAtProvider(page: Page, issuer: string, login: string): Promise<void> {
  await page.waitForURL((url) => url.origin === issuer)
  const loginField = page.locator('input[name="login"]')
  const consent = page.locator('input[name="prompt"][value="consent"]')
  // A second sign-in finds the provider's own session: no login form, straight to consent.
  await loginField.or(consent).first().waitFor({ state: 'attached' })
  if (await loginField.count()) {
    await loginField.fill(login)
    await page.locator('input[name="password"]').fill('any password')
    await page.locator('button[type="submit"]').click()
  }
  await consent.waitFor({ state: 'attached' })
  await page.locator('button[type="submit"]').click()
}
