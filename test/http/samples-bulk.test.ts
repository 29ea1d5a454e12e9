// POST /samples/bulk (API.md, Imports and bulk changes): one status change or disposal for up to
// 1,000 ids, each its own command with its own role check, a result per id.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { newUser, startTestService, type TestService } from '../support/service.ts';

let svc: TestService;
let asLee: Client;
let asKim: Client;
test.before(async () => {
  svc = await startTestService();
  asLee = asUser(svc.api, await newUser(svc.api, 'lee'));
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
});
test.after.always(async () => {
  await svc?.stop();
});

const sampleOf = async (who: Client): Promise<string> => {
  const r = await who.post('/samples', { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-01-05' });
  return r.body.id as string;
};

test('action status: each id changed, with a result per id; an id of another lab is not_found', async (t) => {
  const [a, b, theirs] = [await sampleOf(asLee), await sampleOf(asLee), await sampleOf(asKim)];
  const r = await asLee.post('/samples/bulk', { action: 'status', status: 'processing', ids: [a, b, theirs] });
  t.is(r.status, 200);
  t.deepEqual(r.body.items, [
    { id: a, ok: true },
    { id: b, ok: true },
    { id: theirs, ok: false, code: 'not_found' },
  ]);
  t.deepEqual(await eventTypes(svc, `sample-${a}`), ['SampleRegistered', 'SampleStatusChanged']);
  t.deepEqual(await eventTypes(svc, `sample-${theirs}`), ['SampleRegistered']);
});

test('action dispose: the samples are discarded; an unknown id is not_found', async (t) => {
  const a = await sampleOf(asLee);
  const unknown = randomUUID();
  const r = await asLee.post('/samples/bulk', { action: 'dispose', ids: [a, unknown], reason: 'expired' });
  t.deepEqual(r.body.items, [
    { id: a, ok: true },
    { id: unknown, ok: false, code: 'not_found' },
  ]);
  t.deepEqual(await eventTypes(svc, `sample-${a}`), ['SampleRegistered', 'SampleDiscarded']);
});

test('more than 1,000 ids, none, or action status without a status: 422 and nothing changes', async (t) => {
  const a = await sampleOf(asLee);
  const many = Array.from({ length: 1001 }, () => randomUUID());
  expectProblem(t, await asLee.post('/samples/bulk', { action: 'dispose', ids: many }), 422, 'validation_failed');
  expectProblem(t, await asLee.post('/samples/bulk', { action: 'dispose', ids: [] }), 422, 'validation_failed');
  expectProblem(t, await asLee.post('/samples/bulk', { action: 'status', ids: [a] }), 422, 'validation_failed');
  t.deepEqual(await eventTypes(svc, `sample-${a}`), ['SampleRegistered']);
});
