// One request, one trace: POST /samples gives an HTTP span, an append span and a projection span
// sharing the request id, the projection span linked to the append span; /metrics shows the
// route's duration histogram and the projection lag gauge.
import test from 'ava';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { SpanStatusCode } from '@opentelemetry/api';
import { inSpan, startTelemetry, type Telemetry } from '../../platform/telemetry.ts';
import { redisSkipReason, testRedisUrl } from '../support/database.ts';
import { call, newUser, startTestService, type TestService } from '../support/service.ts';

const spans = new InMemorySpanExporter();
let telemetry: Telemetry;
const redisUrl = testRedisUrl();
if (!redisUrl) console.log(`[skip] Redis command spans: ${redisSkipReason()}`);

// The service starts after telemetry, so that its HTTP and pg instrumentation is in place.
let svc: TestService;
test.before(async () => {
  telemetry = await startTelemetry({
    serviceName: 'vialog-test',
    metricsPort: 0,
    spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
  });
  // With Redis the rate limiter runs there, so the request makes Redis commands to trace.
  // The production pool size, not the tests' 4: a query queued for a connection resumes in the
  // context of the request that released the connection, and its spans would join that trace.
  svc = await startTestService({ DATABASE_POOL_MAX: '20', ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
});
test.after.always(async () => {
  await svc?.stop();
  await telemetry?.shutdown();
});

test.serial('POST /samples: HTTP span, append span, projection span linked to it, one request id', async (t) => {
  const user = await newUser(svc.api, 'traced');
  spans.reset();
  const requestId = `trace-me-${Date.now()}`;
  const r = await call(svc.api, 'POST', '/samples', {
    token: user.accessToken,
    body: { sampleType: 'blood', subjectId: 'T001', collectionDate: new Date().toISOString().slice(0, 10) },
    headers: { 'x-request-id': requestId },
  });
  t.is(r.status, 201);
  // Projections run after the answer (the audit projection is not waited for): poll for their spans.
  const applied = (name: string) => (s: ReturnType<typeof spans.getFinishedSpans>[number]) =>
    s.name === name && ((s.attributes['vialog.request_ids'] as string[] | undefined) ?? []).includes(requestId);
  let finished = spans.getFinishedSpans();
  for (
    let i = 0;
    i < 200 && !(finished.some(applied('projection samples')) && finished.some(applied('projection audit')));
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    finished = spans.getFinishedSpans();
  }
  const http = finished.find((s) => s.name === 'POST /api/v1/samples/' || s.name === 'POST /api/v1/samples');
  t.truthy(http, finished.map((s) => s.name).join(', '));
  t.is(http!.attributes['vialog.request_id'], requestId);
  t.is(http!.attributes['http.response.status_code'], 201);
  // The sample's own append (its barcode's reservation is appended before it, in the same trace).
  const append = finished.find(
    (s) =>
      s.name === 'eventstore.append' &&
      s.attributes['vialog.request_id'] === requestId &&
      (s.attributes['vialog.event_types'] as string[] | undefined)?.includes('SampleRegistered'),
  )!;
  t.truthy(append);
  t.deepEqual(append.attributes['vialog.event_types'], ['SampleRegistered']);
  t.is(append.spanContext().traceId, http!.spanContext().traceId, 'the append is part of the request trace');
  t.is(append.parentSpanContext?.spanId, http!.spanContext().spanId);
  // The reservation may be applied in a batch of its own: the span that applied the sample's event links to its append.
  const linksToAppend = (span: (typeof finished)[number]) =>
    span.links.some(
      (l) => l.context.spanId === append.spanContext().spanId && l.context.traceId === append.spanContext().traceId,
    );
  for (let i = 0; i < 200 && !finished.some((s) => applied('projection samples')(s) && linksToAppend(s)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    finished = spans.getFinishedSpans();
  }
  const projection = finished.find((s) => applied('projection samples')(s) && linksToAppend(s))!;
  t.truthy(projection, 'the projection span links to the append span');
  const audit = finished.find(applied('projection audit'));
  t.truthy(audit, 'the audit projection too');

  // Postgres: the append's INSERT is a child of the append span; the projection's writes are
  // children of the projection span. Statements carry no parameter values.
  const queriesUnder = (parent: (typeof finished)[number]) =>
    finished.filter(
      (s) => s.name.startsWith('pg.query') && s.parentSpanContext?.spanId === parent.spanContext().spanId,
    );
  const appendQueries = queriesUnder(append);
  t.true(appendQueries.length > 0, 'the append made a traced Postgres query');
  t.regex(
    String(appendQueries[0]!.attributes['db.query.text'] ?? appendQueries[0]!.attributes['db.statement']),
    /insert/i,
  );
  t.false(
    appendQueries.some((s) =>
      Object.keys(s.attributes).some((k) => k.startsWith('db.query.parameter') || k === 'db.postgresql.values'),
    ),
    'no parameter values',
  );
  t.true(queriesUnder(projection).length > 0, 'the projection batch made traced Postgres queries');
});

(redisUrl ? test.serial : test.serial.skip)(
  'Redis commands made by a request are spans of its trace, recorded without keys',
  async (t) => {
    const user = await newUser(svc.api, 'redis-traced');
    spans.reset();
    const r = await call(svc.api, 'GET', '/samples', { token: user.accessToken });
    t.is(r.status, 200);
    const finished = spans.getFinishedSpans();
    const http = finished.find((s) => s.name.startsWith('GET /api/v1/samples'))!;
    t.truthy(http, finished.map((s) => s.name).join(', '));
    const commands = finished.filter(
      (s) => s.attributes['db.system'] === 'redis' || s.attributes['db.system.name'] === 'redis',
    );
    t.true(commands.length > 0, finished.map((s) => s.name).join(', '));
    t.true(
      commands.every((s) => s.spanContext().traceId === http.spanContext().traceId),
      'in the request trace',
    );
    for (const command of commands) {
      const text = command.attributes['db.query.text'] ?? command.attributes['db.statement'];
      const statement = typeof text === 'string' ? text : '';
      t.notRegex(statement, new RegExp(user.id), 'no key naming the user');
    }
  },
);

test.serial(
  '/metrics: the route histogram, events appended, projection lag and failure, the horizon, event-loop lag',
  async (t) => {
    const user = await newUser(svc.api, 'metered');
    await call(svc.api, 'GET', '/samples', { token: user.accessToken });
    const text = await (await fetch(telemetry.metricsUrl!)).text();
    t.regex(text, /http_server_request_duration_bucket\{[^}]*http_route="\/api\/v1\/samples"/);
    t.regex(
      text,
      /http_server_request_duration_count\{[^}]*http_route="\/api\/v1\/samples",http_response_status_code="200"/,
    );
    t.regex(text, /vialog_events_appended_total\{[^}]*type="UserRegistered"/);
    t.regex(text, /vialog_projection_lag_events\{[^}]*projection="samples"/);
    t.regex(text, /vialog_projection_failed\{[^}]*projection="samples"[^}]*\} 0/);
    t.regex(text, /vialog_eventstore_horizon_age_seconds\{[^}]*\} \d/);
    t.regex(text, /vialog_eventstore_events_waiting\{[^}]*\} \d/);
    t.regex(text, /vialog_event_loop_lag\{/);
  },
);

test.serial(
  "a failed query's span keeps the SQLSTATE, not the driver's message (it can quote the value)",
  async (t) => {
    spans.reset();
    const failing = inSpan('quoting', {}, () => svc.service.infrastructure.knex.raw(`SELECT 'Jane Doe'::integer`));
    await t.throwsAsync(failing);
    const query = spans
      .getFinishedSpans()
      .find((s) => s.status.code === SpanStatusCode.ERROR && s.name.startsWith('pg.query'));
    t.truthy(query, 'the query span was recorded');
    t.is(query?.status.message, 'PostgreSQL error 22P02');
    t.false(JSON.stringify({ status: query?.status, events: query?.events }).includes('Jane'));
  },
);

test.serial('log lines written inside a request carry its trace and span ids', async (t) => {
  const requestId = `log-trace-${Date.now()}`;
  await call(svc.api, 'GET', '/samples', { headers: { 'x-request-id': requestId } });
  const line = svc.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.requestId === requestId && l.msg === 'request completed');
  t.truthy(line);
  t.regex(String(line!.traceId), /^[0-9a-f]{32}$/);
  t.regex(String(line!.spanId), /^[0-9a-f]{16}$/);
});
