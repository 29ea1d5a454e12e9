// npm run bench:samples-query — what bench:samples (b) is up against, without HTTP: one
// connection, one request at a time, on the embedded PostgreSQL, over 100,000 samples of 100 users
// in the real read-model tables (indexes and row-level security as the projection makes them):
//   1. `select 1` — one round trip, the floor bench:samples (b) compares with
//   2. the RLS transaction alone (BEGIN, reader role, caller id, COMMIT) in one message
//   3. the list's page query alone (as the table owner: no RLS, no transaction)
//   4. listSamples() itself: the transaction with the page and the total, as the route runs it
// Prints µs per call (median of BENCH_ROUNDS rounds of BENCH_CALLS calls) and each one's ratio
// to `select 1`; the route can never beat (4) plus the HTTP platform.
// Env: BENCH_CALLS (default 2,000), BENCH_ROUNDS (default 5).
import { Writable } from 'node:stream';
import { startService } from '../app/service.ts';
import { listSamples } from '../modules/samples/queries.ts';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logging.ts';
import { benchEnvironment, embeddedScratchDatabase, median, saveResult } from './support.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const USERS = 100;
const SAMPLES = 100_000;
const quiet = !process.stderr.isTTY || process.env.CI !== undefined;
const step = (line: string) => {
  if (!quiet) process.stderr.write(`… ${line}\n`);
};

step('starting the embedded PostgreSQL under .data/bench');
const embedded = await embeddedScratchDatabase('query');
const logger = createLogger({ level: 'warn' }, new Writable({ write: (_c, _e, done) => done() }));
// The projector creates the read-model tables; the rows are then written directly (fast).
const service = await startService(
  loadConfig(benchEnvironment(embedded.url)),
  logger,
  { api: false, projector: true },
  { handleSignals: false },
);
const knex = service.infrastructure.knex;
const owner = (i: number) => `00000000-0000-4000-8000-${String(i % USERS).padStart(12, '0')}`;
try {
  // Runners create their tables as they start, in the background.
  for (let tries = 0; ; tries++) {
    const { rows } = await knex.raw<{ rows: { ready: boolean }[] }>(
      `SELECT to_regclass('samples') IS NOT NULL AND to_regclass('sample_stats') IS NOT NULL AS ready`,
    );
    if (rows[0]?.ready) break;
    if (tries > 300) throw new Error('the samples read model was not created within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  step(`writing ${SAMPLES.toLocaleString('en-US')} samples of ${USERS} users into the read model`);
  await knex.raw(`INSERT INTO samples (sample_id, lab_id, owner_id, sample_type, subject_id, collection_date, status, storage_location, notes, created_at, updated_at, version)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((i % ${USERS})::text, 12, '0'))::uuid,
           ('00000000-0000-4000-8000-' || lpad((i % ${USERS})::text, 12, '0'))::uuid, (ARRAY['blood','saliva','tissue'])[1 + i % 3],
           'SUBJ-' || lpad((i % 5000)::text, 5, '0'), date '2026-01-01' + (i % 300), (ARRAY['collected','processing','archived'])[1 + i % 3],
           NULL, NULL, now(), now(), 1
    FROM generate_series(1, ${SAMPLES}) i`);
  await knex.raw(`INSERT INTO sample_stats (lab_id, total, collected, processing, archived, blood, saliva, tissue)
    SELECT lab_id, count(*), count(*) FILTER (WHERE status = 'collected'), count(*) FILTER (WHERE status = 'processing'), count(*) FILTER (WHERE status = 'archived'),
           count(*) FILTER (WHERE sample_type = 'blood'), count(*) FILTER (WHERE sample_type = 'saliva'), count(*) FILTER (WHERE sample_type = 'tissue')
    FROM samples GROUP BY lab_id`);
  await knex.raw('VACUUM ANALYZE');

  const columns =
    'sample_id, lab_id, sample_type, subject_id, collection_date, status, storage_location, notes, created_at, updated_at, version';
  const calls: Record<string, (i: number) => Promise<unknown>> = {
    'select 1': () => knex.raw('SELECT 1'),
    'RLS transaction alone': (i) =>
      knex.raw(
        `BEGIN READ ONLY; SET LOCAL ROLE vialog_reader; SELECT set_config('vialog.user_id', '${owner(i)}', true); COMMIT`,
      ),
    'page query alone': (i) =>
      knex.raw(
        `SELECT ${columns} FROM samples WHERE lab_id = ?::uuid AND deleted_at IS NULL AND status = ? ORDER BY collection_date DESC, sample_id DESC LIMIT 21`,
        [owner(i), 'collected'],
      ),
    'listSamples (RLS, page + total)': (i) => listSamples(knex, owner(i), { status: 'collected' }, { limit: 20 }),
  };
  // The list must answer a full page and the right total, or the timings mean nothing.
  const check = (await listSamples(knex, owner(7), { status: 'collected' }, { limit: 20 }))!;
  const expected = Number(
    (
      await knex.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM samples WHERE lab_id = ? AND status = 'collected'`,
        [owner(7)],
      )
    ).rows[0]!.n,
  );
  if (check.rows.length !== 21 || check.total !== expected)
    throw new Error(
      `listSamples answered ${check.rows.length} rows, total ${check.total} (expected 21: the page and one to tell there is a next, and ${expected})`,
    );

  const perRound: Record<string, number[]> = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    step(`round ${round}/${ROUNDS}`);
    for (const [name, call] of Object.entries(calls)) {
      const started = performance.now();
      for (let i = 0; i < CALLS; i++) await call(i);
      perRound[name]!.push(((performance.now() - started) * 1000) / CALLS);
    }
  }
  const floor = median(perRound['select 1']!);
  const figures = Object.fromEntries(
    Object.entries(perRound).map(([name, values]) => [name, { medianMicros: median(values), rounds: values }]),
  );
  for (const [name, { medianMicros, rounds }] of Object.entries(figures)) {
    console.log(
      `${name.padEnd(32)} ${Math.round(medianMicros).toString().padStart(5)} µs per call  (${(medianMicros / floor).toFixed(1)} × select 1; rounds ${rounds.map((r) => Math.round(r)).join(', ')})`,
    );
  }
  console.log(
    `a list request can reach at most ${(floor / median(perRound['listSamples (RLS, page + total)']!)).toFixed(2)} × the select-1 endpoint's database time (bench:samples (b) target: 0.7 × its requests/s)`,
  );
  saveResult('samples-query', { calls: CALLS, rounds: ROUNDS, figures });
} finally {
  await service.stop();
  await embedded.drop();
}
