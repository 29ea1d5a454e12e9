// The auditor's CLI pair: `vialog audit digest > d.json`, later `vialog audit verify --digest
// d.json [--keys keys.json]`: JSON on stdout, a summary on stderr, exit 0 when the log reproduces
// the digest and 1 when it does not; quiet (no progress line) when stderr is not a terminal.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pg from 'pg';
import { generateAuditKey } from '../../platform/audit/keys.ts';
import { createKnex } from '../../platform/database/knex.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { comparePositions, type AppendResult } from '../../platform/eventstore/port.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { newEvent } from './eventstore-contract.ts';

const cli = fileURLToPath(new URL('../../app/cli.ts', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'vialog-audit-cli-'));
let db: TestDatabase;
let env: NodeJS.ProcessEnv;

type Run = { code: number | null; stdout: string; stderr: string };

function run(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH, ...env, ...extra } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

test.before(async () => {
  db = await createTestDatabase('vialog_audit_cli');
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  await knex.destroy();
  const store = openPostgresEventStore({ url: db.url });
  let last: AppendResult | undefined;
  for (let i = 0; i < 20; i++) {
    const events = [newEvent('SampleRegistered', { i }), newEvent('SampleMoved', { to: `shelf-${i}` })];
    last = await store.append(`sample-cli-${i}`, events, { expectedRevision: 'no_stream' });
  }
  for (let tries = 0; tries < 400; tries++) {
    const head = await store.headPosition();
    if (head && last && comparePositions(head, last.position) >= 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await store.close();
  const key = generateAuditKey('cli').signingKey;
  env = { DATABASE_URL: db.url, DATA_DIR: dir, LOG_LEVEL: 'silent', AUDIT_SIGNING_KEY: key };
});
test.after.always(async () => {
  await db?.drop();
});

test.serial('audit digest, then audit verify: exit 0 and ok; with the published keys only, too', async (t) => {
  const signed = await run(['audit', 'digest']);
  t.is(signed.code, 0, signed.stderr);
  const digest = JSON.parse(signed.stdout) as { eventCount: number; keyId: string };
  t.like(digest, { eventCount: 40, keyId: 'cli' });
  t.regex(signed.stderr, /40 events up to \d+\/\d+, signed with key cli/);
  writeFileSync(path.join(dir, 'd.json'), signed.stdout);

  const checked = await run(['audit', 'verify', '--digest', path.join(dir, 'd.json')]);
  t.is(checked.code, 0, checked.stderr);
  t.deepEqual(JSON.parse(checked.stdout), { ok: true, checkedEvents: 40, firstBrokenPosition: null, problems: [] });
  t.regex(checked.stderr, /^audit verify: ok/m);
  t.notRegex(checked.stderr, /verifying the log:/, 'no progress line when stderr is not a terminal');

  const keys = await run(['audit', 'keys']);
  writeFileSync(path.join(dir, 'keys.json'), keys.stdout);
  // The auditor's own copy of the keys; the service's configuration plays no part (another signing key here).
  const other = { AUDIT_SIGNING_KEY: generateAuditKey('other').signingKey };
  const withKeys = ['--keys', path.join(dir, 'keys.json')];
  const offline = await run(['audit', 'verify', '--digest', path.join(dir, 'd.json'), ...withKeys], other);
  t.is(offline.code, 0, offline.stderr);
  const unknown = await run(['audit', 'verify', '--digest', path.join(dir, 'd.json')], other);
  t.is(unknown.code, 1);
  t.like(JSON.parse(unknown.stdout), { ok: false, problems: [{ kind: 'bad_signature' }] });
});

test.serial('audit verify after an edit in the database: exit 1, the problem on stdout and stderr', async (t) => {
  const signed = await run(['audit', 'digest']);
  writeFileSync(path.join(dir, 'before.json'), signed.stdout);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ at: string }>(
    `SELECT transaction_id::text || '/' || position::text AS at FROM events
      WHERE stream_id = 'sample-cli-7' AND revision = 1`,
  );
  await client.query('BEGIN');
  await client.query('SET LOCAL session_replication_role = replica');
  await client.query(`UPDATE events SET data = '{"to": "nowhere"}' WHERE stream_id = 'sample-cli-7' AND revision = 1`);
  await client.query('COMMIT');
  await client.end();
  const checked = await run(['audit', 'verify', '--digest', path.join(dir, 'before.json')]);
  t.is(checked.code, 1);
  const problems = [{ kind: 'modified', streamId: 'sample-cli-7' }];
  t.like(JSON.parse(checked.stdout), { ok: false, firstBrokenPosition: rows[0]!.at, problems });
  t.regex(checked.stderr, new RegExp(`modified at ${rows[0]!.at} in sample-cli-7`));
});

test.serial('audit verify without a digest file, or with one that is not a digest: exit 2', async (t) => {
  t.is((await run(['audit', 'verify'])).code, 2);
  writeFileSync(path.join(dir, 'not.json'), '{"position": "1/1"}');
  const bad = await run(['audit', 'verify', '--digest', path.join(dir, 'not.json')]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /is not a digest/);
});

test('audit keygen makes a key the configuration accepts', async (t) => {
  const made = await run(['audit', 'keygen', '--kid', 'k2031']);
  t.is(made.code, 0);
  const key = /^AUDIT_SIGNING_KEY=(k2031:[A-Za-z0-9_-]{43})$/m.exec(made.stdout)?.[1];
  t.truthy(key, made.stdout);
  t.regex(made.stderr, /AUDIT_VERIFY_KEYS: k2031:[A-Za-z0-9_-]{43}/);
  const keys = await run(['audit', 'keys'], { AUDIT_SIGNING_KEY: key });
  t.is((JSON.parse(keys.stdout) as { keys: { kid: string }[] }).keys[0]!.kid, 'k2031');
});
