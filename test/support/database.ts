// Each test file gets its own database on the test server (TEST_DATABASE_URL, set by test/run.ts:
// the local PostgreSQL when one answers, else an embedded one) and drops it when done.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ExecutionContext, TestFn } from 'ava';

export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test` (test/run.ts sets it)');
  return url;
}

function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'vialog_test'): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(serverUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Registers before/after hooks that give the file one fresh database. */
export function useTestDatabase<Context>(test: TestFn<Context>): () => TestDatabase {
  let db: TestDatabase | undefined;
  test.before(async () => {
    db = await createTestDatabase();
  });
  test.after.always(async () => {
    await db?.drop();
  });
  return () => {
    if (!db) throw new Error('test database not created yet');
    return db;
  };
}

/** Redis for tests: TEST_REDIS_URL when test/run.ts found one; otherwise the test is skipped with the reason printed. */
export function testRedisUrl(): string | undefined {
  return process.env.TEST_REDIS_URL || undefined;
}

export function redisSkipReason(): string {
  return process.env.TEST_REDIS_SKIP_REASON ?? 'no Redis at TEST_REDIS_URL';
}

export type { ExecutionContext };
