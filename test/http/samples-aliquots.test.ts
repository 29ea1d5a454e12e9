// Aliquots, derivatives and lineage over HTTP (API.md, Physical samples): all children or none,
// the parent's remaining taken in the same decision (consumed at zero), an Idempotency-Key repeat
// creating nothing new, the lineage read; and a crash between the parent's event and its
// children's completed at start.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { eventually } from '../support/eventually.ts';
import { newUser, startSecondApi, useTestService, type TestUser } from '../support/service.ts';

const svc = useTestService(test);

const today = new Date().toISOString().slice(0, 10);
const as = (u: TestUser): Client => asUser(svc.api, u);
async function tube(u: TestUser, quantity: unknown = { value: 2, unit: 'mL' }, sampleType = 'blood') {
  const r = await as(u).post('/samples', { sampleType, subjectId: 'P200', collectionDate: today, quantity });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return String(r.body.id);
}

test('POST /samples/{id}/aliquots: children inherit, the parent is debited in one decision', async (t) => {
  const u = await newUser(svc.api, 'aliq');
  const id = await tube(u);
  const r = await as(u).post(`/samples/${id}/aliquots`, { count: 3, quantity: { value: 200, unit: 'uL' } });
  t.is(r.status, 201);
  t.deepEqual((r.body.parent as Record<string, unknown>).remaining, { value: 1.4, unit: 'mL' });
  const items = r.body.items as Record<string, unknown>[];
  t.is(items.length, 3);
  for (const child of items) {
    t.like(child, { lineage: 'aliquot', parentId: id, subjectId: 'P200', sampleType: 'blood', collectionDate: today });
    t.deepEqual(child.quantity, { value: 200, unit: 'uL' });
  }
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered', 'SampleAliquoted']);
});

test('aliquots: more than is left is 422 insufficient_quantity, and nothing is created', async (t) => {
  const u = await newUser(svc.api, 'short');
  const id = await tube(u);
  const r = await as(u).post(`/samples/${id}/aliquots`, { count: 3, quantity: { value: 1, unit: 'mL' } });
  expectProblem(t, r, 422, 'insufficient_quantity');
  t.is((await as(u).get('/samples')).body.total, 1);
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered']);
});

test('aliquots taking the last of a sample leave it consumed, and then it is final', async (t) => {
  const u = await newUser(svc.api, 'last');
  const id = await tube(u);
  const r = await as(u).post(`/samples/${id}/aliquots`, { count: 2, quantity: { value: 1, unit: 'mL' } });
  t.is(r.status, 201);
  t.like(r.body.parent, { status: 'consumed', remaining: null });
  const again = await as(u).post(`/samples/${id}/aliquots`, { count: 1 });
  expectProblem(t, again, 422, 'invalid_transition');
  t.like((await as(u).get('/samples/stats/overview')).body.byStatus, { consumed: 1, collected: 2 });
});

test('aliquots: an Idempotency-Key repeat creates nothing new', async (t) => {
  const u = await newUser(svc.api, 'idem');
  const id = await tube(u);
  const key = randomUUID();
  const body = { count: 2, quantity: { value: 100, unit: 'uL' } };
  const first = await as(u).post(`/samples/${id}/aliquots`, body, { idempotencyKey: key });
  const second = await as(u).post(`/samples/${id}/aliquots`, body, { idempotencyKey: key });
  t.is(first.status, 201);
  t.is(second.status, 201);
  t.deepEqual(second.body, first.body);
  t.is((await as(u).get('/samples')).body.total, 3);
});

test('aliquots: a viewer gets 403, a non-member 404', async (t) => {
  const [manager, viewer, outsider] = await Promise.all([
    newUser(svc.api, 'm'),
    newUser(svc.api, 'v'),
    newUser(svc.api, 'o'),
  ]);
  const labId = String((await as(manager).post('/labs', { name: 'Split lab' })).body.id);
  await as(manager).post(`/labs/${labId}/members`, { username: viewer.username, role: 'viewer' });
  const r = await as(manager).post('/samples', {
    labId,
    sampleType: 'blood',
    subjectId: 'P201',
    collectionDate: today,
  });
  const id = String(r.body.id);
  expectProblem(t, await as(viewer).post(`/samples/${id}/aliquots`, { count: 1 }), 403, 'forbidden');
  expectProblem(t, await as(outsider).post(`/samples/${id}/aliquots`, { count: 1 }), 404, 'not_found');
});

