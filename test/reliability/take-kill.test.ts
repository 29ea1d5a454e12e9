// kill -9 between the parent's event and its children's, for POST /samples/{id}/aliquots and
// /derivatives: the service runs in its own process (test/support/take-child.ts) and is killed
// after the parent's SampleAliquoted/SampleDerived is stored and before any child stream is. The
// next start writes the announced children, so a parent is never debited for children that do not
// exist; the same request repeated under its Idempotency-Key creates nothing new.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startService } from '../../app/service.ts';
import { createPasswordHasher } from '../../modules/identity/passwords.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logging.ts';
import { asUser, eventsOf, eventTypes, expectProblem } from '../support/client.ts';
import { eventually } from '../support/eventually.ts';
import { newUser, testArgon2, useTestService, type TestUser } from '../support/service.ts';

const childScript = fileURLToPath(new URL('../support/take-child.ts', import.meta.url));
const svc = useTestService(test);

/** The service in a child process that pauses after the parent's event; resolves once it listens. */
async function pausingService() {
  const proc = spawn(process.execPath, [childScript, svc.db.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const waitFor = async (pattern: RegExp) => {
    for (const deadline = Date.now() + 60_000; ;) {
      const found = pattern.exec(out);
      if (found) return found;
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no ${pattern}: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const api = `${(await waitFor(/API on (http:\/\/\S+)/))[1]}/api/v1`;
  return { api, waitFor, kill: async () => void (proc.kill('SIGKILL'), await exited) };
}

/** A restart of the service on the same database (its start completes announced children). */
async function restart(): Promise<void> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: svc.db.url,
    PORT: '0',
    DATABASE_POOL_MAX: '4',
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
  });
  const again = await startService(
    config,
    createLogger({ level: 'silent' }),
    { api: true, projector: false },
    { handleSignals: false, passwordHasher: createPasswordHasher({ parameters: testArgon2 }) },
  );
  await again.stop();
}

/** The killed request's claim on its key lapses, as it does after the lease (minutes). */
async function leaseLapses(): Promise<void> {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    await client.query(
      "UPDATE idempotency_keys SET created_at = now() - interval '1 hour' WHERE state = 'in_progress'",
    );
  } finally {
    await client.end();
  }
}

/** The children the parent's take event announced (from the event itself). */
async function announced(parentId: string): Promise<{ sampleId: string; barcode: string }[]> {
  const take = (await eventsOf(svc, `sample-${parentId}`)).find(
    (e) => e.type === 'SampleAliquoted' || e.type === 'SampleDerived',
  );
  const data = take?.data as {
    children?: { sampleId: string; barcode: string }[];
    child?: { sampleId: string; barcode: string };
  };
  return data?.children ?? (data?.child ? [data.child] : []);
}

async function killBetweenParentAndChildren(
  t: ExecutionContext,
  u: TestUser,
  path: 'aliquots' | 'derivatives',
  body: unknown,
) {
  const parent = await asUser(svc.api, u).post('/samples', {
    sampleType: 'blood',
    subjectId: 'P321',
    collectionDate: new Date().toISOString().slice(0, 10),
    quantity: { value: 2, unit: 'mL' },
  });
  const parentId = String(parent.body.id);
  const key = randomUUID();
  const child = await pausingService();
  const pending = asUser(child.api, u)
    .post(`/samples/${parentId}/${path}`, body, { idempotencyKey: key })
    .catch(() => undefined); // the connection dies with the process
  await child.waitFor(/PAUSED before/);
  await child.kill();
  await pending;

  // Killed there: the parent is debited, no child stream exists.
  const take = path === 'aliquots' ? 'SampleAliquoted' : 'SampleDerived';
  t.deepEqual(await eventTypes(svc, `sample-${parentId}`), ['SampleRegistered', take]);
  const children = await announced(parentId);
  t.true(children.length > 0);
  for (const c of children) t.deepEqual(await eventTypes(svc, `sample-${c.sampleId}`), []);

  await restart();
  for (const c of children) {
    t.deepEqual(await eventTypes(svc, `sample-${c.sampleId}`), ['SampleRegistered']);
    const found = await eventually(
      () => asUser(svc.api, u).get(`/samples/by-barcode/${c.barcode}`),
      (r) => r.status === 200,
    );
    t.like(found.body, { id: c.sampleId, parentId, subjectId: 'P321' });
  }
  return { parentId, key, children };
}

test.serial('aliquots: kill -9 after the parent is debited, the next start writes its children', async (t) => {
  const u = await newUser(svc.api, 'killaliq');
  const body = { count: 3, quantity: { value: 250, unit: 'uL' } };
  const { parentId, key, children } = await killBetweenParentAndChildren(t, u, 'aliquots', body);
  t.is(children.length, 3);
  const lineage = await asUser(svc.api, u).get(`/samples/${parentId}/lineage`);
  t.deepEqual(
    (lineage.body.descendants as { sample: { id: string } }[]).map((d) => d.sample.id).sort(),
    children.map((c) => c.sampleId).sort(),
  );
  const parent = await asUser(svc.api, u).get(`/samples/${parentId}`);
  t.deepEqual(parent.body.remaining, { value: 1.25, unit: 'mL' });

  // The repeat under the same key runs nothing while the killed request's claim is held ...
  const repeat = await asUser(svc.api, u).post(`/samples/${parentId}/aliquots`, body, { idempotencyKey: key });
  expectProblem(t, repeat, 409, 'idempotency_request_in_progress');
  // ... and once it lapses, answers what that request took: the same children, nothing new.
  await leaseLapses();
  const later = await asUser(svc.api, u).post(`/samples/${parentId}/aliquots`, body, { idempotencyKey: key });
  t.is(later.status, 201);
  t.deepEqual((later.body.items as { id: string }[]).map((c) => c.id).sort(), children.map((c) => c.sampleId).sort());
  t.deepEqual((later.body.parent as { remaining: unknown }).remaining, { value: 1.25, unit: 'mL' });
  t.deepEqual(await eventTypes(svc, `sample-${parentId}`), ['SampleRegistered', 'SampleAliquoted']);
  t.is((await asUser(svc.api, u).get('/samples')).body.total, 4);
});

test.serial('derivatives: kill -9 after the parent is debited, the next start writes the derivative', async (t) => {
  const u = await newUser(svc.api, 'killderiv');
  const body = { sampleType: 'plasma', quantity: { value: 1, unit: 'mL' }, consumes: { value: 1.5, unit: 'mL' } };
  const { parentId, key, children } = await killBetweenParentAndChildren(t, u, 'derivatives', body);
  t.is(children.length, 1);
  const derivative = await asUser(svc.api, u).get(`/samples/${children[0]!.sampleId}`);
  t.like(derivative.body, { lineage: 'derivative', sampleType: 'plasma', quantity: { value: 1, unit: 'mL' } });
  t.deepEqual((await asUser(svc.api, u).get(`/samples/${parentId}`)).body.remaining, { value: 0.5, unit: 'mL' });

  const repeat = await asUser(svc.api, u).post(`/samples/${parentId}/derivatives`, body, { idempotencyKey: key });
  expectProblem(t, repeat, 409, 'idempotency_request_in_progress');
  await leaseLapses();
  const later = await asUser(svc.api, u).post(`/samples/${parentId}/derivatives`, body, { idempotencyKey: key });
  t.is(later.status, 201);
  t.is(later.body.id, children[0]!.sampleId);
  t.deepEqual(await eventTypes(svc, `sample-${parentId}`), ['SampleRegistered', 'SampleDerived']);
  t.is((await asUser(svc.api, u).get('/samples')).body.total, 2);
});
