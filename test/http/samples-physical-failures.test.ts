// The failures of API.md's "Physical samples" table not covered elsewhere, one route at a time:
// aliquots and derivatives of a disposed parent, out of range or of another dimension, by a
// viewer or an outsider; derivatives short of quantity or repeated under an Idempotency-Key;
// lineage and labels of an invisible or malformed id; a barcode Code 128 cannot carry on this
// stock; a malformed barcode lookup; and SAMPLES_MAX_AGE_YEARS letting legacy collections in.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let legacy: TestService; // SAMPLES_MAX_AGE_YEARS=30
let owner: TestUser;
let viewer: TestUser;
let outsider: TestUser;
let labId: string;
test.before(async () => {
  [svc, legacy] = await Promise.all([startTestService(), startTestService({ SAMPLES_MAX_AGE_YEARS: '30' })]);
  [owner, viewer, outsider] = (await Promise.all(
    ['fowner', 'fviewer', 'foutsider'].map((p) => newUser(svc.api, p)),
  )) as [TestUser, TestUser, TestUser];
  labId = (await as(owner).post('/labs', { name: 'Failures' })).body.id as string;
  await as(owner).post(`/labs/${labId}/members`, { username: viewer.username, role: 'viewer' });
});
test.after.always(async () => {
  await Promise.all([svc?.stop(), legacy?.stop()]);
});