test('POST /samples/{id}/derivatives: a plasma child, consumes taken from the parent', async (t) => {
  const u = await newUser(svc.api, 'deriv');
  const id = await tube(u);
  const r = await as(u).post(`/samples/${id}/derivatives`, {
    sampleType: 'plasma',
    quantity: { value: 1, unit: 'mL' },
    consumes: { value: 1.5, unit: 'mL' },
  });
  t.is(r.status, 201);
  t.like(r.body, { lineage: 'derivative', sampleType: 'plasma', parentId: id });
  t.deepEqual((await as(u).get(`/samples/${id}`)).body.remaining, { value: 0.5, unit: 'mL' });
});

test('derivatives: a type that cannot be derived is 422', async (t) => {
  const u = await newUser(svc.api, 'nod');
  const id = await tube(u, null, 'saliva');
  expectProblem(t, await as(u).post(`/samples/${id}/derivatives`, { sampleType: 'plasma' }), 422, 'validation_failed');
});

test('GET /samples/{id}/lineage: ancestors root first, descendants as a tree', async (t) => {
  const u = await newUser(svc.api, 'lin');
  const root = await tube(u);
  const plasma = String((await as(u).post(`/samples/${root}/derivatives`, { sampleType: 'plasma' })).body.id);
  const aliquots = (await as(u).post(`/samples/${plasma}/aliquots`, { count: 2 })).body.items as { id: string }[];
  const leaf = await as(u).get(`/samples/${aliquots[0]!.id}/lineage`);
  t.is(leaf.status, 200);
  t.deepEqual(
    (leaf.body.ancestors as { id: string }[]).map((s) => s.id),
    [root, plasma],
  );
  const top = await as(u).get(`/samples/${root}/lineage`);
  const descendants = top.body.descendants as { sample: { id: string }; children: { sample: { id: string } }[] }[];
  t.is(descendants.length, 1);
  t.is(descendants[0]!.sample.id, plasma);
  t.deepEqual(descendants[0]!.children.map((c) => c.sample.id).sort(), aliquots.map((a) => a.id).sort());
  expectProblem(t, await as(await newUser(svc.api, 'x')).get(`/samples/${root}/lineage`), 404, 'not_found');
});

test.serial('a crash after the parent event: the children are written when the service starts', async (t) => {
  const u = await newUser(svc.api, 'crash');
  const parentId = await tube(u);
  const store = svc.service.infrastructure.store;
  const children = [randomUUID(), randomUUID()].map((sampleId, i) => ({
    sampleId,
    barcode: `CRASH-${sampleId.slice(0, 8)}-${i}`,
    quantity: { value: 500, unit: 'uL' as const },
  }));
  // Only the first step lands, as if the process died right after it.
  const data = {
    sampleId: parentId,
    ownerId: u.id,
    labId: u.id,
    children,
    taken: { value: 1, unit: 'mL' as const },
    remaining: { value: 1, unit: 'mL' as const },
    aliquotedAt: new Date().toISOString(),
  };
  await store.append(
    `sample-${parentId}`,
    [{ type: 'SampleAliquoted', data, metadata: eventMetadata(systemCause(), 1) }],
    {
      expectedRevision: 0,
    },
  );
  t.false(await store.streamExists(`sample-${children[0]!.sampleId}`));
  const restarted = await startSecondApi(svc);
  try {
    for (const child of children) {
      t.deepEqual(await eventTypes(svc, `sample-${child.sampleId}`), ['SampleRegistered']);
    }
    // The read model follows shortly (the projector of the first instance).
    const ids = await eventually(
      async () =>
        ((await as(u).get(`/samples/${parentId}/lineage`)).body.descendants as { sample: { id: string } }[]).map(
          (d) => d.sample.id,
        ),
      (found) => found.length === children.length,
    );
    t.deepEqual(ids.sort(), children.map((c) => c.sampleId).sort());
  } finally {
    await restarted.service.stop();
  }
});
