// npm run bench — every benchmark in one go, then one table: figure, value, baseline, ratio,
// target, pass/fail, saved as bench/results/summary.json. BENCH_ONLY (comma-separated: eventstore,
// auth,samples,dialog,rebuild,verify,otel,soak) runs some; BENCH_REPORT_ONLY=1 only tabulates the last
// results. The soak alone takes SOAK_MINUTES (default 10).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.join(here, 'results');
const all = ['eventstore', 'auth', 'samples', 'dialog', 'rebuild', 'verify', 'otel', 'soak'] as const;
const nodeArguments: Partial<Record<(typeof all)[number], string[]>> = { soak: ['--expose-gc'] };
const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : [...all];

if (process.env.BENCH_REPORT_ONLY !== '1') {
  for (const name of all.filter((n) => only.includes(n))) {
    const started = Date.now();
    console.log(`== bench:${name}`);
    const run = spawnSync(process.execPath, [...(nodeArguments[name] ?? []), path.join(here, `${name}.ts`)], {
      stdio: 'inherit',
      env: process.env,
    });
    console.log(
      `== bench:${name} ${run.status === 0 ? 'done' : `FAILED (${run.status})`} in ${Math.round((Date.now() - started) / 1000)} s`,
    );
  }
}

type Row = {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  result: 'pass' | 'FAIL' | '';
};
const rows: Row[] = [];
const read = <T>(file: string): T | undefined =>
  existsSync(path.join(results, file)) ? (JSON.parse(readFileSync(path.join(results, file), 'utf8')) as T) : undefined;
const fmt = (n: number | null, digits = 0) =>
  n === null || !Number.isFinite(n)
    ? '—'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const add = (
  figure: string,
  value: string,
  baseline: string,
  ratio: number | undefined,
  target: string,
  pass: boolean | undefined,
) =>
  rows.push({
    figure,
    value,
    baseline,
    ratio: ratio === undefined ? '' : fmt(ratio, 2),
    target,
    result: pass === undefined ? '' : pass ? 'pass' : 'FAIL',
  });

const latestEventstore = readdirSync(results)
  .filter((f) => f.startsWith('eventstore-'))
  .sort()
  .at(-1);
const es = latestEventstore
  ? read<{ rows: { figure: string; value: number; baseline: string; ratio: number | null; target: number | null }[] }>(
      latestEventstore,
    )
  : undefined;
for (const r of es?.rows ?? [])
  if (r.target !== null && r.ratio !== null)
    add(`eventstore: ${r.figure}`, fmt(r.value), r.baseline, r.ratio, `≥ ${r.target}`, r.ratio >= r.target);

const auth = read<{
  logins: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
  me: { requestsPerSecond: number };
  helloWorld: { requestsPerSecond: number };
  ratio: number;
}>('auth.json');
if (auth) {
  add(
    'auth: logins/s (concurrency 8)',
    `${fmt(auth.logins.requestsPerSecond)} (p50 ${auth.logins.p50Ms} ms, p99 ${auth.logins.p99Ms} ms)`,
    '',
    undefined,
    '',
    undefined,
  );
  add(
    'auth: GET /auth/me req/s',
    fmt(auth.me.requestsPerSecond),
    `hello-world ${fmt(auth.helloWorld.requestsPerSecond)}`,
    auth.ratio,
    '≥ 0.5',
    auth.ratio >= 0.5,
  );
}
const samples = read<{
  create?: { ours: { requestsPerSecond: number }; baseline: { requestsPerSecond: number }; ratio: number };
  list?: { ours: { requestsPerSecond: number; p99Ms: number }; floor: { requestsPerSecond: number }; ratio: number };
  stats?: { few: { p50Ms: number }; many: { p50Ms: number }; ratioP50: number };
}>('samples.json');
if (samples?.create)
  add(
    'samples: POST /samples req/s',
    fmt(samples.create.ours.requestsPerSecond),
    `Koa+INSERT ${fmt(samples.create.baseline.requestsPerSecond)}`,
    samples.create.ratio,
    '≥ 0.5',
    samples.create.ratio >= 0.5,
  );
