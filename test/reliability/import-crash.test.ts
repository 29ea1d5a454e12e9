// kill -9 in the middle of an import, then a restart: the worker resumes the job, and the job's
// `created` equals the samples whose events carry its id as correlation id — each row once.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const cli = fileURLToPath(new URL('../../app/cli.ts', import.meta.url));
let db: TestDatabase;
const env = () => ({
  PATH: process.env.PATH,
  DATABASE_URL: db.url,
  PORT: '0',
  METRICS_PORT: '0',
  DATA_DIR: '.data/test-service',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
});

function start() {
  const child = spawn(process.execPath, [cli, 'serve'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = /API on (http:\/\/[^\s]+) /.exec(out)?.[1];
      if (found) return `${found}/api/v1`;
      if (Date.now() > deadline) throw new Error(`no API: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, url };
}

test.before(async () => {
  db = await createTestDatabase('vialog_import_crash');
});
test.after.always(async () => {
  await db?.drop();
});

const ROWS = 3000;
const json = async (url: string, method: string, body?: unknown, token?: string) => {
  const r = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return (await r.json()) as Record<string, unknown>;
};

async function login(api: string): Promise<{ token: string; id: string }> {
  const user = { username: 'import_crash', email: 'import-crash@lab.example', password: 'Sturdy-Walrus-Lamp-77' };
  const registered = await json(`${api}/auth/register`, 'POST', user);
  const session = await json(`${api}/auth/login`, 'POST', { login: user.username, password: user.password });
  return { token: String(session.accessToken), id: String(registered.id) };
}

async function until(api: string, token: string, id: string, done: (job: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await json(`${api}/imports/${id}`, 'GET', undefined, token);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`import stuck: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('kill -9 while importing, then a restart: created equals the samples carrying the import id', async (t) => {
  const first = start();
  const api = await first.url();
  const { token, id: labId } = await login(api);
  const lines = ['sampleType,subjectId,collectionDate,notes'];
  for (let i = 0; i < ROWS; i++) lines.push(`blood,P${1000 + i},2026-01-05,row ${i}`);
  const submitted = await fetch(`${api}/imports?labId=${labId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: lines.join('\n'),
  });
  t.is(submitted.status, 202);
  const importId = String(((await submitted.json()) as { id: string }).id);
  const before = await until(api, token, importId, (j) => j.status === 'importing' && Number(j.created) >= 400);
  first.child.kill('SIGKILL');
  await first.exited;
  t.true(Number(before.created) < ROWS, 'killed before the end');

  const second = start();
  const api2 = await second.url();
  const job = await until(api2, token, importId, (j) => j.status === 'completed' || j.status === 'failed');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM events WHERE type = 'SampleRegistered' AND metadata->>'correlationId' = $1`,
    [importId],
  );
  const resumed = await client.query(`SELECT 1 FROM events WHERE stream_id = $1 AND type = 'ImportResumed'`, [
    `import-${importId}`,
  ]);
  await client.end();
  second.child.kill('SIGTERM');
  await second.exited;
  t.is(resumed.rowCount, 1);
  t.like(job, { status: 'completed', created: rows[0]!.n });
  t.is(rows[0]!.n, ROWS, 'every row once');
});
