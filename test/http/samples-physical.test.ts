// Physical samples over HTTP (API.md, Physical samples): barcodes (assigned, unique per lab
// case-insensitive, looked up across the caller's labs), quantities, freeze–thaw cycles, the final
// statuses and the statistics that count them.
import test from 'ava';
import { isAssignedBarcode } from '../../modules/samples/physical/barcode.ts';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { newUser, useTestService, type TestUser } from '../support/service.ts';

const svc = useTestService(test);

const today = new Date().toISOString().slice(0, 10);
const as = (u: TestUser): Client => asUser(svc.api, u);
const body = (extra: Record<string, unknown> = {}) => ({
  sampleType: 'blood',
  subjectId: 'P001',
  collectionDate: today,
  ...extra,
});
let counter = 0;
const unique = (prefix = 'TUBE') => `${prefix}-${process.pid}-${++counter}`;

test('POST /samples without a barcode: one is assigned, in the service format with its check character', async (t) => {
  const u = await newUser(svc.api, 'bc');
  const r = await as(u).post('/samples', body());
  t.is(r.status, 201);
  t.true(isAssignedBarcode(r.body.barcode as string), r.body.barcode as string);
  t.like(r.body, { lineage: 'primary', parentId: null, freezeThawCount: 0, quantity: null, remaining: null });
});

test('POST /samples with a quantity: remaining starts at it', async (t) => {
  const u = await newUser(svc.api, 'qty');
  const r = await as(u).post('/samples', body({ quantity: { value: 4.5, unit: 'mL' } }));
  t.is(r.status, 201);
  t.deepEqual(r.body.quantity, { value: 4.5, unit: 'mL' });
  t.deepEqual(r.body.remaining, { value: 4.5, unit: 'mL' });
  t.deepEqual((await as(u).get(`/samples/${String(r.body.id)}`)).body.remaining, { value: 4.5, unit: 'mL' });
});

test('a barcode is unique within a lab whatever its case: 409 barcode_taken, nothing registered', async (t) => {
  const u = await newUser(svc.api, 'dup');
  const code = unique('abc');
  t.is((await as(u).post('/samples', body({ barcode: code }))).status, 201);
  expectProblem(t, await as(u).post('/samples', body({ barcode: code.toUpperCase() })), 409, 'barcode_taken');
  t.is((await as(u).get('/samples')).body.total, 1);
});

test('the same barcode in two different labs is allowed', async (t) => {
  const [a, b] = await Promise.all([newUser(svc.api, 'la'), newUser(svc.api, 'lb')]);
  const code = unique();
  t.is((await as(a).post('/samples', body({ barcode: code }))).status, 201);
  t.is((await as(b).post('/samples', body({ barcode: code }))).status, 201);
});

test('a malformed barcode is a 400/422 problem, never stored', async (t) => {
  const u = await newUser(svc.api, 'bad');
  const r = await as(u).post('/samples', body({ barcode: 'has space' }));
  t.true(r.status === 400 || r.status === 422, String(r.status));
  t.is((await as(u).get('/samples')).body.total, 0);
});

test("GET /samples/by-barcode/{barcode}: found across the caller's labs, case-insensitive; 404 for others", async (t) => {
  const [owner, outsider] = await Promise.all([newUser(svc.api, 'own'), newUser(svc.api, 'out')]);
  const code = unique('Tube');
  const created = await as(owner).post('/samples', body({ barcode: code }));
  const found = await as(owner).get(`/samples/by-barcode/${code.toLowerCase()}`);
  t.is(found.status, 200);
  t.is(found.body.id, created.body.id);
  t.is(found.body.barcode, code);
  expectProblem(t, await as(outsider).get(`/samples/by-barcode/${code}`), 404, 'not_found');
  expectProblem(t, await as(owner).get(`/samples/by-barcode/${unique('none')}`), 404, 'not_found');
});

test('POST /samples/{id}/thaws adds one to freezeThawCount each time', async (t) => {
  const u = await newUser(svc.api, 'thaw');
  const id = (await as(u).post('/samples', body())).body.id as string;
  t.is((await as(u).post(`/samples/${id}/thaws`)).body.freezeThawCount, 1);
  const second = await as(u).post(`/samples/${id}/thaws`);
  t.is(second.status, 200);
  t.is(second.body.freezeThawCount, 2);
  t.is((await as(u).get(`/samples/${id}`)).body.freezeThawCount, 2);
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered', 'SampleThawed', 'SampleThawed']);
});