if (samples?.list)
  add(
    'samples: filtered list req/s',
    `${fmt(samples.list.ours.requestsPerSecond)} (p99 ${samples.list.ours.p99Ms} ms)`,
    `select 1 ${fmt(samples.list.floor.requestsPerSecond)}`,
    samples.list.ratio,
    '≥ 0.7',
    samples.list.ratio >= 0.7,
  );
if (samples?.stats)
  add(
    'samples: stats p50, 100k vs 100 samples',
    `${fmt(samples.stats.many.p50Ms, 2)} ms`,
    `${fmt(samples.stats.few.p50Ms, 2)} ms`,
    samples.stats.ratioP50,
    '≤ 1.5 (flat)',
    samples.stats.ratioP50 <= 1.5,
  );
const dialog = read<{ ours: { requestsPerSecond: number }; overheadP50: number }>('dialog.json');
if (dialog)
  add(
    'dialog: overhead per message p50',
    `${fmt(dialog.overheadP50, 1)} ms`,
    `${fmt(dialog.ours.requestsPerSecond)} msg/s`,
    undefined,
    '< 10 ms',
    dialog.overheadP50 < 10,
  );
const rebuild = read<{
  events: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMb: number;
  projections: number;
}>('rebuild.json');
if (rebuild)
  add(
    'rebuild --all: every read model',
    `${fmt(rebuild.eventsPerSecond)} events/s, ${fmt(rebuild.seconds, 1)} s, RSS ${fmt(rebuild.peakRssMb)} MB`,
    `${fmt(rebuild.events)} events, ${rebuild.projections} read models`,
    rebuild.eventsPerSecond / 50_000,
    '≥ 50,000/s, < 60 s',
    rebuild.eventsPerSecond >= 50_000 && rebuild.seconds < 60,
  );
type VerifyRow = { figure: string; seconds: number; eventsPerSecond: number };
const verify = read<{ events: number; rows: VerifyRow[]; ratio: number; pass: boolean }>('verify.json');
if (verify) {
  const v = verify.rows.at(-1)!;
  const value = `${fmt(v.seconds, 1)} s, ${fmt(v.eventsPerSecond)} events/s`;
  const baseline = `${fmt(verify.events)} events; read floor ${fmt(verify.rows[0]!.seconds, 1)} s`;
  add('verify: an audit digest against the log', value, baseline, verify.ratio, '< 30 s per 1,000,000', verify.pass);
}
const otel = read<{ on: { requestsPerSecond: number }; off: { requestsPerSecond: number }; overhead: number }>(
  'otel.json',
);
if (otel)
  add(
    'otel: overhead (create sample)',
    `${fmt(otel.overhead * 100, 1)} %`,
    `off ${fmt(otel.off.requestsPerSecond)} / on ${fmt(otel.on.requestsPerSecond)}`,
    undefined,
    '≤ 15 %',
    otel.overhead <= 0.15,
  );
const soak = read<{
  minutes: number;
  noGrowth: boolean;
  trend: { rssGrowth: number; heapGrowth: number; lag: { slope: number } };
  result: { requestsPerSecond: number; non2xx: number; errors: number };
  created: number;
  inReadModel: number;
}>('soak.json');
if (soak) {
  add(
    `soak: ${soak.minutes} min mixed load, growth trend`,
    `RSS ${fmt(soak.trend.rssGrowth * 100, 1)} %, heap ${fmt(soak.trend.heapGrowth * 100, 1)} %, loop p99 ${fmt(soak.trend.lag.slope, 2)} ms/min`,
    `${fmt(soak.result.requestsPerSecond)} req/s, ${soak.result.non2xx + soak.result.errors} failed`,
    undefined,
    'none (< 10 %)',
    soak.noGrowth,
  );
  add(
    'soak: created samples in the read model',
    `${fmt(soak.inReadModel)} of ${fmt(soak.created)}`,
    '',
    undefined,
    'all',
    soak.inReadModel === soak.created,
  );
}

console.table(rows);
writeFileSync(path.join(results, 'summary.json'), JSON.stringify({ at: new Date().toISOString(), rows }, null, 2));
console.log(
  `${rows.filter((r) => r.result === 'pass').length} pass, ${rows.filter((r) => r.result === 'FAIL').length} fail; saved bench/results/summary.json`,
);
