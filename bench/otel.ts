// npm run bench:otel — create-sample requests/s (POST /samples, 32 connections, read-your-writes
// included) with tracing and metrics on and off, in one run (each side in its own process: the
// telemetry SDK is per process). Target: overhead ≤ 15 %. Env: BENCH_SECONDS (default 10) per side
// and round, BENCH_ROUNDS (default 2): the sides alternate (off, on, off, on, ...) so drift on a busy
// machine hits both, and each side's figure is over all its rounds.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median, saveResult, type LoadResult } from './support.ts';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

async function side(otel: 'on' | 'off'): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, [path.join(here, 'otel-run.ts')], {
    env: { ...process.env, BENCH_OTEL: otel },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const rounds: { off: LoadResult; on: LoadResult }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const offRound = await side('off');
  const onRound = await side('on');
  rounds.push({ off: offRound, on: onRound });
  if (ROUNDS > 1)
    console.log(
      `round ${round}: off ${Math.round(offRound.requestsPerSecond)} req/s, on ${Math.round(onRound.requestsPerSecond)} req/s`,
    );
}
const combine = (results: LoadResult[]): LoadResult => ({
  ...results[0]!,
  requestsPerSecond: results.reduce((sum, r) => sum + r.requestsPerSecond, 0) / results.length,
  p50Ms: median(results.map((r) => r.p50Ms)),
  p99Ms: Math.max(...results.map((r) => r.p99Ms)),
});
const off = combine(rounds.map((r) => r.off));
const on = combine(rounds.map((r) => r.on));
const overhead = 1 - on.requestsPerSecond / off.requestsPerSecond;
console.log(`telemetry off: ${Math.round(off.requestsPerSecond)} req/s, p50 ${off.p50Ms} ms, p99 ${off.p99Ms} ms`);
console.log(`telemetry on:  ${Math.round(on.requestsPerSecond)} req/s, p50 ${on.p50Ms} ms, p99 ${on.p99Ms} ms`);
console.log(`overhead ${(overhead * 100).toFixed(1)} % (target ≤ 15 %)`);
saveResult('otel', { rounds, off, on, overhead });
