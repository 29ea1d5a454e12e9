// One side of `npm run bench:otel` (a child process each, since the telemetry SDK is per process):
// with BENCH_OTEL=on the SDK (spans to an in-process exporter that drops them, metrics for
// Prometheus) runs; with off, @opentelemetry/api stays a no-op. Prints the load result as JSON.
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../platform/config.ts';
import { startTelemetry } from '../platform/telemetry.ts';
import { benchEnvironment, load, scratchDatabase, signUp, startBenchService } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const on = process.env.BENCH_OTEL === 'on';

// Spans are built and handed to an exporter as in production, which here just drops them.
const dropping: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
const telemetry = on
  ? await startTelemetry({
      serviceName: 'vialog-bench',
      metricsPort: 0,
      spanProcessors: [new BatchSpanProcessor({ exporter: dropping })],
    })
  : undefined;

const scratch = await scratchDatabase('otel');
const url = scratch.url;
const config = loadConfig({
  ...benchEnvironment(url),
});
const service = await startBenchService(config);
const api = `${service.url!}/api/v1`;
try {
  const accessToken = await signUp(api, 'bench_otel');
  const body = JSON.stringify({
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: new Date().toISOString().slice(0, 10),
    storageLocation: 'shelf-1',
  });
  const result = await load({
    url: `${api}/samples`,
    connections: 32,
    seconds: SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body,
  });
  process.stdout.write(JSON.stringify(result));
} finally {
  await service.stop();
  await telemetry?.shutdown();
  await scratch.drop();
}
