// Immutability by privilege, in the documented production set-up: migrations run as the owner
// (DATABASE_MIGRATION_URL), the service as a login role made a member of vialog_runtime
// (DATABASE_URL). That role may insert and read events and do all the service's work, but
// PostgreSQL refuses it UPDATE, DELETE and TRUNCATE on events, and every way around the trigger.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import pg from 'pg';
import { startService, type RunningService } from '../../app/service.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logging.ts';
import { createPasswordHasher } from '../../modules/identity/passwords.ts';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../support/database.ts';
import { call, newUser, testArgon2 } from '../support/service.ts';
import { newEvent } from './eventstore-contract.ts';

const PERMISSION_DENIED = '42501';
let db: TestDatabase;
let service: RunningService;
let api: string;
let runtimeUrl: string;
const runtimeLogin = `vialog_app_${randomBytes(4).toString('hex')}`;
const admin = { username: 'runtime-admin', password: 'Granite-Pelican-Orbit-53' };

async function asServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

test.before(async () => {
  db = await createTestDatabase('vialog_runtime');
  await asServer(`CREATE ROLE ${runtimeLogin} LOGIN`);
  const url = new URL(db.url);
  url.username = runtimeLogin;
  runtimeUrl = url.toString();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: runtimeUrl,
    DATABASE_MIGRATION_URL: db.url,
    PORT: '0',
    DATA_DIR: '.data/test-service',
    DATABASE_POOL_MAX: '4',
    PROJECTION_POLL_INTERVAL_MS: '200',
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
  });
  const logger = createLogger({ level: 'warn' }, new Writable({ write: (_c, _e, done) => done() }));
  const passwordHasher = createPasswordHasher({ parameters: testArgon2 });
  const roles = { api: true, projector: true };
  service = await startService(config, logger, roles, { handleSignals: false, passwordHasher });
  api = `${service.url!}/api/v1`;
});

test.after.always(async () => {
  await service?.stop();
  await db?.drop();
  await asServer(`DROP ROLE IF EXISTS ${runtimeLogin}`).catch(() => undefined);
});

async function asRuntime<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: runtimeUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const refusal = async (client: pg.Client, sql: string): Promise<string | undefined> =>
  client.query(sql).then(
    () => undefined,
    (error: { code?: string }) => error.code,
  );

test.serial('the service works as the runtime role: accounts, samples, rebuilds, digests, verification', async (t) => {
  const login = { login: admin.username, password: admin.password };
  const adminToken = (await call(api, 'POST', '/auth/login', { body: login })).body.accessToken;
  const alice = await newUser(api, 'alice');
  const sample = { sampleType: 'blood', subjectId: 'P001', collectionDate: new Date().toISOString().slice(0, 10) };
  const created = await call(api, 'POST', '/samples', { token: alice.accessToken, body: sample });
  t.is(created.status, 201);
  t.is((await call(api, 'GET', '/samples', { token: alice.accessToken })).body.total, 1);
  // A rebuild drops and swaps read-model tables: the runtime role owns those it created.
  t.is((await call(api, 'POST', '/admin/projections/samples/rebuild', { token: adminToken })).status, 202);
  let samples: { rebuildRequested: boolean; status: string; lastError: string | null } | undefined;
  for (let i = 0; i < 300 && (!samples || samples.rebuildRequested || samples.status !== 'running'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    const statuses = (await call(api, 'GET', '/admin/projections', { token: adminToken })).body;
    samples = statuses.find((p: { name: string }) => p.name === 'samples');
  }
  t.like(samples, { rebuildRequested: false, status: 'running', lastError: null });
  t.is((await call(api, 'GET', '/samples', { token: alice.accessToken })).body.total, 1);
  const digest = (await call(api, 'GET', '/audit/digest', { token: adminToken })).body;
  t.true(digest.eventCount > 0);
  t.like((await call(api, 'POST', '/audit/verify', { token: adminToken, body: { digest } })).body, { ok: true });
  const user = await asRuntime(async (c) => (await c.query<{ name: string }>('SELECT current_user AS name')).rows[0]);
  t.is(user?.name, runtimeLogin);
});

test.serial('the runtime role may insert events but PostgreSQL refuses it UPDATE, DELETE and TRUNCATE', async (t) => {
  await asRuntime(async (client) => {
    const e = newEvent('Probe');
    await client.query(
      `INSERT INTO events (stream_id, revision, event_id, type, schema_version, data, metadata)
       VALUES ('probe-1', 0, $1, 'Probe', 1, '{}', $2)`,
      [e.metadata.eventId, JSON.stringify(e.metadata)],
    );
    t.is(await refusal(client, `UPDATE events SET data = '{"x": 1}' WHERE stream_id = 'probe-1'`), PERMISSION_DENIED);
    t.is(await refusal(client, `DELETE FROM events WHERE stream_id = 'probe-1'`), PERMISSION_DENIED);
    t.is(await refusal(client, 'TRUNCATE events'), PERMISSION_DENIED);
  });
});

test.serial('the runtime role cannot get around the trigger: disabling, replica mode, drop, digests', async (t) => {
  await asRuntime(async (client) => {
    t.is(await refusal(client, 'ALTER TABLE events DISABLE TRIGGER USER'), PERMISSION_DENIED);
    t.is(await refusal(client, 'SET session_replication_role = replica'), PERMISSION_DENIED);
    t.is(await refusal(client, 'DROP TABLE events'), PERMISSION_DENIED);
    t.is(await refusal(client, 'ALTER TABLE events OWNER TO CURRENT_USER'), PERMISSION_DENIED);
    t.is(await refusal(client, 'DELETE FROM audit_digests'), PERMISSION_DENIED);
    t.is(await refusal(client, 'UPDATE audit_digests SET event_count = 0'), PERMISSION_DENIED);
    t.is(await refusal(client, `SET ROLE ${'vialog_runtime'}; DELETE FROM events`), PERMISSION_DENIED);
    const left = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE stream_id = 'probe-1'`);
    t.is(left.rows[0]!.n, 1);
  });
});
