// Exporting 100,000 audit events streams in bounded memory, in NDJSON and CSV.
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import type { AppendResult } from '../../platform/eventstore/port.ts';
import { auditProjection } from '../../projections/audit/audit-read-model.ts';
import { auditRouters } from '../../modules/audit/routes.ts';
import { verifyAll } from '../../modules/audit/verify.ts';
import { listenAsAdmin, type RunningApp } from '../support/http.ts';
import { fixture, type Fixture } from './projections-fixtures.ts';

const EVENTS = 100_000;
let fx: Fixture;
let app: RunningApp;

test.before(async () => {
  fx = await fixture();
  const engine = fx.engine(auditProjection, { batchSize: 2_000 });
  engine.start();
  const owner = randomUUID();
  const cause = { ...systemCause(), actorId: owner, actorType: 'user' as const };
  let last: AppendResult | undefined;
  // 1,000 samples with 100 events each, appended 100 at a time.
  for (let s = 0; s < 1_000; s += 20) {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, k) => {
        const sampleId = randomUUID();
        return fx.store.append(
          `sample-${sampleId}`,
          Array.from({ length: 100 }, (_, i) => ({
            type: 'SampleMoved',
            data: {
              sampleId,
              ownerId: owner,
              from: `shelf-${i}`,
              to: `shelf-${i + 1}`,
              movedAt: new Date().toISOString(),
              note: `sample ${s + k} move ${i}`,
            },
            metadata: eventMetadata(cause, 1),
          })),
          { expectedRevision: 'no_stream' },
        );
      }),
    );
    last = results.at(-1);
  }
  if (!(await engine.waitForProjections(['audit'], last!.position, { timeoutMs: 120_000 })))
    throw new Error('audit projection did not catch up');
  const vault = new PersonalDataVault(fx.knex, randomBytes(32));
  app = await listenAsAdmin(auditRouters({ knex: fx.knex, openapi: new OpenApiRegistry(), vault }), owner);
});
test.after.always(async () => {
  await app?.close();
  await fx?.teardown();
});

async function download(format: 'ndjson' | 'csv'): Promise<{ lines: number; bytes: number; heapGrowthMb: number }> {
  // Live memory, not garbage: collect before each sample (ava runs with --expose-gc).
  const live = () => {
    global.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const baseline = live();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, live())), 100);
  const response = await fetch(`${app.url}/api/v1/audit/export?format=${format}`);
  const reader = response.body!.getReader();
  let lines = 0;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    for (const byte of value) if (byte === 10) lines += 1;
  }
  clearInterval(sampler);
  return { lines, bytes, heapGrowthMb: (peak - baseline) / 1024 / 1024 };
}

test.serial(`NDJSON export of ${EVENTS.toLocaleString('en-US')} events: every line, bounded memory`, async (t) => {
  const r = await download('ndjson');
  t.is(r.lines, EVENTS);
  t.log(`${(r.bytes / 1024 / 1024).toFixed(0)} MB streamed, heap grew at most ${r.heapGrowthMb.toFixed(0)} MB`);
  // Held in memory, the export would take at least its size (JS strings: 2 bytes a character);
  // streamed, live memory stays near flat.
  t.true(r.heapGrowthMb < r.bytes / 1024 / 1024 / 4, 'the export was not held in memory');
});

test.serial(
  `CSV export of ${EVENTS.toLocaleString('en-US')} events: header plus every row, bounded memory`,
  async (t) => {
    const r = await download('csv');
    t.is(r.lines, EVENTS + 1);
    t.log(`${(r.bytes / 1024 / 1024).toFixed(0)} MB streamed, heap grew at most ${r.heapGrowthMb.toFixed(0)} MB`);
    t.true(r.heapGrowthMb < r.bytes / 1024 / 1024 / 4);
  },
);

test.serial(
  'verify recomputes both chains over all 100,000 events (many projection batches) and finds them whole',
  async (t) => {
    const started = Date.now();
    const result = await verifyAll(fx.knex);
    t.log(`verified in ${Date.now() - started} ms`);
    t.deepEqual(result, { ok: true, checkedEvents: EVENTS, firstBrokenPosition: null });
  },
);
