// Failure limits (platform/http/failure-limit.ts), in memory and in Redis: an attempt is counted
// before the work it guards, so parallel attempts cannot all pass; a success clears the key, an
// attempt that was no failure gives its count back; the 429 carries Retry-After and X-RateLimit-*.
import test from 'ava';
import { failureLimit, type FailureLimit } from '../../platform/http/failure-limit.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import {
  createRateLimitRedis,
  memoryBackend,
  redisBackend,
  type RateLimitBackend,
} from '../../platform/http/rate-limit.ts';
import { redisSkipReason, testRedisUrl } from '../support/database.ts';
import { captureLogs } from '../support/logs.ts';

const logs = captureLogs();
const redisUrl = testRedisUrl();
if (!redisUrl) console.log(`[skip] Redis failure-limit tests: ${redisSkipReason()}`);
const unique = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;

/** 14 attempts at once, each holding its reservation through a slow "password check"; how many got through. */
async function parallelAttempts(
  limit: FailureLimit,
  key: string,
  attempts = 14,
): Promise<{ admitted: number; refused: HttpProblem[] }> {
  let admitted = 0;
  const refused: HttpProblem[] = [];
  await Promise.all(
    Array.from({ length: attempts }, async () => {
      try {
        await limit.reserve(key); // a wrong password: never succeeded, never released
        admitted += 1;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error;
        refused.push(error);
      }
    }),
  );
  return { admitted, refused };
}

interface Opened {
  readonly backend: RateLimitBackend;
  readonly close: () => void;
}
const backends: [string, () => Promise<Opened>][] = [
  ['memory', () => Promise.resolve({ backend: memoryBackend(), close: () => undefined })],
];
if (redisUrl) {
  backends.push([
    'redis',
    async () => {
      const redis = createRateLimitRedis(redisUrl, logs.logger);
      await new Promise((resolve) => redis.once('ready', resolve));
      return { backend: redisBackend(redis), close: () => redis.disconnect() };
    },
  ]);
}

for (const [kind, open] of backends) {
  test(`${kind}: 14 parallel attempts against a limit of 10: exactly 10 get through, 4 are refused with 429 and the limit headers`, async (t) => {
    const opened = await open();
    try {
      const limit = failureLimit(opened.backend, { name: unique('parallel'), max: 10, windowMs: 60_000 });
      const { admitted, refused } = await parallelAttempts(limit, 'account:a');
      t.is(admitted, 10);
      t.is(refused.length, 4);
      const headers = refused[0]!.headers;
      t.is(refused[0]!.status, 429);
      t.is(refused[0]!.code, 'rate_limited');
      t.true(Number(headers['Retry-After']) >= 1 && Number(headers['Retry-After']) <= 60);
      t.is(headers['X-RateLimit-Limit'], '10');
      t.is(headers['X-RateLimit-Remaining'], '0');
    } finally {
      opened.close();
    }
  });

  test(`${kind}: a success clears the key's failures; a released attempt does not count; keys are apart`, async (t) => {
    const opened = await open();
    try {
      const limit = failureLimit(opened.backend, { name: unique('settle'), max: 2, windowMs: 60_000 });
      await limit.reserve('k'); // a failure
      const released = await limit.reserve('k');
      await released.release(); // not a failure after all
      await released.release(); // twice changes nothing
      const last = await limit.reserve('k'); // the second failure
      await t.throwsAsync(() => limit.reserve('k'), { instanceOf: HttpProblem });
      await t.notThrowsAsync(() => limit.reserve('other'));
      await last.succeeded(); // e.g. the right password after all: the failures are forgotten
      await t.notThrowsAsync(() => limit.reserve('k'));
    } finally {
      opened.close();
    }
  });
}
