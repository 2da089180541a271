/**
 * OpenNext's Cloudflare adapter with its defaults: no incremental cache (every page here is
 * dynamic), no queue, no tag cache. `opennextjs-cloudflare build` reads this file.
 */
import { defineCloudflareConfig } from '@opennextjs/cloudflare'

export default defineCloudflareConfig()
