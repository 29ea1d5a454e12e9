// The labs phase of `npm run bench:samples` (BENCH_PHASES=labs): BENCH_LABS labs (100) of
// BENCH_LAB_SAMPLES samples (10,000), a user who is a member of 20 of them, and
//   (d) GET /samples?status=collected&limit=20 as that user (every lab of theirs, RLS transaction,
//       page + total) next to a plain Koa + pg endpoint of the same shape on the same data: the
//       same filter, order and page size over the same 20 labs, the total from the same
//       statistics table, no auth, no RLS (both sides after VACUUM ANALYZE)       target ≥ 0.7
//   (e) GET /samples/stats/overview?labId= for a lab of 100 and one of BENCH_BIG_LAB (100,000)
//                                                                                  must be flat
// Env: BENCH_LABS_SEED (tables | events, see sample-seed.ts), BENCH_ROUNDS (interleaved rounds of
// (d), default 3), BENCH_CPU_PROFILE_DIR (a CPU profile of the servers per side and round).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type pg from 'pg';
import type { EventStore } from '../platform/eventstore/port.ts';
import type { ProjectionEngine } from '../projections/engine/index.ts';
import { appendRegistrations, registration, seedLabTables } from './sample-seed.ts';
import {
  cpuPerUnit,
  load,
  machineCpu,
  median,
  postgresCpuSeconds,
  postJson as post,
  type LoadResult,
} from './support.ts';

const LABS = Number(process.env.BENCH_LABS ?? 100);
const LAB_SAMPLES = Number(process.env.BENCH_LAB_SAMPLES ?? 10_000);
const BIG_LAB = Number(process.env.BENCH_BIG_LAB ?? 100_000);
const MEMBER_OF = Math.min(20, LABS);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Where (d) writes a CPU profile of the server for each side and round (none when unset). */
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE_DIR;
/** `tables` (default): the read model written by PostgreSQL; `events`: through the event store and the projection. */
const SEED = process.env.BENCH_LABS_SEED ?? 'tables';

