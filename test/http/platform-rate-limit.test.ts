// Rate limits over real HTTP: 429 rate_limited problems with Retry-After and X-RateLimit-*, in
// memory and in Redis (shared by two app instances), and a dead Redis: requests are never held,
// they are counted in memory instead and the failure is reported. Behind trusted proxies the
// client address cannot be spoofed, and IPv6 clients are counted per /64.
import test from 'ava';
import { Redis } from 'ioredis';
import Router from '@koa/router';
import type { Context } from 'koa';
import { createHttpApp } from '../../platform/http/app.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import {
  createRateLimitRedis,
  ipBucket,
  memoryBackend,
  rateLimiterFactory,
  redisBackend,
  redisReadinessCheck,
  type RateLimitFactory,
} from '../../platform/http/rate-limit.ts';
import { redisSkipReason, testRedisUrl } from '../support/database.ts';
import { listen, type RunningApp } from '../support/http.ts';
import { captureLogs } from '../support/logs.ts';
import { expectProblem } from './platform-fixture.ts';

const logs = captureLogs();

function limitedApp(
  rateLimit: RateLimitFactory,
  name: string,
  max: number,
  key: (ctx: Context) => string | false = () => 'one-client',
  durationMs = 60_000,
) {
  const router = new Router();
  router.get('/limited', (ctx) => {
    ctx.body = { ok: true };
  });
  router.get('/free', (ctx) => {
    ctx.body = { ok: true };
  });
  return createHttpApp({
    logger: logs.logger,
    bodyLimitBytes: 1024,
    trustProxy: false,
    openapi: new OpenApiRegistry(),
    readinessChecks: [],
    middleware: [rateLimit({ name, max, durationMs, key: (ctx) => (ctx.path === '/limited' ? key(ctx) : false) })],
    routers: [router],
  });
}

