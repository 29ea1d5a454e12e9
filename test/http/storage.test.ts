// Storage over HTTP (API.md, Storage): every unit route and failure, paths kept current when a
// unit is renamed or moved, the box map (JSON and SVG) and free positions, and the box as the
// consistency boundary of its slots (20 concurrent claims on one slot: exactly one wins).
import test from 'ava';
import { DomainError } from '../../platform/commands/decision.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { createStorageCommands, type StorageCommands } from '../../modules/storage/commands.ts';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let lee: TestUser;
let asLee: Client;
let asKim: Client;
let slots: StorageCommands;
test.before(async () => {
  svc = await startTestService();
  lee = await newUser(svc.api, 'lee');
  asLee = asUser(svc.api, lee);
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
  // The box's half of a placement, as the sample side will call it.
  const { engine, store } = { engine: svc.service.engine, store: svc.service.infrastructure.store };
  slots = createStorageCommands({
    store,
    waitForReadModel: (position) => engine.waitForProjections(['storage'], position, { timeoutMs: 5000 }),
    hasChildren: () => Promise.resolve(false),
  });
});
test.after.always(async () => {
  await svc?.stop();
});

type Unit = { id: string; path: string; [k: string]: unknown };
const create = async (body: Record<string, unknown>): Promise<Unit> => {
  const r = await asLee.post('/storage/units', { labId: lee.id, ...body });
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Unit;
};
/** Freezer A / Rack 2 / Box 7 (8 × 12), fresh for each test. */
const tree = async () => {
  const freezer = await create({ name: 'Freezer A', kind: 'freezer', temperatureC: -80 });
  const rack = await create({ name: 'Rack 2', kind: 'rack', parentId: freezer.id });
  const box = await create({ name: 'Box 7', kind: 'box', parentId: rack.id, grid: { rows: 8, columns: 12 } });
  return { freezer, rack, box };
};
const sampleOf = async (sampleType = 'blood') => {
  const r = await asLee.post('/samples', {
    sampleType,
    subjectId: 'P001',
    collectionDate: '2026-01-05',
    ...(sampleType === 'tissue' ? { storageLocation: 'freezer-1-rowA' } : {}),
  });
  return { id: r.body.id as string, barcode: r.body.barcode as string, labId: lee.id, sampleType };
};

test('POST /storage/units: 201 with the unit, Location and its path', async (t) => {
  const freezer = await asLee.post('/storage/units', {
    labId: lee.id,
    name: 'Freezer A',
    kind: 'freezer',
    temperatureC: -80,
  });
  t.is(freezer.status, 201);
  t.is(freezer.headers.get('location'), `/api/v1/storage/units/${String(freezer.body.id)}`);
  t.like(freezer.body, {
    labId: lee.id,
    name: 'Freezer A',
    kind: 'freezer',
    parentId: null,
    path: 'Freezer A',
    grid: null,
    temperatureC: -80,
    capacity: 0,
    occupied: 0,
    version: 1,
  });
  t.deepEqual(Object.keys(freezer.body).sort(), [
    'capacity',
    'createdAt',
    'grid',
    'id',
    'kind',
    'labId',
    'name',
    'occupied',
    'parentId',
    'path',
    'temperatureC',
    'version',
  ]);
  const { box } = await tree();
  t.like(box, { path: 'Freezer A / Rack 2 / Box 7', grid: { rows: 8, columns: 12 }, capacity: 96, occupied: 0 });
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated']);
});

test('POST /storage/units: field rules give one 422 validation_failed listing them all', async (t) => {
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: '  ', kind: 'freezer', grid: { rows: 2, columns: 2 } }),
    422,
    'validation_failed',
    ['grid', 'name'],
  );
  const { rack } = await tree();
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'Box', kind: 'box', parentId: rack.id }),
    422,
    'validation_failed',
    ['grid'],
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'F', kind: 'freezer', temperatureC: -500 }),
    422,
    'validation_failed',
    ['temperatureC'],
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'F', kind: 'igloo' }),
    422,
    'validation_failed',
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'F', kind: 'freezer', path: 'x' }),
    422,
    'validation_failed',
  );
});

