// The labs phase of `npm run bench:samples` (BENCH_PHASES=labs): BENCH_LABS labs (100) of
// BENCH_LAB_SAMPLES samples (10,000), a user who is a member of 20 of them, and
//   (d) GET /samples?status=collected&limit=20 as that user (every lab of theirs, RLS transaction,
//       page + total) next to a plain Koa + pg endpoint of the same shape on the same data: the
//       same filter, order and page size over the same 20 labs, the total from the same
//       statistics table, no auth, no RLS (both sides after VACUUM ANALYZE)       target ≥ 0.7
//   (e) GET /samples/stats/overview?labId= for a lab of 100 and one of BENCH_BIG_LAB (100,000)
//                                                                                  must be flat
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type pg from 'pg';
import { eventMetadata, type CommandCause } from '../platform/eventstore/metadata.ts';
import { comparePositions, type EventStore, type Position } from '../platform/eventstore/port.ts';
import { Progress } from '../platform/progress.ts';
import type { ProjectionEngine } from '../projections/engine/index.ts';
import { load, postJson as post } from './support.ts';

const LABS = Number(process.env.BENCH_LABS ?? 100);
const LAB_SAMPLES = Number(process.env.BENCH_LAB_SAMPLES ?? 10_000);
const BIG_LAB = Number(process.env.BENCH_BIG_LAB ?? 100_000);
const MEMBER_OF = Math.min(20, LABS);

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
const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

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

/** Appends SampleRegistered (schema 2) events, 48 writers at once; the last position. */
async function seed(ctx: Phase, work: { labId: string; i: number }[]): Promise<Position> {
  const progress = new Progress('seeding lab samples (events)', work.length);
  const types = ['blood', 'saliva', 'tissue'] as const;
  const statuses = ['collected', 'processing', 'archived'] as const;
  const cause: CommandCause = {
    actorId: ctx.owner.id,
    actorType: 'user',
    requestId: null,
    correlationId: null,
    causationId: null,
    traceparent: null,
    reason: null,
  };
  let last: Position | undefined;
  let done = 0;
  await Promise.all(
    Array.from({ length: 48 }, async () => {
      for (let next = work.pop(); next; next = work.pop()) {
        const sampleId = randomUUID();
        const sampleType = types[next.i % 3]!;
        const data = {
          sampleId,
          ownerId: ctx.owner.id,
          labId: next.labId,
          sampleType,
          subjectId: `P${String(100 + (next.i % 500))}`,
          collectionDate: day(next.i % 1500),
          status: statuses[(next.i >> 2) % 3]!,
          storageLocation: sampleType === 'tissue' ? 'freezer-1-rowA' : 'shelf-1',
          notes: null,
          registeredAt: new Date().toISOString(),
        };
        const result = await ctx.store.append(
          `sample-${sampleId}`,
          [{ type: 'SampleRegistered', data, metadata: eventMetadata(cause, 2) }],
          { expectedRevision: 'no_stream' },
        );
        if (!last || comparePositions(result.position, last) > 0) last = result.position;
        progress.update(++done);
      }
    }),
  );
  progress.done();
  return last!;
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
  const work = [
    ...labs.slice(0, LABS).flatMap((labId) => Array.from({ length: LAB_SAMPLES }, (_, i) => ({ labId, i }))),
    ...Array.from({ length: 100 }, (_, i) => ({ labId: small, i })),
    ...Array.from({ length: BIG_LAB }, (_, i) => ({ labId: big, i })),
  ];
  const total = work.length;
  const started = Date.now();
  const last = await seed(ctx, work);
  const caughtUp = await ctx.engine.waitForProjections(['samples'], last, { timeoutMs: 60 * 60_000 });
  await ctx.pool.query('VACUUM ANALYZE samples, sample_stats, sample_daily_counts, lab_members');
  const seedSeconds = (Date.now() - started) / 1000;
  ctx.say(
    `seeded ${fmt(total)} samples in ${LABS + 2} labs: read model ready after ${seedSeconds.toFixed(0)} s${caughtUp ? '' : ' (NOT caught up)'}`,
  );

  const plain = await plainList(ctx.pool, labs.slice(0, MEMBER_OF));
  try {
    ctx.step(
      `(d) GET /samples?status=collected&limit=20 as a member of ${MEMBER_OF} labs, 32 connections, ${ctx.seconds} s`,
    );
    const ours = await load({
      url: `${ctx.api}/samples?status=collected&limit=20`,
      connections: 32,
      seconds: ctx.seconds,
      headers: { authorization: `Bearer ${ctx.member.token}` },
    });
    ctx.step(`(d) plain Koa + pg list of the same shape, 32 connections, ${ctx.seconds} s`);
    const baseline = await load({ url: `${plain.url}/list`, connections: 32, seconds: ctx.seconds });
    const ratio = ours.requestsPerSecond / baseline.requestsPerSecond;
    ctx.say(
      `(d) GET /samples, ${MEMBER_OF} of ${LABS} labs: ${fmt(ours.requestsPerSecond)} req/s, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, non-2xx ${ours.non2xx}`,
    );
    ctx.say(
      `    plain Koa + pg, same shape: ${fmt(baseline.requestsPerSecond)} req/s, p50 ${baseline.p50Ms} ms, p99 ${baseline.p99Ms} ms`,
    );
    ctx.say(`    ratio ${ratio.toFixed(2)} (target ≥ 0.7)`);
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
      seedSeconds,
      list: { ours, baseline, ratio },
      stats: { few, many, ratioP50: many.p50Ms / few.p50Ms },
    };
  } finally {
    plain.server.close();
  }
}