const as = (u: TestUser, api = svc.api): Client => asUser(api, u);
const today = new Date().toISOString().slice(0, 10);
/** Mid-June that many years back: at least half a year from either side of a limit in whole years. */
const yearsAgo = (years: number) => `${new Date().getUTCFullYear() - years}-06-15`;
async function tube(extra: Record<string, unknown> = {}): Promise<string> {
  const r = await as(owner).post('/samples', {
    labId,
    sampleType: 'blood',
    subjectId: 'P700',
    collectionDate: today,
    quantity: { value: 2, unit: 'mL' },
    ...extra,
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id as string;
}

test('a disposed parent gives neither aliquots nor a derivative: 422 invalid_transition, nothing appended', async (t) => {
  const id = await tube();
  t.is((await as(owner).patch(`/samples/${id}`, { status: 'disposed', reason: 'tube cracked' })).status, 200);
  const before = await eventTypes(svc, `sample-${id}`);
  expectProblem(t, await as(owner).post(`/samples/${id}/aliquots`, { count: 1 }), 422, 'invalid_transition');
  expectProblem(
    t,
    await as(owner).post(`/samples/${id}/derivatives`, { sampleType: 'plasma' }),
    422,
    'invalid_transition',
  );
  t.deepEqual(await eventTypes(svc, `sample-${id}`), before);
});

test('aliquots: a count outside 1–100 or an amount of another dimension is 422 validation_failed', async (t) => {
  const id = await tube();
  for (const count of [0, 101, 1.5]) {
    expectProblem(t, await as(owner).post(`/samples/${id}/aliquots`, { count }), 422, 'validation_failed', ['count']);
  }
  const grams = await as(owner).post(`/samples/${id}/aliquots`, { count: 2, quantity: { value: 5, unit: 'mg' } });
  expectProblem(t, grams, 422, 'validation_failed');
  expectProblem(
    t,
    await as(owner).post(`/samples/${id}/aliquots`, { count: 1, quantity: { value: 1, unit: 'L' } }),
    422,
    'validation_failed',
  );
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered']);
});

test('aliquots and derivatives: a viewer gets 403, an outsider and an unknown id 404, a malformed id 400', async (t) => {
  const id = await tube();
  for (const [path, body] of [
    ['aliquots', { count: 1 }],
    ['derivatives', { sampleType: 'plasma' }],
  ] as const) {
    expectProblem(t, await as(viewer).post(`/samples/${id}/${path}`, body), 403, 'forbidden');
    expectProblem(t, await as(outsider).post(`/samples/${id}/${path}`, body), 404, 'not_found');
    expectProblem(t, await as(owner).post(`/samples/${randomUUID()}/${path}`, body), 404, 'not_found');
    expectProblem(t, await as(owner).post(`/samples/not-a-uuid/${path}`, body), 400, 'invalid_id');
  }
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered']);
});

test('derivatives: consuming more than is left is 422 insufficient_quantity; all that is left consumes the parent', async (t) => {
  const id = await tube();
  const tooMuch = { sampleType: 'plasma', consumes: { value: 2001, unit: 'uL' } };
  expectProblem(t, await as(owner).post(`/samples/${id}/derivatives`, tooMuch), 422, 'insufficient_quantity');
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered']);
  const all = await as(owner).post(`/samples/${id}/derivatives`, {
    sampleType: 'serum',
    consumes: { value: 2, unit: 'mL' },
  });
  t.is(all.status, 201);
  t.is(all.headers.get('location'), `/api/v1/samples/${all.body.id as string}`);
  t.like((await as(owner).get(`/samples/${id}`)).body, { status: 'consumed', remaining: null });
  expectProblem(
    t,
    await as(owner).post(`/samples/${id}/derivatives`, { sampleType: 'dna' }),
    422,
    'invalid_transition',
  );
});

test('derivatives: an Idempotency-Key repeat answers the first derivative and creates nothing new', async (t) => {
  const id = await tube();
  const body = { sampleType: 'plasma', quantity: { value: 1, unit: 'mL' }, consumes: { value: 1.5, unit: 'mL' } };
  const key = randomUUID();
  const first = await as(owner).post(`/samples/${id}/derivatives`, body, { idempotencyKey: key });
  const second = await as(owner).post(`/samples/${id}/derivatives`, body, { idempotencyKey: key });
  t.is(first.status, 201);
  t.is(second.status, 201);
  t.is(second.headers.get('idempotent-replayed'), 'true');
  t.is(second.body.id, first.body.id);
  t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered', 'SampleDerived']);
  t.deepEqual((await as(owner).get(`/samples/${id}`)).body.remaining, { value: 0.5, unit: 'mL' });
  const other = await as(owner).post(
    `/samples/${id}/derivatives`,
    { ...body, sampleType: 'serum' },
    { idempotencyKey: key },
  );
  expectProblem(t, other, 422, 'idempotency_key_reused');
});

test('lineage: 404 for an outsider and an unknown id, 400 for a malformed one; a viewer reads it', async (t) => {
  const id = await tube();
  expectProblem(t, await as(outsider).get(`/samples/${id}/lineage`), 404, 'not_found');
  expectProblem(t, await as(owner).get(`/samples/${randomUUID()}/lineage`), 404, 'not_found');
  expectProblem(t, await as(owner).get('/samples/not-a-uuid/lineage'), 400, 'invalid_id');
  t.deepEqual((await as(viewer).get(`/samples/${id}/lineage`)).body, { ancestors: [], descendants: [] });
});

test('labels: a barcode Code 128 cannot carry on this stock is 400; DataMatrix carries it', async (t) => {
  const id = await tube({ barcode: `LONG-${'X'.repeat(40)}` });
  expectProblem(t, await as(owner).get(`/samples/${id}/label?symbology=code128`), 400, 'bad_request');
  const matrix = await fetch(`${svc.api}/samples/${id}/label?symbology=datamatrix&format=png`, {
    headers: { authorization: `Bearer ${owner.accessToken}` },
  });
  t.is(matrix.status, 200);
  t.is(matrix.headers.get('content-type'), 'image/png');
  expectProblem(t, await as(owner).get(`/samples/${randomUUID()}/label`), 404, 'not_found');
  expectProblem(t, await as(owner).get('/samples/not-a-uuid/label'), 400, 'invalid_id');
  expectProblem(t, await as(owner).post('/samples/labels', { ids: [id, randomUUID()] }), 404, 'not_found');
  expectProblem(t, await as(outsider).post('/samples/labels', { ids: [id] }), 404, 'not_found');
  expectProblem(t, await as(owner).post('/samples/labels', { ids: [] }), 422, 'validation_failed');
});

test('by-barcode: a malformed barcode is 400, never a search; a barcode of another lab is 404', async (t) => {
  const barcode = `FAIL-${randomUUID().slice(0, 8)}`;
  await tube({ barcode });
  t.is((await as(viewer).get(`/samples/by-barcode/${barcode.toLowerCase()}`)).status, 200);
  expectProblem(t, await as(outsider).get(`/samples/by-barcode/${barcode}`), 404, 'not_found');
  const bad = await as(owner).get(`/samples/by-barcode/${encodeURIComponent('bad barcode!')}`);
  t.is(bad.status, 400);
  t.is(bad.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  t.is((await as(owner).get(`/samples/by-barcode/${'X'.repeat(65)}`)).status, 400);
});

test("FHIR: a malformed subject is 400; an outsider gets an empty Bundle, never another lab's Specimen", async (t) => {
  await tube({ subjectId: 'P701' });
  t.is((await as(owner).get('/fhir/Specimen?subject=nobody')).status, 400);
  const bundle = await as(outsider).get('/fhir/Specimen?subject=P701');
  t.is(bundle.status, 200);
  t.like(bundle.body, { resourceType: 'Bundle', type: 'searchset', total: 0 });
});

test('SAMPLES_MAX_AGE_YEARS: 10 by default; set to 30, a 25-year-old collection loads and a 31-year-old does not', async (t) => {
  const body = (years: number) => ({ sampleType: 'blood', subjectId: 'P702', collectionDate: yearsAgo(years) });
  expectProblem(t, await as(owner).post('/samples', body(11)), 422, 'validation_failed', ['collectionDate']);
  t.is((await as(owner).post('/samples', body(9))).status, 201);
  const archivist = await newUser(legacy.api, 'archivist');
  t.is((await as(archivist, legacy.api).post('/samples', body(25))).status, 201);
  expectProblem(t, await as(archivist, legacy.api).post('/samples', body(31)), 422, 'validation_failed', [
    'collectionDate',
  ]);
});

test('thaws: an outsider and an unknown id get 404, a malformed id 400', async (t) => {
  const id = await tube();
  expectProblem(t, await as(outsider).post(`/samples/${id}/thaws`), 404, 'not_found');
  expectProblem(t, await as(owner).post(`/samples/${randomUUID()}/thaws`), 404, 'not_found');
  expectProblem(t, await as(owner).post('/samples/not-a-uuid/thaws'), 400, 'invalid_id');
  t.like((await as(owner).post(`/samples/${id}/thaws`)).body, { freezeThawCount: 1 });
});
