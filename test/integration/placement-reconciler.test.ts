// A placement is two appends (the box's claim, then the sample's SamplePlaced): a crash between them
// is completed or undone when the service starts (app/storage-wiring.ts reconcilePlacements).
import test from 'ava';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import type { Position } from '../../platform/eventstore/port.ts';
import { reconcilePlacements } from '../../app/storage-wiring.ts';
import { createStorageCommands, type StorageCommands } from '../../modules/storage/commands.ts';
import { createSampleCommands, type SampleCommands } from '../../modules/samples/commands.ts';
import { asUser, eventTypes, type Client } from '../support/client.ts';
import { newUser, startSecondApi, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let lee: TestUser;
let asLee: Client;
let storage: StorageCommands;
let samples: SampleCommands;
const aMinuteAgo = () => new Date(Date.now() - 60_000);
test.before(async () => {
  svc = await startTestService();
  lee = await newUser(svc.api, 'lee');
  asLee = asUser(svc.api, lee);
  const { engine, infrastructure } = svc.service;
  const wait = (names: string[]) => (position: Position) =>
    engine.waitForProjections(names, position, { timeoutMs: 30_000 });
  // The box's half alone, as a crash right after it leaves it (a minute ago: past the grace period).
  storage = createStorageCommands({
    store: infrastructure.store,
    waitForReadModel: wait(['storage']),
    hasChildren: () => Promise.resolve(false),
    now: aMinuteAgo,
  });
  samples = createSampleCommands({ store: infrastructure.store, waitForReadModel: wait(['samples']) });
});
test.after.always(async () => {
  await svc?.stop();
});

const create = async (body: Record<string, unknown>): Promise<string> => {
  const r = await asLee.post('/storage/units', { labId: lee.id, ...body });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id as string;
};
const boxes = async () => {
  const freezer = await create({ name: 'Freezer A', kind: 'freezer' });
  const grid = { rows: 8, columns: 12 };
  return {
    box: await create({ name: 'Box 7', kind: 'box', parentId: freezer, grid }),
    other: await create({ name: 'Box 8', kind: 'box', parentId: freezer, grid }),
  };
};
const sample = async () => {
  const r = await asLee.post('/samples', { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-01-05' });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return { id: r.body.id as string, labId: lee.id, sampleType: 'blood' };
};
const holder = async (boxId: string, position: string) => {
  const map = await asLee.get(`/storage/units/${boxId}/map`);
  const slots = map.body.positions as { position: string; sample: { id: string } | null }[];
  return slots.find((p) => p.position === position)?.sample?.id ?? null;
};

test.serial('a claim the sample never heard of is completed when the service starts again', async (t) => {
  const { box } = await boxes();
  const s = await sample();
  await storage.claimSlot(box, 'A1', s, systemCause());
  t.deepEqual(await eventTypes(svc, `sample-${s.id}`), ['SampleRegistered']);
  // A second service on the same database: its start runs the reconciler; its stop waits for it.
  const again = await startSecondApi(svc);
  await again.service.stop();
  t.deepEqual(await eventTypes(svc, `sample-${s.id}`), ['SampleRegistered', 'SamplePlaced']);
  t.is(await holder(box, 'A1'), s.id);
});

test.serial('a claim for a sample discarded since is released', async (t) => {
  const { box } = await boxes();
  const s = await sample();
  await storage.claimSlot(box, 'B1', s, systemCause());
  // Discarded by the command alone, as if the crash also lost the route's release of the slot.
  await samples.discard(s.id, undefined, () => Promise.resolve('manager'), systemCause());
  const outcome = await reconcilePlacements({ knex: svc.service.infrastructure.knex, storage, samples, graceMs: 0 });
  t.true(outcome.released >= 1);
  t.is(await holder(box, 'B1'), null);
  t.deepEqual((await eventTypes(svc, `unit-${box}`)).slice(-1), ['BoxSlotReleased']);
});

test.serial('a slot the sample left (its unplacement recorded, the release lost) is released', async (t) => {
  const { box } = await boxes();
  const s = await sample();
  t.is((await asLee.put(`/samples/${s.id}/location`, { unitId: box, position: 'C1' })).status, 200);
  await samples.unplace(s.id, 'unplaced', () => Promise.resolve('manager'), systemCause());
  await reconcilePlacements({ knex: svc.service.infrastructure.knex, storage, samples, graceMs: 0 });
  t.is(await holder(box, 'C1'), null);
});

test.serial(
  'a move cut after the new box claimed is completed: the sample records it, the old box frees its slot',
  async (t) => {
    const { box, other } = await boxes();
    const s = await sample();
    t.is((await asLee.put(`/samples/${s.id}/location`, { unitId: box, position: 'D1' })).status, 200);
    // The new claim, a moment after the placement (this storage side's clock is a minute behind).
    const later = createStorageCommands({
      store: svc.service.infrastructure.store,
      waitForReadModel: (position) =>
        svc.service.engine.waitForProjections(['storage'], position, { timeoutMs: 30_000 }),
      hasChildren: () => Promise.resolve(false),
    });
    await later.claimSlot(other, 'D2', s, systemCause());
    await reconcilePlacements({ knex: svc.service.infrastructure.knex, storage, samples, graceMs: 0 });
    t.is(await holder(box, 'D1'), null);
    t.is(await holder(other, 'D2'), s.id);
    const located = await asLee.get(`/samples/${s.id}/history`);
    t.like((located.body.items as { changes: unknown }[]).at(-1), {
      changes: { location: { from: { unitId: box, position: 'D1' }, to: { unitId: other, position: 'D2' } } },
    });
  },
);

test.serial('a placement whose both halves were recorded is kept', async (t) => {
  const { box } = await boxes();
  const s = await sample();
  await asLee.put(`/samples/${s.id}/location`, { unitId: box, position: 'E1' });
  await reconcilePlacements({ knex: svc.service.infrastructure.knex, storage, samples, graceMs: 0 });
  t.is(await holder(box, 'E1'), s.id);
  t.deepEqual(await eventTypes(svc, `sample-${s.id}`), ['SampleRegistered', 'SamplePlaced']);
});
