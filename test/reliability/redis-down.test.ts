// Redis goes away: the service keeps serving (rate limits count in memory meanwhile), readiness
// says Redis is down, and everything is back when Redis returns. Runs a private redis-server so
// the shared one the other tests use is never touched.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { call, newUser, startTestService, type TestService } from '../support/service.ts';

const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0;
if (!haveRedisServer) console.log('[skip] Redis outage test: no redis-server binary on this machine (.ci/run has one)');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function redisServer(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

async function until(probe: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

let svc: TestService | undefined;
let redis: ChildProcess | undefined;
test.after.always(async () => {
  await svc?.stop();
  redis?.kill('SIGKILL');
});

(haveRedisServer ? test : test.skip)(
  'Redis stops: requests keep being served, readiness says so, and it recovers',
  async (t) => {
    const port = await freePort();
    redis = redisServer(port);
    svc = await startTestService({ REDIS_URL: `redis://127.0.0.1:${port}` });
    const ready = async () => (await fetch(`${svc!.url}/health/ready`)).status === 200;
    t.true(await until(ready), 'ready with Redis up');
    const user = await newUser(svc.api, 'outage');

    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const during = await call(svc.api, 'GET', '/samples', { token: user.accessToken });
    t.is(during.status, 200, 'requests are served without Redis');
    t.is(
      (
        await call(svc.api, 'POST', '/samples', {
          token: user.accessToken,
          body: { sampleType: 'blood', subjectId: 'R001', collectionDate: new Date().toISOString().slice(0, 10) },
        })
      ).status,
      201,
    );
    const login = await call(svc.api, 'POST', '/auth/login', {
      body: { login: user.username, password: user.password },
    });
    t.is(login.status, 200, 'login limits fall back to memory');
    const readiness = await fetch(`${svc.url}/health/ready`);
    t.is(readiness.status, 503);
    const detail = (await readiness.json()) as { checks: Record<string, { status: string }> };
    t.not(detail.checks.redis?.status, 'ok');

    redis = redisServer(port);
    t.true(await until(ready), 'ready again once Redis is back');
    t.is((await call(svc.api, 'GET', '/samples', { token: user.accessToken })).body.total, 1);
  },
);