test('POST /storage/units: a kind where it may not stand is 422 invalid_parent', async (t) => {
  const { rack, box } = await tree();
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'R', kind: 'rack' }),
    422,
    'invalid_parent',
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', { labId: lee.id, name: 'F', kind: 'freezer', parentId: rack.id }),
    422,
    'invalid_parent',
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', {
      labId: lee.id,
      name: 'B',
      kind: 'box',
      parentId: box.id,
      grid: { rows: 1, columns: 1 },
    }),
    422,
    'invalid_parent',
  );
  expectProblem(
    t,
    await asLee.post('/storage/units', {
      labId: lee.id,
      name: 'R',
      kind: 'rack',
      parentId: '00000000-0000-4000-8000-000000000000',
    }),
    422,
    'invalid_parent',
  );
});

test("POST /storage/units: a lab the caller is not a member of is 404; another lab's parent is invalid_parent", async (t) => {
  const { freezer } = await tree();
  expectProblem(t, await asKim.post('/storage/units', { labId: lee.id, name: 'F', kind: 'freezer' }), 404, 'not_found');
  const kimLab = ((await asKim.get('/auth/me')).body as { id: string }).id;
  expectProblem(
    t,
    await asKim.post('/storage/units', { labId: kimLab, name: 'R', kind: 'rack', parentId: freezer.id }),
    422,
    'invalid_parent',
  );
});

