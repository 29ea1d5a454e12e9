// Samples in labs over HTTP: viewers read, technicians write, non-members get 404 on every sample
// route (also through ?labId=), lists and statistics cover every lab of the caller, a transfer is
// a reasoned event in the history of both labs, a membership removal counts on the very next
// request on another instance, and an erasure keeps the lab's samples.
import test from 'ava';
import { type RunningService } from '../../app/service.ts';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import {
  call,
  newUser,
  startTestService,
  type Answer,
  type TestService,
  type TestUser,
  startSecondApi,
} from '../support/service.ts';

const firstActor = (a: Answer) => (a.body.items as { actor: { id: string; username: string | null } }[])[0]!.actor;

let svc: TestService;
let second: RunningService;
let api: string;
let api2: string;
const today = new Date().toISOString().slice(0, 10);

test.before(async () => {
  const env = {
    RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '100000',
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
  };
  svc = await startTestService(env);
  api = svc.api;
  ({ service: second, api: api2 } = await startSecondApi(svc, env));
});
test.after.always(async () => {
  await second?.stop();
  await svc?.stop();
});

interface Lab {
  readonly labId: string;
  readonly manager: TestUser;
  readonly technician: TestUser;
  readonly viewer: TestUser;
  readonly outsider: TestUser;
  readonly sampleId: string;
}
const as = (u: TestUser): Client => asUser(api, u);
const sampleBody = (labId: string, subjectId = 'L100') => ({
  labId,
  sampleType: 'blood',
  subjectId,
  collectionDate: today,
});

async function lab(name = 'Haematology'): Promise<Lab> {
  const [manager, technician, viewer, outsider] = await Promise.all(
    ['mgr', 'tech', 'view', 'out'].map((p) => newUser(api, p)),
  );
  const labId = (await as(manager!).post('/labs', { name })).body.id as string;
  await as(manager!).post(`/labs/${labId}/members`, { username: technician!.username, role: 'technician' });
  await as(manager!).post(`/labs/${labId}/members`, { username: viewer!.username, role: 'viewer' });
  const created = await as(technician!).post('/samples', sampleBody(labId));
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  return {
    labId,
    manager: manager!,
    technician: technician!,
    viewer: viewer!,
    outsider: outsider!,
    sampleId: created.body.id as string,
  };
}

test('POST /samples into a lab: technician and manager yes, viewer 403, non-member 404', async (t) => {
  const x = await lab();
  t.is((await as(x.manager).post('/samples', sampleBody(x.labId))).status, 201);
  const r = await as(x.technician).post('/samples', sampleBody(x.labId));
  t.is(r.status, 201);
  t.is(r.body.labId, x.labId);
  expectProblem(t, await as(x.viewer).post('/samples', sampleBody(x.labId)), 403, 'forbidden');
  expectProblem(t, await as(x.outsider).post('/samples', sampleBody(x.labId)), 404, 'not_found');
});

test('GET /samples/{id} and history: every member reads, a non-member gets 404', async (t) => {
  const x = await lab();
  for (const u of [x.manager, x.technician, x.viewer]) {
    t.is((await as(u).get(`/samples/${x.sampleId}`)).status, 200);
    t.is((await as(u).get(`/samples/${x.sampleId}/history`)).status, 200);
  }
  expectProblem(t, await as(x.outsider).get(`/samples/${x.sampleId}`), 404, 'not_found');
  expectProblem(t, await as(x.outsider).get(`/samples/${x.sampleId}/history`), 404, 'not_found');
});

test('PATCH, PUT and DELETE /samples/{id}: technician yes, viewer 403, non-member 404', async (t) => {
  const x = await lab();
  const path = `/samples/${x.sampleId}`;
  const put = { sampleType: 'blood', subjectId: 'L100', collectionDate: today, status: 'collected' };
  expectProblem(t, await as(x.viewer).patch(path, { notes: 'v' }), 403, 'forbidden');
  expectProblem(t, await as(x.viewer).put(path, put), 403, 'forbidden');
  expectProblem(t, await as(x.viewer).delete(path), 403, 'forbidden');
  expectProblem(t, await as(x.outsider).patch(path, { notes: 'o' }), 404, 'not_found');
  expectProblem(t, await as(x.outsider).put(path, put), 404, 'not_found');
  expectProblem(t, await as(x.outsider).delete(path), 404, 'not_found');
  t.is((await as(x.technician).patch(path, { notes: 't' })).status, 200);
  t.is((await as(x.manager).put(path, { ...put, notes: 'm' })).status, 200);
  t.deepEqual(await eventTypes(svc, `sample-${x.sampleId}`), [
    'SampleRegistered',
    'SampleDetailsCorrected',
    'SampleDetailsCorrected',
  ]);
  t.is((await as(x.technician).delete(path)).status, 204);
});

test('lists, subject lookups and stats cover every lab of the caller, narrowed by ?labId=', async (t) => {
  const x = await lab();
  await as(x.viewer).post('/samples', { sampleType: 'saliva', subjectId: 'L100', collectionDate: today });
  const all = await as(x.viewer).get('/samples');
  t.is(all.body.total, 2);
  t.is((await as(x.viewer).get(`/samples?labId=${x.labId}`)).body.total, 1);
  t.is((await as(x.viewer).get(`/samples?labId=${x.viewer.id}`)).body.total, 1);
  t.is((await as(x.viewer).get('/samples/subject/L100')).body.total, 2);
  t.is((await as(x.viewer).get(`/samples/subject/L100?labId=${x.labId}`)).body.total, 1);
  t.like((await as(x.viewer).get('/samples/stats/overview')).body, { total: 2, byType: { blood: 1, saliva: 1 } });
  t.like((await as(x.viewer).get(`/samples/stats/overview?labId=${x.labId}`)).body, { total: 1, byType: { blood: 1 } });
  // Someone outside sees nothing of the lab, and naming it is a 404.
  t.is((await as(x.outsider).get('/samples')).body.total, 0);
  expectProblem(t, await as(x.outsider).get(`/samples?labId=${x.labId}`), 404, 'not_found');
  expectProblem(t, await as(x.outsider).get(`/samples/subject/L100?labId=${x.labId}`), 404, 'not_found');
  expectProblem(t, await as(x.outsider).get(`/samples/stats/overview?labId=${x.labId}`), 404, 'not_found');
});

