// npm run bench:auth — what authentication costs, in one run on one machine:
//   1. logins/s and p50/p99 latency at concurrency 8 (production argon2id parameters), with the
//      share of login time spent in argon2 (so we know whether the ceiling is the hash or the plumbing)
//   2. authenticated GET /api/v1/auth/me req/s (bearer token: JWT check + session/user check, cached)
//   3. a Koa hello-world on the same machine, same load generator, same run
//   4. GET /health/live through the same service: the HTTP platform's own floor (request id,
//      security headers, error handling, routing) without authentication, to tell the two apart
//   2–4 run after a warm-up, interleaved in BENCH_ROUNDS rounds; the median round's ratio counts.
// Target: /me ≥ 0.5 × hello-world.
// Env: BENCH_DATABASE_URL (server for the scratch database), BENCH_SECONDS (logins; half of it per
// round for the others, at least 3), BENCH_ROUNDS (default 5), BENCH_CONNECTIONS (for /me and
// hello-world, default 32), BENCH_PHASES (subset of logins,me,hello,floor).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import * as argon2 from 'argon2';
import { createPasswordHasher, type Argon2Backend } from '../modules/identity/passwords.ts';
import { loadConfig } from '../platform/config.ts';
import { benchEnvironment, load, median, scratchDatabase, startBenchService, type LoadResult } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOGIN_CONCURRENCY = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_SECONDS = Math.max(3, Math.round(SECONDS / 2));
const WARMUP_SECONDS = 2;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'logins,me,hello,floor').split(','));
const skipped: LoadResult = {
  requestsPerSecond: Number.NaN,
  p50Ms: Number.NaN,
  p99Ms: Number.NaN,
  total: 0,
  non2xx: 0,
  errors: 0,
};
const here = path.dirname(fileURLToPath(import.meta.url));
const quiet = !process.stdout.isTTY || process.env.CI !== undefined;
const say = (line: string) => console.log(line);
const step = (line: string) => {
  if (!quiet) process.stdout.write(`… ${line} (about ${SECONDS} s)\n`);
};

// argon2 with a stopwatch: the time each hash/verify call takes (queueing on the threadpool included).
let argon2Ms = 0;
const timed = async <T>(work: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  try {
    return await work();
  } finally {
    argon2Ms += performance.now() - started;
  }
};
const timedBackend: Argon2Backend = {
  hash: (password, options) => timed(() => argon2.hash(password, options)),
  verify: (digest, password) => timed(() => argon2.verify(digest, password)),
  needsRehash: (digest, options) => argon2.needsRehash(digest, options),
};

const scratch = await scratchDatabase('auth');
const dbUrl = scratch.url;

const config = loadConfig({
  ...benchEnvironment(dbUrl),
});
const hasher = createPasswordHasher({ backend: timedBackend });
const service = await startBenchService(config, hasher);
const api = `${service.url!}/api/v1`;

const hello = new Koa();
hello.use((ctx) => {
  ctx.body = { hello: 'world' };
});
const helloServer = await new Promise<Server>((resolve) => {
  const s = hello.listen(0, '127.0.0.1', () => resolve(s));
});
const helloUrl = `http://127.0.0.1:${(helloServer.address() as AddressInfo).port}/`;