test('GET /storage/units/{id}: 200 for a member; 404 for anyone else, unknown or removed; 400 for a bad id', async (t) => {
  const { box } = await tree();
  const r = await asLee.get(`/storage/units/${box.id}`);
  t.is(r.status, 200);
  t.like(r.body, { id: box.id, path: 'Freezer A / Rack 2 / Box 7' });
  expectProblem(t, await asKim.get(`/storage/units/${box.id}`), 404, 'not_found');
  expectProblem(t, await asLee.get('/storage/units/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  t.is((await asLee.get('/storage/units/not-a-uuid')).status, 400);
});

test('GET /storage/units: top-level units without parentId, children with it, by kind; never another lab', async (t) => {
  const { freezer, rack } = await tree();
  const shelf = await create({ name: 'Shelf 1', kind: 'shelf', parentId: freezer.id });
  const top = await asLee.get('/storage/units?limit=100');
  t.is(top.status, 200);
  const topItems = top.body.items as Unit[];
  t.true(topItems.some((u) => u.id === freezer.id));
  t.false(
    topItems.some((u) => u.id === rack.id),
    'only top-level units',
  );
  const children = await asLee.get(`/storage/units?parentId=${freezer.id}`);
  t.deepEqual(
    (children.body.items as Unit[]).map((u) => u.path),
    ['Freezer A / Rack 2', 'Freezer A / Shelf 1'],
  );
  t.is(children.body.total, 2);
  const shelves = await asLee.get(`/storage/units?parentId=${freezer.id}&kind=shelf&labId=${lee.id}`);
  t.deepEqual(
    (shelves.body.items as Unit[]).map((u) => u.id),
    [shelf.id],
  );
  const kim = await asKim.get(`/storage/units?parentId=${freezer.id}`);
  t.deepEqual(kim.body.items, []);
  const kimAsking = await asKim.get(`/storage/units?labId=${lee.id}`);
  t.deepEqual(kimAsking.body.items, []);
  t.is((await asLee.get('/storage/units?kind=igloo')).status, 400);
});

test('GET /storage/units: pages follow the cursor without repeating', async (t) => {
  const freezer = await create({ name: 'Paged', kind: 'freezer' });
  for (const n of [1, 2, 3]) await create({ name: `Shelf ${n}`, kind: 'shelf', parentId: freezer.id });
  const first = await asLee.get(`/storage/units?parentId=${freezer.id}&limit=2`);
  t.deepEqual(
    (first.body.items as Unit[]).map((u) => u.name),
    ['Shelf 1', 'Shelf 2'],
  );
  const second = await asLee.get(
    `/storage/units?parentId=${freezer.id}&limit=2&cursor=${String(first.body.nextCursor)}`,
  );
  t.deepEqual(
    (second.body.items as Unit[]).map((u) => u.name),
    ['Shelf 3'],
  );
  t.is(second.body.nextCursor, null);
});

test('PATCH /storage/units/{id}: a rename changes the paths below; a temperature is set', async (t) => {
  const { freezer, box } = await tree();
  const r = await asLee.patch(`/storage/units/${freezer.id}`, { name: 'Freezer B', temperatureC: -70 });
  t.is(r.status, 200);
  t.like(r.body, { name: 'Freezer B', path: 'Freezer B', temperatureC: -70, version: 3 });
  t.is((await asLee.get(`/storage/units/${box.id}`)).body.path, 'Freezer B / Rack 2 / Box 7');
  t.deepEqual(await eventTypes(svc, `unit-${freezer.id}`), [
    'StorageUnitCreated',
    'StorageUnitRenamed',
    'StorageUnitTemperatureSet',
  ]);
});

test('PATCH /storage/units/{id}: 422 for a blank name or no change asked; 404 for a non-member', async (t) => {
  const { box } = await tree();
  expectProblem(t, await asLee.patch(`/storage/units/${box.id}`, { name: ' ' }), 422, 'validation_failed', ['name']);
  expectProblem(t, await asLee.patch(`/storage/units/${box.id}`, {}), 422, 'validation_failed');
  expectProblem(t, await asKim.patch(`/storage/units/${box.id}`, { name: 'Mine' }), 404, 'not_found');
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated']);
});

test('POST /storage/units/{id}/move: a rack moves with its boxes; their paths change', async (t) => {
  const { rack, box } = await tree();
  const other = await create({ name: 'Freezer C', kind: 'freezer' });
  const r = await asLee.post(`/storage/units/${rack.id}/move`, { parentId: other.id });
  t.is(r.status, 200);
  t.like(r.body, { parentId: other.id, path: 'Freezer C / Rack 2' });
  t.is((await asLee.get(`/storage/units/${box.id}`)).body.path, 'Freezer C / Rack 2 / Box 7');
  const boxMoved = await asLee.post(`/storage/units/${box.id}/move`, { parentId: other.id });
  t.like(boxMoved.body, { path: 'Freezer C / Box 7' });
});

test('POST /storage/units/{id}/move: into itself or below itself, or where the kind may not stand, is 422', async (t) => {
  const { freezer, rack, box } = await tree();
  expectProblem(t, await asLee.post(`/storage/units/${rack.id}/move`, { parentId: rack.id }), 422, 'invalid_parent');
  expectProblem(t, await asLee.post(`/storage/units/${rack.id}/move`, { parentId: box.id }), 422, 'invalid_parent');
  expectProblem(t, await asLee.post(`/storage/units/${freezer.id}/move`, { parentId: rack.id }), 422, 'invalid_parent');
  expectProblem(t, await asKim.post(`/storage/units/${box.id}/move`, { parentId: freezer.id }), 404, 'not_found');
  t.deepEqual(await eventTypes(svc, `unit-${rack.id}`), ['StorageUnitCreated']);
});

test('DELETE /storage/units/{id}: 422 not_empty while something is inside; 204 when empty, then 404', async (t) => {
  const { rack, box } = await tree();
  expectProblem(t, await asLee.delete(`/storage/units/${rack.id}`), 422, 'not_empty');
  const sample = await sampleOf();
  await slots.claimSlot(box.id, 'A1', sample, systemCause());
  expectProblem(t, await asLee.delete(`/storage/units/${box.id}`), 422, 'not_empty');
  expectProblem(t, await asKim.delete(`/storage/units/${box.id}`), 404, 'not_found');
  await slots.releaseSlot(box.id, sample.id, 'unplaced', systemCause());
  t.is((await asLee.delete(`/storage/units/${box.id}`)).status, 204);
  expectProblem(t, await asLee.get(`/storage/units/${box.id}`), 404, 'not_found');
  t.is((await asLee.delete(`/storage/units/${rack.id}`)).status, 204);
});

test('GET /storage/units/{id}/map: every position in reading order, placed samples with their type and barcode', async (t) => {
  const { box } = await tree();
  const sample = await sampleOf('tissue');
  await slots.claimSlot(box.id, 'B3', sample, systemCause());
  const r = await asLee.get(`/storage/units/${box.id}/map`);
  t.is(r.status, 200);
  t.like(r.body, { rows: 8, columns: 12 });
  const positions = r.body.positions as { position: string; sample: Record<string, unknown> | null }[];
  t.is(positions.length, 96);
  t.deepEqual(positions.slice(0, 2), [
    { position: 'A1', sample: null },
    { position: 'A2', sample: null },
  ]);
  t.deepEqual(positions[14], {
    position: 'B3',
    sample: { id: sample.id, barcode: sample.barcode, sampleType: 'tissue', subjectId: 'P001', status: 'collected' },
  });
  t.is((await asLee.get(`/storage/units/${box.id}`)).body.occupied, 1);
});

test('GET /storage/units/{id}/map?format=svg: a picture of the box with its path', async (t) => {
  const { box } = await tree();
  await slots.claimSlot(box.id, 'A1', await sampleOf('blood'), systemCause());
  const r = await fetch(`${svc.api}/storage/units/${box.id}/map?format=svg`, {
    headers: { authorization: `Bearer ${lee.accessToken}` },
  });
  t.is(r.status, 200);
  t.is(r.headers.get('content-type'), 'image/svg+xml; charset=utf-8');
  const svg = await r.text();
  t.is(svg.match(/<g data-position=/g)?.length, 96);
  t.regex(svg, /data-position="A1" data-sample-type="blood"/);
  t.regex(svg, /Freezer A \/ Rack 2 \/ Box 7 — 1 of 96 slots occupied/);
});

test('GET /storage/units/{id}/map: 422 not_a_box for a rack; 404 for a non-member; 400 for an unknown format', async (t) => {
  const { rack, box } = await tree();
  expectProblem(t, await asLee.get(`/storage/units/${rack.id}/map`), 422, 'not_a_box');
  expectProblem(t, await asKim.get(`/storage/units/${box.id}/map`), 404, 'not_found');
  t.is((await asLee.get(`/storage/units/${box.id}/map?format=png`)).status, 400);
});

test('GET /storage/units/{id}/free-positions: reading order, occupied ones left out, at most limit', async (t) => {
  const { rack, box } = await tree();
  await slots.claimSlot(box.id, 'A2', await sampleOf(), systemCause());
  const r = await asLee.get(`/storage/units/${box.id}/free-positions?limit=3`);
  t.is(r.status, 200);
  t.deepEqual(r.body, { items: ['A1', 'A3', 'A4'] });
  t.is(((await asLee.get(`/storage/units/${box.id}/free-positions`)).body.items as string[]).length, 95);
  expectProblem(t, await asLee.get(`/storage/units/${rack.id}/free-positions`), 422, 'not_a_box');
  expectProblem(t, await asKim.get(`/storage/units/${box.id}/free-positions`), 404, 'not_found');
  t.is((await asLee.get(`/storage/units/${box.id}/free-positions?limit=0`)).status, 400);
});

test('slots: 20 concurrent claims on one slot: exactly one wins, the others are 409 position_occupied', async (t) => {
  const { box } = await tree();
  const samples = await Promise.all(Array.from({ length: 20 }, () => sampleOf()));
  const outcomes = await Promise.allSettled(samples.map((s) => slots.claimSlot(box.id, 'C5', s, systemCause())));
  const won = outcomes.filter((o) => o.status === 'fulfilled');
  const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  t.is(won.length, 1);
  t.is(lost.length, 19);
  for (const error of lost) t.like(error, { name: 'DomainError', code: 'position_occupied', status: 409 });
  t.true(lost.every((e) => e instanceof DomainError));
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated', 'BoxSlotClaimed']);
  t.is((await asLee.get(`/storage/units/${box.id}`)).body.occupied, 1);
});

test('slots: an invalid position is 422; tissue only below a freezer', async (t) => {
  const { box } = await tree();
  const err = await t.throwsAsync(slots.claimSlot(box.id, 'I1', await sampleOf(), systemCause()));
  t.like(err, { code: 'invalid_position', status: 422 });
  const cabinet = await create({ name: 'Cabinet', kind: 'cabinet' });
  const dry = await create({ name: 'Dry box', kind: 'box', parentId: cabinet.id, grid: { rows: 2, columns: 2 } });
  const tissue = await t.throwsAsync(slots.claimSlot(dry.id, 'A1', await sampleOf('tissue'), systemCause()));
  t.like(tissue, { code: 'tissue_outside_freezer', status: 422 });
});