test('POST /samples/{id}/thaws: 404 for a non-member, 403 for a viewer', async (t) => {
  const [manager, viewer, outsider] = await Promise.all([
    newUser(svc.api, 'm'),
    newUser(svc.api, 'v'),
    newUser(svc.api, 'o'),
  ]);
  const labId = (await as(manager).post('/labs', { name: 'Thaw lab' })).body.id as string;
  await as(manager).post(`/labs/${labId}/members`, { username: viewer.username, role: 'viewer' });
  const id = (await as(manager).post('/samples', body({ labId }))).body.id as string;
  expectProblem(t, await as(viewer).post(`/samples/${id}/thaws`), 403, 'forbidden');
  expectProblem(t, await as(outsider).post(`/samples/${id}/thaws`), 404, 'not_found');
});

test('disposing of a sample needs a reason', async (t) => {
  const u = await newUser(svc.api, 'disp');
  const id = (await as(u).post('/samples', body())).body.id as string;
  expectProblem(t, await as(u).patch(`/samples/${id}`, { status: 'disposed' }), 422, 'invalid_transition');
  const r = await as(u).patch(`/samples/${id}`, { status: 'disposed', reason: 'tube cracked' });
  t.is(r.status, 200);
  t.is(r.body.status, 'disposed');
});

test('a disposed sample is final: changes and thaws are 422 invalid_transition; it stays listed', async (t) => {
  const u = await newUser(svc.api, 'final');
  const id = (await as(u).post('/samples', body())).body.id as string;
  await as(u).patch(`/samples/${id}`, { status: 'disposed', reason: 'broken' });
  expectProblem(t, await as(u).patch(`/samples/${id}`, { notes: 'later' }), 422, 'invalid_transition');
  expectProblem(
    t,
    await as(u).patch(`/samples/${id}`, { status: 'processing', reason: 'x' }),
    422,
    'invalid_transition',
  );
  expectProblem(t, await as(u).post(`/samples/${id}/thaws`), 422, 'invalid_transition');
  t.is((await as(u).get('/samples')).body.total, 1);
});

test('a consumed sample is final too', async (t) => {
  const u = await newUser(svc.api, 'cons');
  const id = (await as(u).post('/samples', body())).body.id as string;
  t.is((await as(u).patch(`/samples/${id}`, { status: 'consumed' })).status, 200);
  expectProblem(t, await as(u).patch(`/samples/${id}`, { status: 'archived' }), 422, 'invalid_transition');
});

test('stats count the new statuses and types', async (t) => {
  const u = await newUser(svc.api, 'stats');
  await as(u).post('/samples', body({ sampleType: 'plasma' }));
  const dna = (await as(u).post('/samples', body({ sampleType: 'dna' }))).body.id as string;
  await as(u).patch(`/samples/${dna}`, { status: 'disposed', reason: 'contaminated' });
  const stats = (await as(u).get('/samples/stats/overview')).body;
  t.is(stats.total, 2);
  t.like(stats.byStatus, { collected: 1, processing: 0, archived: 0, consumed: 0, disposed: 1 });
  t.like(stats.byType, { blood: 0, saliva: 0, tissue: 0, plasma: 1, serum: 0, buffy_coat: 0, dna: 1, rna: 0 });
});

test('a transfer into a lab where the barcode is taken is 409 barcode_taken; the sample stays', async (t) => {
  const [a, b] = await Promise.all([newUser(svc.api, 'ta'), newUser(svc.api, 'tb')]);
  const labId = String((await as(b).post('/labs', { name: 'Receiving lab' })).body.id);
  await as(b).post(`/labs/${labId}/members`, { username: a.username, role: 'technician' });
  const code = unique('moved');
  await as(b).post('/samples', body({ labId, barcode: code }));
  const mine = await as(a).post('/samples', body({ barcode: code.toLowerCase() }));
  const id = String(mine.body.id);
  const moved = await as(a).post(`/samples/${id}/transfer`, { labId, reason: 'shared study' });
  expectProblem(t, moved, 409, 'barcode_taken');
  t.is((await as(a).get(`/samples/${id}`)).body.labId, a.id);
  const other = await as(a).post('/samples', body({ barcode: unique('free') }));
  const ok = await as(a).post(`/samples/${String(other.body.id)}/transfer`, { labId, reason: 'shared study' });
  t.is(ok.status, 200);
  t.is(ok.body.labId, labId);
});
