// npm run bench:soak — a steady mixed load for SOAK_MINUTES (default 10): lists, statistics,
// creates, /auth/me and audit pages from 21 users at SOAK_RATE requests/s (default 200) over 16
// connections, against the whole service (API + projections in this process). Every 10 s it
// samples this process's RSS, heap after a full GC, and event-loop delay; at the end it fits a line
// through the samples after the warm-up (the first fifth) and reports the growth trend.
// "No growth": RSS and heap each grow less than 10 % over the window (by the fitted line), and the
// event-loop p99 shows no upward trend beyond 10 ms. It also checks that nothing was lost: every
// created sample is in the read model once the projections caught up. Figures: bench/results/soak.json.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import { Progress } from '../platform/progress.ts';
import { benchEnvironment, load, saveResult, scratchDatabase, signUp, startBenchService } from './support.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const RATE = Number(process.env.SOAK_RATE ?? 200);
const SAMPLE_EVERY_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10) * 1000;
const USERS = 21; // coprime with the 10 request kinds, so every user sends every kind
const collectGarbage = (globalThis as { gc?: () => void }).gc;

const scratch = await scratchDatabase('soak');
const url = scratch.url;
const config = loadConfig({
  ...benchEnvironment(url),
  ACCESS_TOKEN_TTL_SECONDS: String(Math.max(900, MINUTES * 60 + 300)),
});
const service = await startBenchService(config);
const api = `${service.url!}/api/v1`;

interface Sample {
  readonly atSeconds: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly loopP99Ms: number;
}

/** Least-squares line through (x, y): slope per unit x and the fitted value at both ends. */
function trend(points: readonly { x: number; y: number }[]): { slope: number; start: number; end: number } {
  const n = points.length;
  const meanX = points.reduce((s, p) => s + p.x, 0) / n;
  const meanY = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - meanX) ** 2, 0);
  const slope = sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - meanX) * (p.y - meanY), 0) / sxx;
  const at = (x: number) => meanY + slope * (x - meanX);
  return { slope, start: at(points[0]!.x), end: at(points.at(-1)!.x) };
}

