// npm run bench:rebuild — rebuilding every read model from the first event: events/s, seconds
// and peak RSS, over BENCH_EVENTS events (default 1,000,000): per sample a registration, a move
// and a status change. Two figures: the first start (each projection catches up from the first
// event into its live tables, resumable batch by batch) and then `projections rebuild --all`
// (zero downtime: fresh tables, one shared read of the log, indexes built after the load, swap).
// Targets: ≥ 50,000 events/s and under 60 s. Env: BENCH_DATABASE_URL, BENCH_EVENTS, BENCH_PROJECTIONS
// (comma-separated projection names, to time one).
import { randomBytes, randomUUID } from 'node:crypto';
import { allProjections } from '../app/modules.ts';
import { PersonalDataVault } from '../platform/crypto/personal-data.ts';
import { createKnex } from '../platform/database/knex.ts';
import { eventMetadata, type CommandCause } from '../platform/eventstore/metadata.ts';
import { comparePositions, type Position } from '../platform/eventstore/port.ts';
import { openPostgresEventStore } from '../platform/eventstore/postgres.ts';
import { eventUpcasters } from '../app/upcasters.ts';
import { PartsProgress, Progress } from '../platform/progress.ts';
import { ProjectionEngine } from '../projections/engine/index.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import { cpuPerUnit, machineCpu, saveResult, scratchDatabase } from './support.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);

const scratch = await scratchDatabase('rebuild');
const url = scratch.url;
const knex = createKnex({ url: url, poolMax: 10 });
await migrateToLatest(knex);
const store = openPostgresEventStore({ url: url, poolMax: 10, upcasters: eventUpcasters() });
const vault = new PersonalDataVault(knex, randomBytes(32));
let peakRss = process.memoryUsage().rss;
const rssSampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

