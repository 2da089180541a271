/**
 * Whether a URL hostname is this machine (`localhost`, `127.x.x.x`, `[::1]`): the only place plain
 * http is acceptable for a provider or a store (local providers, tests).
 */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}