export interface LabsPhaseContext {
  readonly api: string;
  readonly store: EventStore;
  readonly engine: ProjectionEngine;
  readonly pool: pg.Pool;
  readonly seconds: number;
  readonly say: (line: string) => void;
  readonly step: (line: string) => void;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Person {
  readonly id: string;
  readonly username: string;
  readonly token: string;
}

/** A fresh account (of its own: no samples in its personal lab from the other phases). */
async function person(api: string, username: string): Promise<Person> {
  const password = `Quiet-Harbor-Lantern-${username.length}-kestrel`;
  const registered = await post(`${api}/auth/register`, { username, email: `${username}@lab.example`, password });
  const login = await post(`${api}/auth/login`, { login: username, password });
  return { id: String(registered.id), username, token: String(login.accessToken) };
}

type Phase = LabsPhaseContext & { readonly owner: Person; readonly member: Person };

async function makeLabs(ctx: Phase): Promise<string[]> {
  const labs: string[] = [];
  for (let i = 0; i < LABS + 2; i++)
    labs.push(String((await post(`${ctx.api}/labs`, { name: `Lab ${i}` }, ctx.owner.token)).id));
  const username = ctx.member.username;
  for (const labId of labs.slice(0, MEMBER_OF))
    await post(`${ctx.api}/labs/${labId}/members`, { username, role: 'viewer' }, ctx.owner.token);
  return labs;
}

/** The labs' samples, as events (through the projection) or straight into the read model; false: not caught up. */
async function seed(ctx: Phase, labs: { labId: string; count: number }[]): Promise<boolean> {
  if (SEED !== 'events') {
    await seedLabTables(ctx.pool, ctx.owner.id, labs);
    return true;
  }
  const work = labs.flatMap(({ labId, count }) => Array.from({ length: count }, (_, i) => ({ labId, i })));
  const last = await appendRegistrations(ctx.store, work, ({ labId, i }) => ({
    data: { ...registration(i, ctx.owner.id), labId },
    actorId: ctx.owner.id,
    schemaVersion: 2,
  }));
  return ctx.engine.waitForProjections(['samples'], last, { timeoutMs: 60 * 60_000 });
}

/** What a user would build without event sourcing: the same query shape, no auth, no RLS. */
async function plainList(pool: pg.Pool, labIds: readonly string[]): Promise<{ server: Server; url: string }> {
  const app = new Koa();
  const columns =
    'sample_id, lab_id, sample_type, subject_id, collection_date, status, storage_location, notes, created_at, updated_at, version';
  app.use(async (ctx) => {
    const page = await pool.query(
      `SELECT ${columns} FROM samples WHERE lab_id = ANY($1::uuid[]) AND deleted_at IS NULL AND status = 'collected'
        ORDER BY collection_date DESC, sample_id DESC LIMIT 21`,
      [labIds],
    );
    const total = await pool.query<{ total: number }>(
      'SELECT COALESCE(sum(collected), 0)::int AS total FROM sample_stats WHERE lab_id = ANY($1::uuid[])',
      [labIds],
    );
    ctx.body = {
      items: page.rows.slice(0, 20),
      nextCursor: page.rows.length > 20 ? 'x' : null,
      total: total.rows[0]!.total,
    };
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Busy CPU per request while `run` loads one side: the whole machine's, and this process's (the server under test). */
async function measured(
  side: string,
  run: () => Promise<LoadResult>,
  pool: pg.Pool,
): Promise<{ result: LoadResult; machine: number; node: number; postgres: number }> {
  const profile = PROFILE_DIR ? await startProfile() : undefined;
  const machineAtStart = machineCpu();
  const nodeAtStart = process.cpuUsage();
  const postgresAtStart = await postgresCpuSeconds(pool);
  const result = await run();
  const node = process.cpuUsage(nodeAtStart);
  const postgresAtEnd = await postgresCpuSeconds(pool);
  await profile?.(path.join(PROFILE_DIR!, `labs-list-${side}-${Date.now()}.cpuprofile`));
  const machine = cpuPerUnit(machineAtStart, result.total, 'request')?.microsPerUnit ?? Number.NaN;
  const postgres =
    postgresAtStart === undefined || postgresAtEnd === undefined
      ? Number.NaN
      : ((postgresAtEnd - postgresAtStart) * 1e6) / result.total;
  return { result, machine, node: (node.user + node.system) / result.total, postgres };
}

/**
 * (d): ours and the plain list, each warmed up, then in interleaved rounds (this machine drifts
 * from one minute to the next); the round with the median ratio is reported, CPU over all rounds.
 */
async function compareLists(ctx: Phase, plainUrl: string) {
  const roundSeconds = Math.max(3, Math.round(ctx.seconds / 2));
  const ours = (seconds = roundSeconds) =>
    load({
      url: `${ctx.api}/samples?status=collected&limit=20`,
      connections: 32,
      seconds,
      headers: { authorization: `Bearer ${ctx.member.token}` },
    });
  const plain = (seconds = roundSeconds) => load({ url: `${plainUrl}/list`, connections: 32, seconds });
  ctx.step('(d) warming up both lists, 2 s each');
  await ours(2);
  await plain(2);
  const rounds: { ours: Awaited<ReturnType<typeof measured>>; plain: Awaited<ReturnType<typeof measured>> }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    ctx.step(
      `(d) round ${round}/${ROUNDS}: GET /samples?status=collected&limit=20 as a member of ${MEMBER_OF} labs, then the plain list, 32 connections, ${roundSeconds} s each`,
    );
    rounds.push({
      ours: await measured('ours', () => ours(), ctx.pool),
      plain: await measured('plain', () => plain(), ctx.pool),
    });
  }
  const ratios = rounds.map((r) => r.ours.result.requestsPerSecond / r.plain.result.requestsPerSecond);
  const chosen = rounds[ratios.indexOf(median(ratios))]!;
  const cpuOf = (side: 'ours' | 'plain') => {
    const requests = rounds.reduce((n, r) => n + r[side].result.total, 0);
    const per = (key: 'machine' | 'node' | 'postgres') =>
      rounds.reduce((n, r) => n + r[side][key] * r[side].result.total, 0) / requests;
    return { machine: per('machine'), node: per('node'), postgres: per('postgres') };
  };
  return {
    ours: chosen.ours.result,
    baseline: chosen.plain.result,
    ratio: median(ratios),
    ratios,
    cpu: { ours: cpuOf('ours'), plain: cpuOf('plain') },
  };
}

/** A CPU profile of this process (the servers) from now until the returned function writes it. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

async function statsLatency(ctx: Phase, labId: string) {
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    const r = await fetch(`${ctx.api}/samples/stats/overview?labId=${labId}`, {
      headers: { authorization: `Bearer ${ctx.owner.token}` },
    });
    await r.arrayBuffer();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50Ms: times[Math.floor(times.length * 0.5)]!, p99Ms: times[Math.floor(times.length * 0.99)]! };
}

export async function runLabsPhase(context: LabsPhaseContext): Promise<Record<string, unknown>> {
  const ctx: Phase = {
    ...context,
    owner: await person(context.api, 'lab_owner'),
    member: await person(context.api, 'lab_member'),
  };
  ctx.step(`creating ${LABS + 2} labs; the member joins ${MEMBER_OF}`);
  const labs = await makeLabs(ctx);
  const [small, big] = [labs[LABS]!, labs[LABS + 1]!];
  const labSizes = [
    ...labs.slice(0, LABS).map((labId) => ({ labId, count: LAB_SAMPLES })),
    { labId: small, count: 100 },
    { labId: big, count: BIG_LAB },
  ];
  const total = labSizes.reduce((n, l) => n + l.count, 0);
  const started = Date.now();
  const caughtUp = await seed(ctx, labSizes);
  await ctx.pool.query('VACUUM ANALYZE samples, sample_stats, sample_daily_counts, lab_members');
  const seedSeconds = (Date.now() - started) / 1000;
  ctx.say(
    `seeded ${fmt(total)} samples in ${LABS + 2} labs (${SEED}): read model ready after ${seedSeconds.toFixed(0)} s${caughtUp ? '' : ' (NOT caught up)'}`,
  );

  const plain = await plainList(ctx.pool, labs.slice(0, MEMBER_OF));
  try {
    const { ours, baseline, ratio, ratios, cpu } = await compareLists(ctx, plain.url);
    ctx.say(
      `(d) GET /samples, ${MEMBER_OF} of ${LABS} labs: ${fmt(ours.requestsPerSecond)} req/s, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, non-2xx ${ours.non2xx}`,
    );
    ctx.say(
      `    plain Koa + pg, same shape: ${fmt(baseline.requestsPerSecond)} req/s, p50 ${baseline.p50Ms} ms, p99 ${baseline.p99Ms} ms`,
    );
    ctx.say(
      `    ratio ${ratio.toFixed(2)} (target ≥ 0.7; the median of ${ratios.length} interleaved rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    );
    ctx.say(
      `    CPU per request, ours / plain: the server's Node process ${fmt(cpu.ours.node)} / ${fmt(cpu.plain.node)} µs, PostgreSQL ${fmt(cpu.ours.postgres)} / ${fmt(cpu.plain.postgres)} µs (the whole machine, other work included: ${fmt(cpu.ours.machine)} / ${fmt(cpu.plain.machine)} µs)`,
    );
    ctx.step('(e) stats overview of one lab, 300 sequential requests each');
    const few = await statsLatency(ctx, small);
    const many = await statsLatency(ctx, big);
    ctx.say(`(e) stats, lab of 100:      p50 ${few.p50Ms.toFixed(2)} ms, p99 ${few.p99Ms.toFixed(2)} ms`);
    ctx.say(
      `    stats, lab of ${fmt(BIG_LAB)}: p50 ${many.p50Ms.toFixed(2)} ms, p99 ${many.p99Ms.toFixed(2)} ms  (ratio ${(many.p50Ms / few.p50Ms).toFixed(2)}; flat ≈ 1)`,
    );
    return {
      labs: LABS,
      labSamples: LAB_SAMPLES,
      bigLab: BIG_LAB,
      seeded: total,
      seed: SEED,
      seedSeconds,
      list: { ours, baseline, ratio, ratios, cpuMicrosPerRequest: cpu },
      stats: { few, many, ratioP50: many.p50Ms / few.p50Ms },
    };
  } finally {
    plain.server.close();
  }
}
