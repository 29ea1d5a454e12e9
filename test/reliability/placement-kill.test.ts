// kill -9 between the two appends of a placement: a process claims the slot on the box's stream and
// is killed before the sample's SamplePlaced; the next start of the service completes it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startService } from '../../app/service.ts';
import { createPasswordHasher } from '../../modules/identity/passwords.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logging.ts';
import { asUser, eventTypes } from '../support/client.ts';
import { newUser, testArgon2, useTestService } from '../support/service.ts';

const child = fileURLToPath(new URL('../support/placement-child.ts', import.meta.url));
const svc = useTestService(test);

test('kill -9 after the box claimed, before the sample recorded: the next start completes the placement', async (t) => {
  const lee = await newUser(svc.api, 'lee');
  const asLee = asUser(svc.api, lee);
  const freezer = (await asLee.post('/storage/units', { labId: lee.id, name: 'F', kind: 'freezer' })).body.id;
  const box = (
    await asLee.post('/storage/units', {
      labId: lee.id,
      name: 'Box 1',
      kind: 'box',
      parentId: freezer,
      grid: { rows: 2, columns: 2 },
    })
  ).body.id as string;
  const sample = (
    await asLee.post('/samples', { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-01-05' })
  ).body.id as string;

  const proc = spawn(process.execPath, [child, svc.db.url, box, 'A1', sample, lee.id], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  for (const deadline = Date.now() + 30_000; !out.includes('CLAIMED');) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no claim: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  await exited;
  t.deepEqual(await eventTypes(svc, `unit-${box}`), ['StorageUnitCreated', 'BoxSlotClaimed']);
  t.deepEqual(await eventTypes(svc, `sample-${sample}`), ['SampleRegistered']);

  // Past the grace period a placement under way is given, the service starts again.
  await new Promise((r) => setTimeout(r, 5_500));
  const again = await startService(
    loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: svc.db.url,
      PORT: '0',
      DATABASE_POOL_MAX: '4',
      JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
    }),
    createLogger({ level: 'silent' }),
    { api: true, projector: false },
    { handleSignals: false, passwordHasher: createPasswordHasher({ parameters: testArgon2 }) },
  );
  await again.stop();
  t.deepEqual(await eventTypes(svc, `sample-${sample}`), ['SampleRegistered', 'SamplePlaced']);
  const map = await asLee.get(`/storage/units/${box}/map`);
  t.like((map.body.positions as unknown[])[0], { position: 'A1', sample: { id: sample } });
});