test('transfer: technician in both labs, reason required, shown in the history of both labs', async (t) => {
  const x = await lab();
  const other = (await as(x.technician).post('/labs', { name: 'Biobank' })).body.id as string;
  const path = `/samples/${x.sampleId}/transfer`;
  await as(x.technician).patch(`/samples/${x.sampleId}`, { storageLocation: 'shelf-1' });
  expectProblem(t, await as(x.technician).post(path, { labId: other }), 422, 'validation_failed', ['reason']);
  expectProblem(t, await as(x.viewer).post(path, { labId: other, reason: 'r' }), 403, 'forbidden');
  expectProblem(t, await as(x.outsider).post(path, { labId: other, reason: 'r' }), 404, 'not_found');
  expectProblem(t, await as(x.manager).post(path, { labId: other, reason: 'r' }), 404, 'not_found');
  const moved = await as(x.technician).post(path, { labId: other, reason: 'sent to the biobank' });
  t.is(moved.status, 200);
  t.like(moved.body, { labId: other, storageLocation: null });
  // The old lab no longer lists it, the new one does; both still read its history.
  t.is((await as(x.viewer).get(`/samples?labId=${x.labId}`)).body.total, 0);
  expectProblem(t, await as(x.viewer).get(`/samples/${x.sampleId}`), 404, 'not_found');
  const history = await as(x.viewer).get(`/samples/${x.sampleId}/history`);
  t.is(history.status, 200);
  const last = (history.body.items as { type: string; reason: string; changes: object }[]).at(-1)!;
  t.like(last, {
    type: 'SampleTransferred',
    reason: 'sent to the biobank',
    changes: { labId: { from: x.labId, to: other }, storageLocation: { from: 'shelf-1', to: null } },
  });
  t.is((await as(x.technician).get(`/samples/${x.sampleId}/history`)).status, 200);
});

test('a member removed through one instance cannot read the lab on the very next request to another', async (t) => {
  const x = await lab();
  const onSecond = asUser(api2, x.viewer);
  t.is((await onSecond.get(`/samples/${x.sampleId}`)).status, 200);
  t.is((await as(x.manager).delete(`/labs/${x.labId}/members/${x.viewer.id}`)).status, 204);
  expectProblem(t, await onSecond.get(`/samples/${x.sampleId}`), 404, 'not_found');
  t.is((await onSecond.get(`/samples?labId=${x.labId}`)).status, 404);
  t.is((await onSecond.get('/samples')).body.total, 0);
});

test("erasure keeps the lab's samples; the history shows the erased actor without a name", async (t) => {
  const x = await lab();
  const erased = await call(api, 'DELETE', '/auth/me', {
    token: x.technician.accessToken,
    body: { password: x.technician.password },
  });
  t.is(erased.status, 204);
  let history = await as(x.viewer).get(`/samples/${x.sampleId}/history`);
  for (let i = 0; i < 50 && firstActor(history).username !== null; i++) {
    await new Promise((r) => setTimeout(r, 100));
    history = await as(x.viewer).get(`/samples/${x.sampleId}/history`);
  }
  t.deepEqual(firstActor(history), { id: x.technician.id, username: null });
  t.is((await as(x.viewer).get(`/samples/${x.sampleId}`)).status, 200);
  t.is((await as(x.manager).get(`/samples?labId=${x.labId}`)).body.total, 1);
});

test("GET /audit?labId=: the lab's trail for its managers; technician 403, non-member 404", async (t) => {
  const x = await lab();
  const other = (await as(x.manager).post('/labs', { name: 'Other' })).body.id as string;
  await as(x.manager).post(`/labs/${other}/members`, { username: x.technician.username, role: 'technician' });
  await as(x.technician).post(`/samples/${x.sampleId}/transfer`, { labId: other, reason: 'moved' });
  expectProblem(t, await as(x.technician).get(`/audit?labId=${x.labId}`), 403, 'forbidden');
  expectProblem(t, await as(x.viewer).get(`/audit?labId=${x.labId}`), 403, 'forbidden');
  expectProblem(t, await as(x.outsider).get(`/audit?labId=${x.labId}`), 404, 'not_found');
  const trail = async (labId: string) => {
    for (let i = 0; ; i++) {
      const r = await as(x.manager).get(`/audit?labId=${labId}&limit=100`);
      const items = r.body.items as { type: string; streamId: string }[];
      if (items.some((e) => e.type === 'SampleTransferred') || i > 50) return items;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const mine = await trail(x.labId);
  t.true(mine.some((e) => e.type === 'LabCreated' && e.streamId === `lab-${x.labId}`));
  t.true(mine.some((e) => e.type === 'SampleRegistered' && e.streamId === `sample-${x.sampleId}`));
  t.true(
    mine.some((e) => e.type === 'SampleTransferred'),
    'the transfer shows in the lab it left',
  );
  t.false(
    mine.some((e) => e.streamId === `lab-${other}`),
    'nothing of another lab',
  );
  t.true(
    (await trail(other)).some((e) => e.type === 'SampleTransferred'),
    'and in the lab it joined',
  );
});
