// Placing samples in boxes over HTTP (API.md, Storage): PUT/DELETE /samples/{id}/location, every
// failure, moves that free the old slot, the placement in the sample's history, roles, and the race
// of 20 clients placing samples into one slot (exactly one 200, the others 409).
import test from 'ava';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { newUser, useTestService, type TestUser } from '../support/service.ts';
import { createUnit, freezerTree } from '../support/storage.ts';

let lee: TestUser;
let asLee: Client;
let asKim: Client;
let kim: TestUser;
const svc = useTestService(test);
test.before(async () => {
  lee = await newUser(svc.api, 'lee');
  kim = await newUser(svc.api, 'kim');
  asLee = asUser(svc.api, lee);
  asKim = asUser(svc.api, kim);
});

const tree = (who = asLee, labId = lee.id) => freezerTree(who, labId);
const sample = async (sampleType = 'blood', who = asLee): Promise<string> => {
  const r = await who.post('/samples', {
    sampleType,
    subjectId: 'P001',
    collectionDate: '2026-01-05',
    ...(sampleType === 'tissue' ? { storageLocation: 'freezer-1-rowA' } : {}),
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id as string;
};
const holder = async (boxId: string, position: string) => {
  const map = await asLee.get(`/storage/units/${boxId}/map`);
  const slot = (map.body.positions as { position: string; sample: { id: string } | null }[]).find(
    (p) => p.position === position,
  );
  return slot?.sample?.id ?? null;
};

test('PUT /samples/{id}/location: 200 with the location and its path; the box holds it', async (t) => {
  const { box } = await tree();
  const id = await sample();
  const r = await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'A1' });
  t.is(r.status, 200);
  t.deepEqual(r.body.location, { unitId: box.id, position: 'A1', path: 'Freezer A / Rack 2 / Box 7' });
  t.is(r.body.id, id);
  t.is(r.headers.get('etag'), `"${String(r.body.version)}"`);
  t.is(await holder(box.id, 'A1'), id);
});

test('PUT /samples/{id}/location: the placement shows in the sample history', async (t) => {
  const { box } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'B2' });
  const history = await asLee.get(`/samples/${id}/history`);
  const placed = (history.body.items as { type: string; changes: unknown }[]).find((i) => i.type === 'SamplePlaced');
  t.deepEqual(placed?.changes, { location: { from: null, to: { unitId: box.id, position: 'B2' } } });
});

test('PUT /samples/{id}/location: the same place again changes nothing (a retry completes)', async (t) => {
  const { box } = await tree();
  const id = await sample();
  const first = await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'C3' });
  const again = await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'C3' });
  t.is(again.status, 200);
  t.is(again.body.version, first.body.version);
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated', 'BoxSlotClaimed']);
});

test('PUT /samples/{id}/location: 409 position_occupied when another sample holds the slot', async (t) => {
  const { box } = await tree();
  const first = await sample();
  const second = await sample();
  await asLee.put(`/samples/${first}/location`, { unitId: box.id, position: 'A1' });
  expectProblem(
    t,
    await asLee.put(`/samples/${second}/location`, { unitId: box.id, position: 'A1' }),
    409,
    'position_occupied',
  );
  t.deepEqual(await eventTypes(svc, `sample-${second}`), ['SampleRegistered']);
});

test('PUT /samples/{id}/location: 422 invalid_position outside the grid', async (t) => {
  const { box } = await tree();
  const id = await sample();
  expectProblem(
    t,
    await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'I1' }),
    422,
    'invalid_position',
  );
  expectProblem(
    t,
    await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'A13' }),
    422,
    'invalid_position',
  );
  expectProblem(
    t,
    await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'a1' }),
    422,
    'invalid_position',
  );
});

test('PUT /samples/{id}/location: 422 unit_of_another_lab for a box of another lab or no box at all', async (t) => {
  const kims = await tree(asKim, kim.id);
  const id = await sample();
  const r = await asLee.put(`/samples/${id}/location`, { unitId: kims.box.id, position: 'A1' });
  expectProblem(t, r, 422, 'unit_of_another_lab');
  const unknown = await asLee.put(`/samples/${id}/location`, { unitId: crypto.randomUUID(), position: 'A1' });
  expectProblem(t, unknown, 422, 'unit_of_another_lab');
  t.is(await holder(kims.box.id, 'A1').catch(() => null), null);
});

