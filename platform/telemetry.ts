// OpenTelemetry for the whole process: traces (exported over OTLP only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing leaves the process otherwise) and metrics (Prometheus
// text on METRICS_PORT). Started once, before the app; everything else uses @opentelemetry/api.
//
// The request id ties it together: the HTTP span carries it, every appended event keeps it and the
// W3C traceparent of its append span in its metadata, and the projection span that applies the
// event links to that append span and carries the same request id.
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  context,
  metrics,
  propagation,
  trace,
  type Attributes,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
} from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';

export const tracer = () => trace.getTracer('vialog');
export const meter = () => metrics.getMeter('vialog');

export interface TelemetryOptions {
  readonly serviceName: string;
  /** Where /metrics listens; undefined: no metrics server (tests scrape the handler themselves). */
  readonly metricsPort?: number | undefined;
  readonly metricsHost?: string;
  readonly otlpEndpoint?: string | undefined;
  /** Extra span processors (tests: an in-memory exporter). */
  readonly spanProcessors?: readonly SpanProcessor[];
}

/**
 * The pg instrumentation puts the driver's error message into a failed query span's status, and
 * that message can quote the value that broke the write (`invalid input syntax for type integer:
 * "<value>"`): event content, personal data. Before any exporter sees the span, the status keeps
 * the SQLSTATE only.
 */
const databaseErrorScrubber: SpanProcessor = {
  onStart: () => undefined,
  onEnding: (span) => {
    if (span.status.code !== SpanStatusCode.ERROR || span.status.message === undefined) return;
    const system = span.attributes['db.system.name'] ?? span.attributes['db.system'];
    if (system !== 'postgresql') return;
    // The instrumentation's exception event is sanitised already: "... occurred (code: 22P02)".
    const recorded = span.events.map((e) => e.attributes?.['exception.message']).join(' ');
    const code = /\(code: ([0-9A-Z]{5})\)/.exec(recorded)?.[1];
    span.setStatus({ code: SpanStatusCode.ERROR, message: `PostgreSQL error${code ? ` ${code}` : ''}` });
  },
  onEnd: () => undefined,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

export interface Telemetry {
  /** The Prometheus text, as GET /metrics answers it. */
  readonly metricsUrl: string | undefined;
  readonly exporter: PrometheusExporter;
  shutdown(): Promise<void>;
}

let started: Telemetry | undefined;

/** Starts the SDK once per process; later calls get the same instance. */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  if (started) return started;
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const spanProcessors: SpanProcessor[] = [databaseErrorScrubber, ...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint)
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      }),
    );
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    metricReaders: [exporter],
    spanProcessors,
    instrumentations: clientInstrumentations(),
  });
  sdk.start();
  patchClientLibraries();
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (options.metricsPort !== undefined) {
    const s = createServer((req, res) => {
      if (req.url?.split('?')[0] === '/metrics') exporter.getMetricsRequestHandler(req, res);
      else {
        res.statusCode = 404;
        res.end('see /metrics\n');
      }
    });
    server = await new Promise<Server>((resolve, reject) => {
      s.once('error', reject);
      s.listen(options.metricsPort, options.metricsHost ?? '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    metricsUrl = `http://${options.metricsHost ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : options.metricsPort}/metrics`;
  }
  registerProcessMetrics();
  started = {
    metricsUrl,
    exporter,
    async shutdown() {
      server?.close();
      await sdk.shutdown();
      started = undefined;
    },
  };
  return started;
}

/**
 * Spans for every Postgres query and Redis command made inside a traced piece of work (a request, an
 * append, a projection batch); background polling outside any span stays untraced. Statements are
 * recorded without parameter values, Redis commands by name only: keys hold user ids, IPs and login
 * names, and traces must not carry personal data. Pool check-outs are not spans (they would double
 * the span count for no insight; pool waits show as query latency).
 */
function clientInstrumentations() {
  return [
    new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false, ignoreConnectSpans: true }),
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
  ];
}

/**
 * The instrumentations patch the client classes' prototypes when the package is loaded through
 * `require`. ESM `import` of these CommonJS packages bypasses that hook, so one `require` after the
 * SDK started patches the very prototypes the ESM importers already hold. (The alternative, the
 * import-in-the-middle loader hook via `--import`, costs about a second of start-up and rewrites
 * modules; for two CommonJS clients it buys nothing.)
 */
function patchClientLibraries(): void {
  const load = createRequire(import.meta.url);
  for (const name of ['pg', 'ioredis']) load(name);
}

function registerProcessMetrics(): void {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  meter()
    .createObservableGauge('vialog.event_loop.lag', {
      description: 'Event-loop delay, p99 over the last interval',
      unit: 's',
    })
    .addCallback((result) => {
      result.observe(histogram.percentile(99) / 1e9);
      histogram.reset();
    });
}

// --- helpers for the rest of the code base ---------------------------------------------------------

/** Runs `work` in a new active span; records errors; ends the span. */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : new Error(String(error)));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The W3C traceparent of the active span, or null when nothing is being traced. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** A link to the span a traceparent names (for a consumer running later: links, not parents). */
export function linkTo(traceparent: string | null | undefined, attributes?: Attributes): Link | undefined {
  if (!traceparent) return undefined;
  const spanContext = trace.getSpanContext(propagation.extract(context.active(), { traceparent }));
  return spanContext ? { context: spanContext, ...(attributes ? { attributes } : {}) } : undefined;
}

/** The active trace and span ids, for log lines. */
export function traceIds(): { traceId: string; spanId: string } | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && spanContext.traceId !== '00000000000000000000000000000000'
    ? { traceId: spanContext.traceId, spanId: spanContext.spanId }
    : undefined;
}

export { SpanKind, context, propagation, trace };