try {
  const credentials = { login: 'bench_user', password: 'Quiet-Harbor-Lantern-93' };
  const registered = await fetch(`${api}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: credentials.login, email: 'bench@lab.example', password: credentials.password }),
  });
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`);

  step(`logins at concurrency ${LOGIN_CONCURRENCY}`);
  argon2Ms = 0;
  const logins = !PHASES.has('logins')
    ? skipped
    : await load({
        url: `${api}/auth/login`,
        connections: LOGIN_CONCURRENCY,
        seconds: SECONDS,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(credentials),
      });
  // Time in argon2 over the total time requests spent in flight (connections × seconds).
  const argon2Share = argon2Ms / (LOGIN_CONCURRENCY * SECONDS * 1000);

  // The ceiling: argon2 verifications alone, same concurrency, same parameters, no HTTP.
  step(`argon2id verifications alone at concurrency ${LOGIN_CONCURRENCY}`);
  let verifications = 0;
  if (PHASES.has('logins')) {
    const hash = await argon2.hash(credentials.password, { ...hasher.parameters, type: argon2.argon2id });
    const until = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: LOGIN_CONCURRENCY }, async () => {
        while (Date.now() < until) {
          await argon2.verify(hash, credentials.password);
          verifications += 1;
        }
      }),
    );
  }
  const verificationsPerSecond = verifications / SECONDS;

  const login = await fetch(`${api}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials),
  });
  const { accessToken } = (await login.json()) as { accessToken: string };

  // /me, hello-world and the floor are measured in interleaved rounds after a warm-up of each: the
  // shared 2-core machine drifts by a third from one minute to the next, and a ratio of two figures
  // taken minutes apart measured that drift as much as our code. Each round gives a ratio; the
  // median round is reported.
  const targets = {
    me: { url: `${api}/auth/me`, connections: CONNECTIONS, headers: { authorization: `Bearer ${accessToken}` } },
    hello: { url: helloUrl, connections: CONNECTIONS },
    floor: { url: `${service.url!}/health/live`, connections: CONNECTIONS },
  } as const;
  const active = (['me', 'hello', 'floor'] as const).filter((name) => PHASES.has(name));
  step(`warming up ${active.join(', ')} (${WARMUP_SECONDS} s each)`);
  for (const name of active) await load({ ...targets[name], seconds: WARMUP_SECONDS });
  const rounds: Record<'me' | 'hello' | 'floor', LoadResult>[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    step(
      `round ${round}/${ROUNDS}: GET /auth/me, Koa hello-world, GET /health/live at ${CONNECTIONS} connections, ${ROUND_SECONDS} s each`,
    );
    const results = { me: skipped, hello: skipped, floor: skipped };
    for (const name of active) results[name] = await load({ ...targets[name], seconds: ROUND_SECONDS });
    rounds.push(results);
  }
  /** The round whose /me ÷ hello-world ratio is the median one, and every round's ratios. */
  const roundRatios = rounds.map((r) => r.me.requestsPerSecond / r.hello.requestsPerSecond);
  const medianRound = rounds[roundRatios.indexOf(median(roundRatios))] ?? rounds[0]!;
  const { me, hello: helloWorld, floor } = medianRound;

  const ratio = me.requestsPerSecond / helloWorld.requestsPerSecond;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  say(
    `logins:       ${fmt(logins.requestsPerSecond)}/s at concurrency ${LOGIN_CONCURRENCY}, p50 ${logins.p50Ms} ms, p99 ${logins.p99Ms} ms, non-2xx ${logins.non2xx}; argon2 share of login time ${(argon2Share * 100).toFixed(0)} %`,
  );
  say(
    `argon2 alone: ${fmt(verificationsPerSecond)} verifications/s at concurrency ${LOGIN_CONCURRENCY} (m=${hasher.parameters.memoryCost} KiB, t=${hasher.parameters.timeCost}, p=${hasher.parameters.parallelism}); logins reach ${((logins.requestsPerSecond / verificationsPerSecond) * 100).toFixed(0)} % of that ceiling`,
  );
  say(`GET /auth/me: ${fmt(me.requestsPerSecond)} req/s, p50 ${me.p50Ms} ms, p99 ${me.p99Ms} ms, non-2xx ${me.non2xx}`);
  say(
    `hello-world:  ${fmt(helloWorld.requestsPerSecond)} req/s, p50 ${helloWorld.p50Ms} ms, p99 ${helloWorld.p99Ms} ms`,
  );
  say(
    `/health/live: ${fmt(floor.requestsPerSecond)} req/s through the same HTTP platform, no authentication (${(floor.requestsPerSecond / helloWorld.requestsPerSecond).toFixed(2)} × hello-world)`,
  );
  say(
    `ratio /me ÷ hello-world = ${ratio.toFixed(2)} (target ≥ 0.5; the median of ${rounds.length} interleaved rounds: ${roundRatios.map((r) => r.toFixed(2)).join(', ')}); /me ÷ platform floor = ${(me.requestsPerSecond / floor.requestsPerSecond).toFixed(2)}`,
  );
  const results = path.join(here, 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(
    path.join(results, 'auth.json'),
    JSON.stringify(
      {
        at: new Date().toISOString(),
        seconds: SECONDS,
        roundSeconds: ROUND_SECONDS,
        connections: CONNECTIONS,
        logins,
        argon2Share,
        verificationsPerSecond,
        me,
        helloWorld,
        floor,
        ratio,
        roundRatios,
        rounds,
      },
      null,
      2,
    ),
  );
  if (logins.non2xx > 0 || me.non2xx > 0)
    say('warning: some requests did not answer 2xx; the figures above include them');
} finally {
  helloServer.close();
  await service.stop();
  await scratch.drop();
}