test('PUT /samples/{id}/location: 422 not_a_box for a rack', async (t) => {
  const { rack } = await tree();
  const id = await sample();
  expectProblem(t, await asLee.put(`/samples/${id}/location`, { unitId: rack.id, position: 'A1' }), 422, 'not_a_box');
});

test('PUT /samples/{id}/location: a tissue sample in a box not below a freezer is 422', async (t) => {
  const fridge = await createUnit(asLee, lee.id, { name: 'Fridge', kind: 'refrigerator', temperatureC: 4 });
  const box = await createUnit(asLee, lee.id, {
    name: 'Box R',
    kind: 'box',
    parentId: fridge.id,
    grid: { rows: 2, columns: 2 },
  });
  const tissue = await sample('tissue');
  expectProblem(
    t,
    await asLee.put(`/samples/${tissue}/location`, { unitId: box.id, position: 'A1' }),
    422,
    'tissue_outside_freezer',
  );
  const { box: frozen } = await tree();
  t.is((await asLee.put(`/samples/${tissue}/location`, { unitId: frozen.id, position: 'A1' })).status, 200);
});

test('PUT /samples/{id}/location: a move within a box frees the old slot in the same step', async (t) => {
  const { box } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'A1' });
  const moved = await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'A2' });
  t.like(moved.body.location, { position: 'A2' });
  t.is(await holder(box.id, 'A1'), null);
  t.is(await holder(box.id, 'A2'), id);
});

test('PUT /samples/{id}/location: a move to another box frees the old slot', async (t) => {
  const { box, other } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'A1' });
  const moved = await asLee.put(`/samples/${id}/location`, { unitId: other.id, position: 'H12' });
  t.deepEqual(moved.body.location, { unitId: other.id, position: 'H12', path: 'Freezer A / Rack 2 / Box 8' });
  t.is(await holder(box.id, 'A1'), null);
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated', 'BoxSlotClaimed', 'BoxSlotReleased']);
  const history = await asLee.get(`/samples/${id}/history`);
  const last = (history.body.items as { changes: unknown }[]).at(-1);
  t.deepEqual(last?.changes, {
    location: { from: { unitId: box.id, position: 'A1' }, to: { unitId: other.id, position: 'H12' } },
  });
});

test('DELETE /samples/{id}/location: 204, the slot is free and the history says so', async (t) => {
  const { box } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'D4' });
  t.is((await asLee.delete(`/samples/${id}/location`)).status, 204);
  t.is(await holder(box.id, 'D4'), null);
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered', 'SamplePlaced', 'SampleUnplaced']);
  t.is((await asLee.delete(`/samples/${id}/location`)).status, 204);
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered', 'SamplePlaced', 'SampleUnplaced']);
});

test('PUT and DELETE /samples/{id}/location: 404 for a non-member and an unknown sample', async (t) => {
  const { box } = await tree();
  const id = await sample();
  expectProblem(t, await asKim.put(`/samples/${id}/location`, { unitId: box.id, position: 'A1' }), 404, 'not_found');
  expectProblem(t, await asKim.delete(`/samples/${id}/location`), 404, 'not_found');
  const unknown = crypto.randomUUID();
  expectProblem(
    t,
    await asLee.put(`/samples/${unknown}/location`, { unitId: box.id, position: 'A1' }),
    404,
    'not_found',
  );
  t.deepEqual(await eventTypes(svc, `unit-${box.id}`), ['StorageUnitCreated']);
});

test('PUT /samples/{id}/location: a viewer of the lab gets 403', async (t) => {
  const viewer = await newUser(svc.api, 'view');
  const labId = (await asLee.post('/labs', { name: 'Biobank' })).body.id as string;
  await asLee.post(`/labs/${labId}/members`, { username: viewer.username, role: 'viewer' });
  const { box } = await tree(asLee, labId);
  const created = await asLee.post('/samples', {
    labId,
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: '2026-01-05',
  });
  const id = created.body.id as string;
  const r = await asUser(svc.api, viewer).put(`/samples/${id}/location`, { unitId: box.id, position: 'A1' });
  expectProblem(t, r, 403, 'forbidden');
  t.is(await holder(box.id, 'A1'), null);
});

test('PUT /samples/{id}/location: a body that is not a place is 422 validation_failed', async (t) => {
  const id = await sample();
  expectProblem(
    t,
    await asLee.put(`/samples/${id}/location`, { unitId: 'nope', position: 'A1' }),
    422,
    'validation_failed',
  );
  expectProblem(t, await asLee.put(`/samples/${id}/location`, { position: 'A1' }), 422, 'validation_failed');
});

