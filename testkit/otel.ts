/**
 * An OpenTelemetry SDK held in memory, for the telemetry tests and the telemetry benchmark: a
 * `BasicTracerProvider` whose spans go to an `InMemorySpanExporter` through a `SimpleSpanProcessor`
 * (each span is exported when it ends), and a `MeterProvider` with a reader that collects on
 * demand. Pass `{ tracer, meter }` to `openTelemetry()` of `next-auth-edge-refresh/otel`, or
 * {@link InMemoryOtel.register} it as the global SDK.
 *
 * Nothing here is global unless `register()` is called.
 */
import { metrics, trace, type Attributes, type AttributeValue, type Meter, type Tracer } from '@opentelemetry/api'
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'

/** A metric reader that exports nowhere: the test collects when it wants to look. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/** One data point of one metric, flattened. `value` is the sum of a counter, or a histogram's count, sum, min and max. */
export interface Point {
  metric: string
  attributes: Attributes
  value: number | { count: number; sum: number | undefined; min: number | undefined; max: number | undefined }
}

/** A finished span, flattened to what the tests look at. */
export interface FinishedSpan {
  name: string
  attributes: Attributes
  events: Array<{ name: string; attributes: Attributes }>
  status: { code: number; message?: string }
  spanId: string
  traceId: string
  parentSpanId: string | undefined
}

/** An in-memory SDK: its tracer and meter, and what they recorded. */
export interface InMemoryOtel {
  tracer: Tracer
  meter: Meter
  /** Every span ended so far, in the order they ended. */
  spans(): FinishedSpan[]
  /** Every data point of every metric, as of now (cumulative since creation: make one per test). */
  points(): Promise<Point[]>
  /**
   * The sum of a counter (or the count of a histogram) over the points whose attributes include
   * every entry of `where`.
   */
  total(metric: string, where?: Attributes): Promise<number>
  /** Installs this SDK as the global tracer and meter provider (`trace` / `metrics` of `@opentelemetry/api`). */
  register(): void
  /** Removes the global providers again, and shuts down. */
  shutdown(): Promise<void>
}

/** Creates an {@link InMemoryOtel}. The instrumentation scope is `scope` (default `next-auth-edge-refresh`). */
export function inMemoryOtel(scope = 'next-auth-edge-refresh'): InMemoryOtel {
  const exporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const reader = new OnDemandReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const tracer = tracerProvider.getTracer(scope)
  const meter = meterProvider.getMeter(scope)
  let registered = false

  const points = async (): Promise<Point[]> => {
    const { resourceMetrics, errors } = await reader.collect()
    if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`)
    return resourceMetrics.scopeMetrics.flatMap((scopeMetrics) =>
      scopeMetrics.metrics.flatMap((metric) =>
        (metric.dataPoints as Array<DataPoint<number | Histogram>>).map((point) => ({
          metric: metric.descriptor.name,
          attributes: point.attributes,
          value:
            typeof point.value === 'number'
              ? point.value
              : { count: point.value.count, sum: point.value.sum, min: point.value.min, max: point.value.max },
        })),
      ),
    )
  }

  return {
    tracer,
    meter,
    spans: () =>
      exporter.getFinishedSpans().map((span: ReadableSpan) => ({
        name: span.name,
        attributes: span.attributes,
        events: span.events.map((event) => ({ name: event.name, attributes: event.attributes ?? {} })),
        status: { code: span.status.code, ...(span.status.message === undefined ? {} : { message: span.status.message }) },
        spanId: span.spanContext().spanId,
        traceId: span.spanContext().traceId,
        parentSpanId: span.parentSpanContext?.spanId,
      })),
    points,
    async total(metric, where = {}) {
      let sum = 0
      for (const point of await points()) {
        if (point.metric !== metric) continue
        if (!Object.entries(where).every(([key, value]) => point.attributes[key] === value)) continue
        sum += typeof point.value === 'number' ? point.value : point.value.count
      }
      return sum
    },
    register() {
      trace.setGlobalTracerProvider(tracerProvider)
      metrics.setGlobalMeterProvider(meterProvider)
      registered = true
    },
    async shutdown() {
      if (registered) {
        trace.disable()
        metrics.disable()
      }
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()])
    },
  }
}

/** Every string an attribute value holds (arrays flattened), for scanning. */
function attributeStrings(value: AttributeValue | undefined): string[] {
  if (value === undefined || value === null) return []
  if (Array.isArray(value)) return value.flatMap((item) => (item === null || item === undefined ? [] : [String(item)]))
  return [String(value)]
}

/** Where a secret was found: which span / event / metric, which attribute (or name, status message). */
export interface Leak {
  where: string
  key: string
  secret: string
}

/**
 * Scans every attribute key and value of every span, span event and metric data point, and every
 * span name, event name and status message, for any of `secrets` (substring match). Returns every
 * hit; an empty list means nothing leaked. Also returns how many values it looked at, so a test can
 * check that the scan was not vacuous.
 */
export function scanForSecrets(spans: FinishedSpan[], points: Point[], secrets: readonly string[]): { leaks: Leak[]; scanned: number } {
  const leaks: Leak[] = []
  let scanned = 0
  const check = (where: string, key: string, text: string) => {
    scanned++
    for (const secret of secrets) if (secret.length > 0 && text.includes(secret)) leaks.push({ where, key, secret })
  }
  const checkAttributes = (where: string, attributes: Attributes) => {
    for (const [key, value] of Object.entries(attributes)) {
      check(where, `${key} (key)`, key)
      for (const text of attributeStrings(value)) check(where, key, text)
    }
  }
  for (const span of spans) {
    const where = `span ${span.name}`
    check(where, '(name)', span.name)
    if (span.status.message !== undefined) check(where, '(status message)', span.status.message)
    checkAttributes(where, span.attributes)
    for (const event of span.events) {
      check(`${where} event ${event.name}`, '(name)', event.name)
      checkAttributes(`${where} event ${event.name}`, event.attributes)
    }
  }
  for (const point of points) checkAttributes(`metric ${point.metric}`, point.attributes)
  return { leaks, scanned }
}
