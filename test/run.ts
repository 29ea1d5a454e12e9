// `npm test` (after lint, type-check and dependency rules): finds a PostgreSQL and a Redis for the
// tests, then runs ava. PostgreSQL: TEST_DATABASE_URL, else the local server on 5432, else an
// embedded one (so a fresh machine needs nothing installed). Redis: TEST_REDIS_URL, else the local
// one on 6379, else the Redis-only tests report that they were skipped and why.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/database/embedded.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const env: NodeJS.ProcessEnv = { ...process.env };
let embedded: EmbeddedPostgresHandle | undefined;

if (env.TEST_DATABASE_URL) {
  console.log(`tests: PostgreSQL from TEST_DATABASE_URL`);
} else if (await postgresAnswers(LOCAL_POSTGRES)) {
  env.TEST_DATABASE_URL = LOCAL_POSTGRES;
  console.log(`tests: PostgreSQL at ${LOCAL_POSTGRES}`);
} else {
  console.log('tests: no PostgreSQL answered at 127.0.0.1:5432; starting an embedded one under .data/test-postgres');
  embedded = await startEmbeddedPostgres({ dataDir: path.join(root, '.data', 'test-postgres'), database: 'postgres' });
  env.TEST_DATABASE_URL = embedded.url;
}

const redisUrl = env.TEST_REDIS_URL ?? LOCAL_REDIS;
if (await redisAnswers(redisUrl)) {
  env.TEST_REDIS_URL = redisUrl;
  console.log(`tests: Redis at ${redisUrl}`);
} else {
  delete env.TEST_REDIS_URL;
  env.TEST_REDIS_SKIP_REASON = `no Redis answered at ${redisUrl}; Redis-only tests are skipped`;
  console.log(`tests: ${env.TEST_REDIS_SKIP_REASON}`);
  if (env.VIALOG_TEST_REQUIRE_REDIS === '1') {
    console.error('tests: VIALOG_TEST_REQUIRE_REDIS=1 but Redis is not available');
    await embedded?.stop();
    process.exit(1);
  }
}

const ava = spawn(
  process.execPath,
  [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), ...process.argv.slice(2)],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
    cwd: root,
  },
);
// Pass ava's output through, and close with one plain summary line that any CI reader understands.
let tail = '';
let passedMarks = 0;
let failedMarks = 0;
let pending = '';
ava.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
  const lines = (pending + chunk.toString()).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    if (/^\s+✔/.test(line)) passedMarks += 1;
    else if (/^\s+✘/.test(line)) failedMarks += 1;
  }
});
const code: number = await new Promise((resolve) => ava.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await embedded?.stop();
const count = (word: string) => Number(new RegExp(`(\\d+) (?:tests?|known failures?) ${word}`).exec(tail)?.[1] ?? 0);
// ava prints "N tests passed" only when nothing failed; otherwise count the marks it printed.
const passed = count('passed') || passedMarks;
const failed = Math.max(count('failed'), failedMarks, code !== 0 ? 1 : 0);
console.log(`\ntests: ${passed} passed, ${failed} failed, ${count('skipped')} skipped`);
process.exit(code);