test('PUT /samples/{id}/location: of 20 clients placing samples into one slot at once, exactly one wins', async (t) => {
  const { box } = await tree();
  const ids = await Promise.all(Array.from({ length: 20 }, () => sample()));
  const answers = await Promise.all(
    ids.map((id) => asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'E5' })),
  );
  const statuses = answers.map((a) => a.status).sort();
  t.deepEqual(statuses, [200, ...Array<number>(19).fill(409)]);
  const winner = ids[answers.findIndex((a) => a.status === 200)] ?? 'none';
  t.is(await holder(box.id, 'E5'), winner);
  const placedSamples = await Promise.all(ids.map((id) => eventTypes(svc, `sample-${id}`)));
  t.is(placedSamples.filter((types) => types.includes('SamplePlaced')).length, 1);
});

test('GET /samples?unitId=: the samples in a unit and everything below it', async (t) => {
  const { freezer, rack, box, other } = await tree();
  const [a, b, loose] = [await sample(), await sample(), await sample()];
  await asLee.put(`/samples/${a}/location`, { unitId: box.id, position: 'A1' });
  await asLee.put(`/samples/${b}/location`, { unitId: other.id, position: 'A1' });
  const ids = async (unitId: string) =>
    ((await asLee.get(`/samples?unitId=${unitId}`)).body.items as { id: string }[]).map((s) => s.id).sort();
  t.deepEqual(await ids(freezer.id), [a, b].sort());
  t.deepEqual(await ids(rack.id), [a, b].sort());
  t.deepEqual(await ids(box.id), [a]);
  t.false((await ids(freezer.id)).includes(loose));
  const counted = await asLee.get(`/samples?unitId=${other.id}`);
  t.is(counted.body.total, 1);
});

test('GET /samples?unitId=: a unit of another lab lists nothing of it', async (t) => {
  const kims = await tree(asKim, kim.id);
  const theirs = await sample('blood', asKim);
  await asKim.put(`/samples/${theirs}/location`, { unitId: kims.box.id, position: 'A1' });
  const r = await asLee.get(`/samples?unitId=${kims.freezer.id}`);
  t.is(r.status, 200);
  t.deepEqual(r.body.items, []);
});

test('DELETE /samples/{id}: a discarded sample frees its slot', async (t) => {
  const { box } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'F6' });
  t.is((await asLee.delete(`/samples/${id}`)).status, 204);
  t.is(await holder(box.id, 'F6'), null);
  t.deepEqual((await eventTypes(svc, `unit-${box.id}`)).slice(-1), ['BoxSlotReleased']);
});

test('PATCH /samples/{id} to disposed: a final sample frees its slot', async (t) => {
  const { box } = await tree();
  const id = await sample();
  t.is((await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'H8' })).status, 200);
  const disposed = await asLee.patch(`/samples/${id}`, { status: 'disposed', reason: 'tube cracked' });
  t.is(disposed.status, 200);
  t.is(await holder(box.id, 'H8'), null);
  t.deepEqual((await eventTypes(svc, `unit-${box.id}`)).slice(-1), ['BoxSlotReleased']);
});

test('POST /samples/{id}/aliquots that use up the parent: the consumed parent frees its slot', async (t) => {
  const { box } = await tree();
  const r = await asLee.post('/samples', {
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: '2026-01-05',
    quantity: { value: 2, unit: 'mL' },
  });
  const id = r.body.id as string;
  t.is((await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'H9' })).status, 200);
  const split = await asLee.post(`/samples/${id}/aliquots`, { count: 2, quantity: { value: 1, unit: 'mL' } });
  t.is(split.status, 201);
  t.like(split.body, { parent: { status: 'consumed' } });
  t.is(await holder(box.id, 'H9'), null);
});

test('POST /samples/{id}/transfer: a sample transferred to another lab frees its slot', async (t) => {
  const { box } = await tree();
  const id = await sample();
  await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'G7' });
  const labId = (await asLee.post('/labs', { name: 'Pathology' })).body.id as string;
  const moved = await asLee.post(`/samples/${id}/transfer`, { labId, reason: 'handed over' });
  t.is(moved.status, 200);
  t.is(await holder(box.id, 'G7'), null);
  const placed = await asLee.put(`/samples/${id}/location`, { unitId: box.id, position: 'G7' });
  expectProblem(t, placed, 422, 'unit_of_another_lab');
});