async function statuses(targets: RunningApp[], path = '/limited'): Promise<number[]> {
  const result: number[] = [];
  for (const target of targets) {
    const response = await fetch(`${target.url}${path}`);
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

/** The RateLimit field's policy, requests left and seconds to the reset. */
function rateLimitField(response: Response): { policy: string; remaining: number; seconds: number } | undefined {
  const match = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(response.headers.get('ratelimit') ?? '');
  return match ? { policy: match[1]!, remaining: Number(match[2]), seconds: Number(match[3]) } : undefined;
}

test('memory: admitted requests carry RateLimit; the one over the limit is a 429 rate_limited problem with Retry-After and X-RateLimit-*', async (t) => {
  const app = await listen(limitedApp(rateLimiterFactory(memoryBackend()), 'memory-1', 3));
  try {
    const ok = await fetch(`${app.url}/limited`);
    await ok.arrayBuffer();
    const field = rateLimitField(ok);
    t.like(field, { policy: 'memory-1', remaining: 2 }, `RateLimit: ${ok.headers.get('ratelimit')}`);
    t.true(field !== undefined && field.seconds >= 59 && field.seconds <= 60, 'seconds until the window resets');
    t.is(ok.headers.get('x-ratelimit-remaining'), null, 'the X-RateLimit-* trio is for 429s');
    t.deepEqual(await statuses([app, app]), [200, 200]);
    const limited = await fetch(`${app.url}/limited`);
    const retryAfter = Number(limited.headers.get('retry-after'));
    t.true(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    t.is(limited.headers.get('x-ratelimit-limit'), '3');
    t.is(limited.headers.get('x-ratelimit-remaining'), '0');
    const reset = Number(limited.headers.get('x-ratelimit-reset'));
    t.true(
      Number.isInteger(reset) && reset > Date.now() / 1000 && reset <= Date.now() / 1000 + 61,
      `reset ${reset} is whole epoch seconds within the window`,
    );
    t.like(rateLimitField(limited), { policy: 'memory-1', remaining: 0 });
    t.is(limited.headers.get('ratelimit-policy'), '"memory-1";q=3;w=60');
    await expectProblem(t, limited, 429, 'rate_limited');
    t.deepEqual(await statuses([app], '/free'), [200], 'a request the key function skips is not limited');
  } finally {
    await app.close();
  }
});

test('memory: limits count per key', async (t) => {
  const app = await listen(
    limitedApp(rateLimiterFactory(memoryBackend()), 'memory-2', 1, (ctx) => ctx.get('x-client') || false),
  );
  try {
    const get = async (client: string) =>
      (await fetch(`${app.url}/limited`, { headers: { 'x-client': client } })).status;
    t.deepEqual([await get('a'), await get('b'), await get('a'), await get('b')], [200, 200, 429, 429]);
  } finally {
    await app.close();
  }
});

test("memory: a window opens with a key's first request and a new one starts when it ends", async (t) => {
  const app = await listen(limitedApp(rateLimiterFactory(memoryBackend()), 'memory-3', 2, () => 'one-client', 1_000));
  try {
    const remaining = async () => {
      const response = await fetch(`${app.url}/limited`);
      await response.arrayBuffer();
      return `${response.status} ${response.status === 429 ? response.headers.get('x-ratelimit-remaining') : (rateLimitField(response)?.remaining ?? '-')}`;
    };
    t.deepEqual(
      [await remaining(), await remaining(), await remaining(), await remaining()],
      ['200 1', '200 0', '429 0', '429 0'],
      'max 2 per window; refused requests stay refused',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    t.deepEqual(
      [await remaining(), await remaining(), await remaining()],
      ['200 1', '200 0', '429 0'],
      'a fresh window after the first ended',
    );
  } finally {
    await app.close();
  }
});

const redisUrl = testRedisUrl();
if (!redisUrl) console.log(`[skip] Redis rate-limit tests: ${redisSkipReason()}`);
// Skipped, with the reason printed above, only where no Redis answers (never in CI: .ci/run requires it).
const redisTest = redisUrl ? test : test.skip;

redisTest('redis: one limit shared by two app instances, 429 with headers', async (t) => {
  const redis = createRateLimitRedis(redisUrl!, logs.logger);
  await new Promise((resolve) => redis.once('ready', resolve));
  const failures: unknown[] = [];
  const factory = rateLimiterFactory(redisBackend(redis, (error) => failures.push(error)));
  const name = `test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const a = await listen(limitedApp(factory, name, 2));
  const b = await listen(limitedApp(factory, name, 2));
  try {
    const first = await fetch(`${a.url}/limited`);
    await first.arrayBuffer();
    t.like(rateLimitField(first), { policy: name, remaining: 1 }, 'RateLimit from the Redis count');
    t.is(first.headers.get('x-ratelimit-remaining'), null, "koa-ratelimit's trio is not on admitted answers");
    t.deepEqual(await statuses([b]), [200]);
    const limited = await fetch(`${b.url}/limited`);
    t.true(Number(limited.headers.get('retry-after')) >= 1);
    t.is(limited.headers.get('x-ratelimit-limit'), '2');
    t.is(limited.headers.get('x-ratelimit-remaining'), '0');
    await expectProblem(t, limited, 429, 'rate_limited');
    t.deepEqual(await statuses([a]), [429]);
    t.deepEqual(failures, []);
    t.true((await redis.keys(`vialog:ratelimit:${name}:*`)).length > 0, 'the counter lives in Redis');
    t.like(await redisReadinessCheck(redis).check(), { rateLimits: 'redis' });
  } finally {
    await a.close();
    await b.close();
    redis.disconnect();
  }
});

test('redis down: requests are answered at once, counted in memory, and the failure is reported', async (t) => {
  // Nothing listens on port 1: the client never connects. Works with or without a test Redis.
  const dead = createRateLimitRedis('redis://127.0.0.1:1', logs.logger);
  const lazy = new Redis('redis://127.0.0.1:1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  lazy.on('error', () => undefined);
  try {
    for (const client of [dead, lazy]) {
      const failures: unknown[] = [];
      const app = await listen(
        limitedApp(
          rateLimiterFactory(redisBackend(client, (error) => failures.push(error))),
          `dead-${client === dead ? 'a' : 'b'}`,
          2,
        ),
      );
      try {
        const started = Date.now();
        t.deepEqual(await statuses([app, app, app]), [200, 200, 429], 'the memory fallback still limits');
        t.true(Date.now() - started < 2_000, 'no request waited for Redis');
        t.true(failures.length > 0, 'the failure is reported');
      } finally {
        await app.close();
      }
    }
    await t.throwsAsync(() => redisReadinessCheck(dead).check(), undefined, 'readiness shows Redis down');
  } finally {
    dead.disconnect();
    lazy.disconnect();
  }
});

// --- client addresses behind proxies -----------------------------------------------------------

test('ipBucket: an IPv4 address as it is, an IPv6 address by its /64, an IPv4-mapped one as IPv4', (t) => {
  t.is(ipBucket('203.0.113.7'), '203.0.113.7');
  t.is(ipBucket('2001:db8:aa:bb::1'), '2001:db8:aa:bb::/64');
  t.is(ipBucket('2001:0DB8:00aa:00bb:ffff:1:2:3'), '2001:db8:aa:bb::/64', 'another host of the same /64, written long');
  t.not(ipBucket('2001:db8:aa:bc::1'), ipBucket('2001:db8:aa:bb::1'), 'the next /64 is another network');
  t.is(ipBucket('2001:db8::1'), '2001:db8:0:0::/64');
  t.is(ipBucket('::ffff:198.51.100.4'), '198.51.100.4');
  t.is(ipBucket('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.is(ipBucket(''), 'unknown');
});

/** An app behind `hops` trusted proxies: /ip echoes the client address, /limited allows 2 per client network. */
function proxiedApp(hops: number) {
  const router = new Router();
  router.get('/ip', (ctx) => {
    ctx.body = { ip: ctx.ip };
  });
  router.get('/limited', (ctx) => {
    ctx.body = { ok: true };
  });
  const limiter = rateLimiterFactory(memoryBackend())({
    name: `proxied-${hops}`,
    max: 2,
    durationMs: 60_000,
    key: (ctx) => (ctx.path === '/limited' ? ipBucket(ctx.ip) : false),
  });
  return createHttpApp({
    logger: logs.logger,
    bodyLimitBytes: 1024,
    trustProxy: hops,
    openapi: new OpenApiRegistry(),
    readinessChecks: [],
    middleware: [limiter],
    routers: [router],
  });
}

test('trusted proxy hops: the client is the entry our outermost proxy appended; entries the client wrote are never read', async (t) => {
  const one = await listen(proxiedApp(1));
  const two = await listen(proxiedApp(2));
  try {
    const ip = async (target: RunningApp, xff?: string) =>
      (
        (await (await fetch(`${target.url}/ip`, { headers: xff ? { 'x-forwarded-for': xff } : {} })).json()) as {
          ip: string;
        }
      ).ip;
    t.is(await ip(one, '6.6.6.6, 203.0.113.9'), '203.0.113.9', 'one proxy: the rightmost entry');
    t.is(await ip(one, '203.0.113.9'), '203.0.113.9');
    t.is(await ip(one), '127.0.0.1', 'no header: the socket address');
    t.is(
      await ip(two, '6.6.6.6, 203.0.113.9, 10.0.0.2'),
      '203.0.113.9',
      'two proxies: the second entry from the right',
    );
    const off = await listen(proxiedApp(0));
    try {
      t.is(await ip(off, '6.6.6.6'), '127.0.0.1', 'no trusted proxy: the header is ignored');
    } finally {
      await off.close();
    }
  } finally {
    await one.close();
    await two.close();
  }
});

test('a client cannot change its bucket by writing X-Forwarded-For entries; two IPv6 addresses of one /64 share a bucket', async (t) => {
  const app = await listen(proxiedApp(1));
  try {
    const get = async (xff: string) => {
      const response = await fetch(`${app.url}/limited`, { headers: { 'x-forwarded-for': xff } });
      await response.arrayBuffer();
      return response.status;
    };
    const spoofed = [
      await get('1.1.1.1, 203.0.113.20'),
      await get('2.2.2.2, 203.0.113.20'),
      await get('3.3.3.3, 4.4.4.4, 203.0.113.20'),
    ];
    t.deepEqual(spoofed, [200, 200, 429], 'the leftmost entries changed, the client did not');
    t.is(await get('203.0.113.21'), 200, 'another client is counted apart');
    t.deepEqual(
      [await get('2001:db8:5:6::1'), await get('2001:db8:5:6:ffff::2'), await get('2001:db8:5:6::3')],
      [200, 200, 429],
      'one /64, one bucket',
    );
    t.is(await get('2001:db8:5:7::1'), 200, 'the next /64 is counted apart');
  } finally {
    await app.close();
  }
});