try {
  // Seed: samples of 100 owners, 3 events each, appended 3 at a time (one sample per append).
  const samples = Math.floor(EVENTS / 3);
  const owners = Array.from({ length: 100 }, () => randomUUID());
  const progress = new Progress('seeding events', samples * 3);
  let appended = 0;
  let last: Position | undefined;
  let next = 0;
  const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= samples) return;
        const ownerId = owners[i % owners.length]!;
        const sampleId = randomUUID();
        const cause: CommandCause = {
          actorId: ownerId,
          actorType: 'user',
          requestId: randomUUID(),
          correlationId: null,
          causationId: null,
          traceparent: null,
          reason: null,
        };
        const at = new Date().toISOString();
        const meta = () => eventMetadata(cause, 1);
        const result = await store.append(
          `sample-${sampleId}`,
          [
            {
              type: 'SampleRegistered',
              data: {
                sampleId,
                ownerId,
                sampleType: 'blood',
                subjectId: `P${100 + (i % 900)}`,
                collectionDate: day(i % 1000),
                status: 'collected',
                storageLocation: 'shelf-1',
                notes: null,
                registeredAt: at,
              },
              metadata: meta(),
            },
            {
              type: 'SampleMoved',
              data: { sampleId, ownerId, from: 'shelf-1', to: 'freezer-1-rowA', movedAt: at },
              metadata: meta(),
            },
            {
              type: 'SampleStatusChanged',
              data: { sampleId, ownerId, from: 'collected', to: 'processing', reason: null, changedAt: at },
              metadata: meta(),
            },
          ],
          { expectedRevision: 'no_stream' },
        );
        if (!last || comparePositions(result.position, last) > 0) last = result.position;
        appended += 3;
        progress.update(appended);
      }
    }),
  );
  progress.done();
  console.log(`seeded ${appended.toLocaleString('en-US')} events`);

  const only = process.env.BENCH_PROJECTIONS?.split(',');
  const engine = new ProjectionEngine({
    projections: allProjections(vault).filter((p) => !only || only.includes(p.name)),
    store,
    knex,
    databaseUrl: url,
    batchSize: 2_000,
  });
  if (engine.projections.length === 0)
    throw new Error(`BENCH_PROJECTIONS=${process.env.BENCH_PROJECTIONS ?? ''} names no projection`);
  engine.start();
  // The first start builds every read model from the first event: that is the rebuild we time.
  const names = engine.projections.map((p) => p.name);
  const projections = names.length;
  const mb = (bytes: number) => bytes / 1024 / 1024;
  const firstStarted = Date.now();
  const caughtUp = await engine.waitForProjections(names, last!, { timeoutMs: 60 * 60_000 });
  const firstSeconds = (Date.now() - firstStarted) / 1000;
  const firstPeakRss = peakRss;
  console.log(
    `first start: ${projections} read models caught up over ${appended.toLocaleString('en-US')} events in ${firstSeconds.toFixed(1)} s${caughtUp ? '' : ' (NOT caught up)'} = ${Math.round(appended / firstSeconds).toLocaleString('en-US')} events/s, peak RSS ${mb(firstPeakRss).toFixed(0)} MB`,
  );

  // What `npm run projections -- rebuild --all` does: every rebuild requested at once.
  peakRss = process.memoryUsage().rss;
  const cpuAtStart = machineCpu();
  const nodeCpuAtStart = process.cpuUsage();
  const started = Date.now();
  const rebuildProgress = new PartsProgress('rebuild --all (thousandths of the log read, summed)', names.length);
  await Promise.all(
    names.map((name) =>
      engine.rebuild(name, {
        timeoutMs: 60 * 60_000,
        onProgress: (fraction) => rebuildProgress.update(name, fraction),
      }),
    ),
  );
  rebuildProgress.done();
  const seconds = (Date.now() - started) / 1000;
  const perProjection = appended / seconds;
  const cpu = cpuPerUnit(cpuAtStart, appended, 'event');
  // The machine's busy time split: this process (the projections' Node work, GC threads included)
  // and everything else, which here is PostgreSQL (reading the log, writing the read models).
  const nodeCpu = process.cpuUsage(nodeCpuAtStart);
  const nodeMicrosPerEvent = (nodeCpu.user + nodeCpu.system) / appended;
  const otherMicrosPerEvent = cpu ? cpu.microsPerUnit - nodeMicrosPerEvent : undefined;
  await engine.stop();
  clearInterval(rssSampler);
  console.log(
    `rebuild --all: ${projections} read models rebuilt over ${appended.toLocaleString('en-US')} events in ${seconds.toFixed(1)} s`,
  );
  console.log(
    `= ${Math.round(perProjection).toLocaleString('en-US')} events/s through all read models at once (${Math.round(perProjection * projections).toLocaleString('en-US')} event applications/s); target ≥ 50,000 events/s, < 60 s`,
  );
  console.log(`peak RSS ${mb(peakRss).toFixed(0)} MB`);
  if (cpu) console.log(`${cpu.line} (target 50,000)`);
  if (cpu && otherMicrosPerEvent !== undefined) {
    console.log(
      `of which this Node process ${nodeMicrosPerEvent.toFixed(1)} µs per event, PostgreSQL (every other process) ${otherMicrosPerEvent.toFixed(1)} µs: PostgreSQL's share alone caps ${cpu.cores} cores at ${Math.round((cpu.cores * 1e6) / otherMicrosPerEvent).toLocaleString('en-US')} events/s`,
    );
  }
  saveResult('rebuild', {
    events: appended,
    seconds,
    eventsPerSecond: perProjection,
    projections,
    peakRssMb: mb(peakRss),
    cpuMicrosPerEvent: cpu?.microsPerUnit,
    nodeMicrosPerEvent,
    postgresMicrosPerEvent: otherMicrosPerEvent,
    firstStart: { seconds: firstSeconds, eventsPerSecond: appended / firstSeconds, peakRssMb: mb(firstPeakRss) },
  });
} finally {
  clearInterval(rssSampler);
  await store.close();
  await knex.destroy();
  await scratch.drop();
}
