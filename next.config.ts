import type { NextConfig } from 'next'
import { PHASE_DEVELOPMENT_SERVER, PHASE_PRODUCTION_BUILD, PHASE_PRODUCTION_SERVER } from 'next/constants'
import { checkEnvAtStartup } from './env'

export default function nextConfig(phase: string): NextConfig {
  // Fail at boot with one error that names every missing or malformed variable (see env.ts).
  if (phase === PHASE_DEVELOPMENT_SERVER) checkEnvAtStartup('dev')
  else if (phase === PHASE_PRODUCTION_SERVER) checkEnvAtStartup('start')
  else if (phase === PHASE_PRODUCTION_BUILD) checkEnvAtStartup('build')
  return {
    reactStrictMode: true,
    poweredByHeader: false,
  }
}
