/**
 * OpenTelemetry for the demo (Next.js calls `register()` once per server process). The package's
 * spans come from `telemetry: openTelemetry()` in refresh-options.ts; here the demo registers an
 * SDK that prints each span as one line in the `npm run dev` terminal, so a storm from the storm
 * panel shows its single flight in the terms production traces use: one `edge-refresh.refresh` per
 * request that did work, one `edge-refresh.provider.refresh` in all, the rest picked up.
 *
 * Development only: a production app registers its own SDK here (`registerOTel()` of
 * `@vercel/otel`, or a NodeSDK with an OTLP exporter; see docs/08-operations.md).
 */
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base'

/** Prints one line per span: trace id (8 characters), name, outcome attributes, duration. */
class OneLineSpanExporter implements SpanExporter {
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    for (const span of spans) {
      const [seconds, nanos] = span.duration
      const ms = (seconds * 1000 + nanos / 1e6).toFixed(1)
      const attributes = Object.entries(span.attributes)
        .map(([key, value]) => `${key.replace(/^edge_refresh\./, '')}=${String(value)}`)
        .join(' ')
      const child = span.parentSpanContext ? '  └ ' : ''
      console.log(`[otel] ${span.spanContext().traceId.slice(0, 8)} ${child}${span.name} ${attributes} ${ms} ms`)
    }
    done({ code: 0 })
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

export function register(): void {
  // The proxy runs on Node in Next 16; `next start` in production stays quiet.
  if (process.env.NEXT_RUNTIME !== 'nodejs' || process.env.NODE_ENV === 'production') return
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new OneLineSpanExporter())] }))
}