try {
  const tokens: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const username = `soak_${i}`;
    const password = `Quiet-Harbor-Lantern-${i}-93`;
    tokens.push(await signUp(api, username, password));
  }
  const sample = (i: number) =>
    JSON.stringify({
      sampleType: ['blood', 'saliva', 'tissue'][i % 3],
      subjectId: `S${String(i).padStart(3, '0')}`,
      collectionDate: '2026-11-01',
      storageLocation: `freezer-${i % 4}-rowB`,
    });
  const requests = [
    { method: 'GET', path: '/api/v1/samples?status=collected&limit=20' },
    { method: 'POST', path: '/api/v1/samples', body: sample(1) },
    { method: 'GET', path: '/api/v1/samples/stats/overview' },
    { method: 'GET', path: '/api/v1/samples?sampleType=blood&limit=20' },
    { method: 'GET', path: '/api/v1/auth/me' },
    { method: 'GET', path: '/api/v1/samples?limit=50' },
    { method: 'POST', path: '/api/v1/samples', body: sample(2) },
    { method: 'GET', path: '/api/v1/audit?limit=20' },
    { method: 'GET', path: '/api/v1/samples/stats/overview' },
    { method: 'GET', path: '/api/v1/samples?subjectId=S001&limit=20' },
  ] as const;

  const seconds = Math.round(MINUTES * 60);
  console.log(
    `soak: ${MINUTES} min at ${RATE} req/s over 16 connections, ${USERS} users, mixed lists/stats/creates/me/audit; sampling every ${SAMPLE_EVERY_MS / 1000} s${collectGarbage ? '' : ' (heap without forced GC: run with --expose-gc)'}`,
  );
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const samples: Sample[] = [];
  const started = Date.now();
  const progress = new Progress('soak', seconds);
  const running = load({
    url: `${service.url!}/api/v1/samples`,
    connections: 16,
    seconds,
    overallRate: RATE,
    rotateHeaders: tokens.map((t) => ({ authorization: `Bearer ${t}` })),
    rotateRequests: requests,
  });
  let finished = false;
  void running.finally(() => {
    finished = true;
  });
  while (!finished) {
    await Promise.race([sleep(SAMPLE_EVERY_MS), running.catch(() => undefined)]);
    if (finished) break;
    collectGarbage?.();
    const memory = process.memoryUsage();
    samples.push({
      atSeconds: (Date.now() - started) / 1000,
      rssMb: memory.rss / 2 ** 20,
      heapMb: memory.heapUsed / 2 ** 20,
      loopP99Ms: loop.percentile(99) / 1e6,
    });
    loop.reset();
    progress.update(Math.min(seconds, Math.round((Date.now() - started) / 1000)));
  }
  progress.done();
  const result = await running;

  // Nothing lost: every 2xx create is in the read model once the projections caught up.
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const events = Number(
    (await db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE type = 'SampleRegistered'`)).rows[0]!.n,
  );
  let rows = -1;
  for (let attempt = 0; attempt < 600 && rows !== events; attempt++) {
    rows = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM samples`)).rows[0]!.n);
    if (rows !== events) await sleep(100);
  }
  await db.end();

  const window = samples.slice(Math.floor(samples.length / 5));
  const rss = trend(window.map((s) => ({ x: s.atSeconds / 60, y: s.rssMb })));
  const heap = trend(window.map((s) => ({ x: s.atSeconds / 60, y: s.heapMb })));
  const lag = trend(window.map((s) => ({ x: s.atSeconds / 60, y: s.loopP99Ms })));
  const rssGrowth = rss.end / rss.start - 1;
  const heapGrowth = heap.end / heap.start - 1;
  const lagRise = lag.end - lag.start;
  const noGrowth = window.length >= 3 && rssGrowth < 0.1 && heapGrowth < 0.1 && lagRise < 10;
  const fmt = (n: number, digits = 1) => n.toFixed(digits);
  console.log(
    `requests: ${result.total} (${fmt(result.requestsPerSecond, 0)}/s), non-2xx ${result.non2xx}, errors ${result.errors}, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms; by status ${JSON.stringify(result.statusCodes ?? {})}`,
  );
  console.log(
    `RSS: ${fmt(Math.min(...window.map((s) => s.rssMb)))}–${fmt(Math.max(...window.map((s) => s.rssMb)))} MB, trend ${fmt(rss.slope, 2)} MB/min (${fmt(rssGrowth * 100)} % over the window)`,
  );
  console.log(
    `heap after GC: ${fmt(Math.min(...window.map((s) => s.heapMb)))}–${fmt(Math.max(...window.map((s) => s.heapMb)))} MB, trend ${fmt(heap.slope, 2)} MB/min (${fmt(heapGrowth * 100)} %)`,
  );
  console.log(
    `event-loop p99: ${fmt(Math.min(...window.map((s) => s.loopP99Ms)))}–${fmt(Math.max(...window.map((s) => s.loopP99Ms)))} ms, trend ${fmt(lag.slope, 2)} ms/min`,
  );
  console.log(
    `samples created ${events}, in the read model ${rows}${rows === events ? ' (nothing lost)' : ' — MISMATCH'}`,
  );
  console.log(
    `growth trend: ${noGrowth ? 'none' : 'YES'} (window after ${fmt(window[0]?.atSeconds ?? 0, 0)} s warm-up, ${window.length} samples)`,
  );
  saveResult('soak', {
    minutes: MINUTES,
    rate: RATE,
    result,
    samples,
    trend: { rss, heap, lag, rssGrowth, heapGrowth, lagRise },
    noGrowth,
    created: events,
    inReadModel: rows,
  });
} finally {
  await service.stop();
  await scratch.drop();
}
