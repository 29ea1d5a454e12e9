// Labs over HTTP: a personal lab for everyone, shared labs managed by their managers, 404 for a
// non-member and 403 for a role too low on every lab route, one manager at least (also under
// concurrent demotions and removals), and the administrator's rescue of a manager-less lab.
import test from 'ava';
import { asUser, eventTypes, expectProblem, type Client } from '../support/client.ts';
import { call, newUser, bootstrapAdmin, useTestService, type Answer, type TestUser } from '../support/service.ts';

interface MemberBody {
  readonly userId: string;
  readonly username: string | null;
  readonly role: string;
}
interface LabBody {
  readonly id: string;
  readonly personal: boolean;
  readonly role: string;
}
const membersOf = (a: Answer): MemberBody[] => a.body.members as MemberBody[];
const itemsOf = (a: Answer): LabBody[] => a.body.items as LabBody[];

let admin: Client;
const adminUser = { username: 'labadmin', password: 'Granite-Pelican-Orbit-52' };

const svc = useTestService(test, {
  ...bootstrapAdmin(adminUser),
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '100000',
});
test.before(async () => {
  const login = await call(svc.api, 'POST', '/auth/login', {
    body: { login: adminUser.username, password: adminUser.password },
  });
  admin = asUser(svc.api, { accessToken: login.body.accessToken });
});

interface Team {
  readonly labId: string;
  readonly manager: TestUser;
  readonly technician: TestUser;
  readonly viewer: TestUser;
  readonly outsider: TestUser;
  readonly as: (u: TestUser) => Client;
}

/** A shared lab with a manager, a technician and a viewer, and someone outside it. */
async function team(): Promise<Team> {
  const [manager, technician, viewer, outsider] = await Promise.all([
    newUser(svc.api, 'mgr'),
    newUser(svc.api, 'tech'),
    newUser(svc.api, 'view'),
    newUser(svc.api, 'out'),
  ]);
  const as = (u: TestUser) => asUser(svc.api, u);
  const created = await as(manager).post('/labs', { name: 'Haematology' });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const labId = created.body.id as string;
  for (const [u, role] of [
    [technician, 'technician'],
    [viewer, 'viewer'],
  ] as const) {
    const added = await as(manager).post(`/labs/${labId}/members`, { username: u.username, role });
    if (added.status !== 201) throw new Error(JSON.stringify(added.body));
  }
  return { labId, manager, technician, viewer, outsider, as };
}

test('every account has a personal lab: its only member, as manager', async (t) => {
  const lee = await newUser(svc.api, 'lee');
  const labs = await asUser(svc.api, lee).get('/labs');
  t.is(labs.status, 200);
  t.like(labs.body, { total: 1, nextCursor: null });
  t.like(itemsOf(labs)[0], { id: lee.id, personal: true, role: 'manager' });
  const lab = await asUser(svc.api, lee).get(`/labs/${lee.id}`);
  t.deepEqual(
    membersOf(lab).map((m) => [m.userId, m.role]),
    [[lee.id, 'manager']],
  );
});

test('the personal lab is created by the reaction to the registration, once', async (t) => {
  const kim = await newUser(svc.api, 'kim');
  for (let i = 0; i < 50 && (await eventTypes(svc, `lab-${kim.id}`)).length < 2; i++)
    await new Promise((r) => setTimeout(r, 100));
  await asUser(svc.api, kim).get('/labs');
  t.deepEqual(await eventTypes(svc, `lab-${kim.id}`), ['LabCreated', 'MemberAdded']);
});

test('no one can join a personal lab', async (t) => {
  const [lee, ann] = await Promise.all([newUser(svc.api, 'lee'), newUser(svc.api, 'ann')]);
  await asUser(svc.api, lee).get('/labs');
  const r = await asUser(svc.api, lee).post(`/labs/${lee.id}/members`, { username: ann.username, role: 'viewer' });
  expectProblem(t, r, 422, 'personal_lab');
});

test('POST /labs creates a shared lab with the caller as manager', async (t) => {
  const lee = await newUser(svc.api, 'lee');
  const r = await asUser(svc.api, lee).post('/labs', { name: 'Biobank' });
  t.is(r.status, 201);
  t.like(r.body, { name: 'Biobank', personal: false, role: 'manager', version: 2 });
  t.is(r.headers.get('location'), `/api/v1/labs/${String(r.body.id)}`);
  const labs = await asUser(svc.api, lee).get('/labs');
  t.deepEqual(
    itemsOf(labs).map((l) => [l.personal, l.role]),
    [
      [true, 'manager'],
      [false, 'manager'],
    ],
  );
});

test('POST /labs refuses a name that is empty or too long', async (t) => {
  const lee = asUser(svc.api, await newUser(svc.api, 'lee'));
  expectProblem(t, await lee.post('/labs', { name: '' }), 422, 'validation_failed', ['name']);
  expectProblem(t, await lee.post('/labs', { name: 'x'.repeat(101) }), 422, 'validation_failed', ['name']);
});

test('GET /labs/{id}: members see the lab and its members; a non-member gets 404 like an unknown id', async (t) => {
  const x = await team();
  for (const u of [x.manager, x.technician, x.viewer]) t.is((await x.as(u).get(`/labs/${x.labId}`)).status, 200);
  const lab = await x.as(x.viewer).get(`/labs/${x.labId}`);
  t.is(lab.body.role, 'viewer');
  t.deepEqual(
    membersOf(lab).map((m) => [m.username, m.role]),
    [
      [x.manager.username, 'manager'],
      [x.technician.username, 'technician'],
      [x.viewer.username, 'viewer'],
    ],
  );
  expectProblem(t, await x.as(x.outsider).get(`/labs/${x.labId}`), 404, 'not_found');
  expectProblem(t, await x.as(x.outsider).get(`/labs/${crypto.randomUUID()}`), 404, 'not_found');
  t.false(
    itemsOf(await x.as(x.outsider).get('/labs')).some((l) => l.id === x.labId),
    'not in the outsider list',
  );
});

test('PATCH /labs/{id}: a manager renames; technician and viewer 403; non-member 404', async (t) => {
  const x = await team();
  expectProblem(t, await x.as(x.technician).patch(`/labs/${x.labId}`, { name: 'T' }), 403, 'forbidden');
  expectProblem(t, await x.as(x.viewer).patch(`/labs/${x.labId}`, { name: 'V' }), 403, 'forbidden');
  expectProblem(t, await x.as(x.outsider).patch(`/labs/${x.labId}`, { name: 'O' }), 404, 'not_found');
  const r = await x.as(x.manager).patch(`/labs/${x.labId}`, { name: 'Haematology II' });
  t.is(r.status, 200);
  t.is(r.body.name, 'Haematology II');
  t.is((await x.as(x.viewer).get(`/labs/${x.labId}`)).body.name, 'Haematology II');
});

test('PATCH /labs/{id} with a stale If-Match is 412', async (t) => {
  const x = await team();
  expectProblem(
    t,
    await x.as(x.manager).patch(`/labs/${x.labId}`, { name: 'N' }, { ifMatch: 1 }),
    412,
    'version_mismatch',
  );
});

test('POST /labs/{id}/members: manager only; unknown user 422; already a member 409', async (t) => {
  const x = await team();
  const newcomer = await newUser(svc.api, 'new');
  const body = { username: newcomer.username, role: 'viewer' };
  expectProblem(t, await x.as(x.technician).post(`/labs/${x.labId}/members`, body), 403, 'forbidden');
  expectProblem(t, await x.as(x.viewer).post(`/labs/${x.labId}/members`, body), 403, 'forbidden');
  expectProblem(t, await x.as(x.outsider).post(`/labs/${x.labId}/members`, body), 404, 'not_found');
  expectProblem(
    t,
    await x.as(x.manager).post(`/labs/${x.labId}/members`, { username: 'nobody_here', role: 'viewer' }),
    422,
    'unknown_user',
  );
  const added = await x.as(x.manager).post(`/labs/${x.labId}/members`, body);
  t.is(added.status, 201);
  t.like(added.body, { userId: newcomer.id, username: newcomer.username, role: 'viewer' });
  expectProblem(t, await x.as(x.manager).post(`/labs/${x.labId}/members`, body), 409, 'already_member');
});

test('PATCH /labs/{id}/members/{userId}: manager only; a non-member 404', async (t) => {
  const x = await team();
  const path = `/labs/${x.labId}/members/${x.viewer.id}`;
  expectProblem(t, await x.as(x.technician).patch(path, { role: 'technician' }), 403, 'forbidden');
  expectProblem(t, await x.as(x.viewer).patch(path, { role: 'manager' }), 403, 'forbidden');
  expectProblem(t, await x.as(x.outsider).patch(path, { role: 'manager' }), 404, 'not_found');
  const r = await x.as(x.manager).patch(path, { role: 'technician' });
  t.is(r.status, 200);
  t.like(r.body, { userId: x.viewer.id, role: 'technician' });
});

test('the last manager can be neither demoted nor removed, nor leave', async (t) => {
  const x = await team();
  const self = `/labs/${x.labId}/members/${x.manager.id}`;
  expectProblem(t, await x.as(x.manager).patch(self, { role: 'viewer' }), 422, 'last_manager');
  expectProblem(t, await x.as(x.manager).delete(self), 422, 'last_manager');
  t.is((await x.as(x.manager).get(`/labs/${x.labId}`)).body.role, 'manager');
});

test('DELETE /labs/{id}/members/{userId}: a manager removes anyone, anyone may leave, others 403/404', async (t) => {
  const x = await team();
  expectProblem(t, await x.as(x.viewer).delete(`/labs/${x.labId}/members/${x.technician.id}`), 403, 'forbidden');
  expectProblem(t, await x.as(x.technician).delete(`/labs/${x.labId}/members/${x.viewer.id}`), 403, 'forbidden');
  expectProblem(t, await x.as(x.outsider).delete(`/labs/${x.labId}/members/${x.viewer.id}`), 404, 'not_found');
  t.is((await x.as(x.viewer).delete(`/labs/${x.labId}/members/${x.viewer.id}`)).status, 204);
  expectProblem(t, await x.as(x.viewer).get(`/labs/${x.labId}`), 404, 'not_found');
  t.is((await x.as(x.manager).delete(`/labs/${x.labId}/members/${x.technician.id}`)).status, 204);
  expectProblem(t, await x.as(x.technician).get(`/labs/${x.labId}`), 404, 'not_found');
});

/** A team whose technician was promoted: the lab has two managers. */
async function twoManagers() {
  const x = await team();
  await x.as(x.manager).patch(`/labs/${x.labId}/members/${x.technician.id}`, { role: 'manager' });
  return x;
}
const managerCount = async (x: Awaited<ReturnType<typeof team>>) =>
  membersOf(await x.as(x.viewer).get(`/labs/${x.labId}`)).filter((m) => m.role === 'manager').length;

test('two managers demoting each other at once: exactly one succeeds, the lab keeps a manager', async (t) => {
  const x = await twoManagers();
  const answers = await Promise.all([
    x.as(x.manager).patch(`/labs/${x.labId}/members/${x.technician.id}`, { role: 'viewer' }),
    x.as(x.technician).patch(`/labs/${x.labId}/members/${x.manager.id}`, { role: 'viewer' }),
  ]);
  // The loser is decided again on the fresh state: no longer a manager, so not allowed.
  t.deepEqual(answers.map((a) => a.status).sort(), [200, 403]);
  t.is(await managerCount(x), 1);
});

test('two managers stepping down at once: exactly one succeeds, the other is the last manager', async (t) => {
  const x = await twoManagers();
  const answers = await Promise.all([
    x.as(x.manager).patch(`/labs/${x.labId}/members/${x.manager.id}`, { role: 'viewer' }),
    x.as(x.technician).patch(`/labs/${x.labId}/members/${x.technician.id}`, { role: 'viewer' }),
  ]);
  t.deepEqual(answers.map((a) => a.status).sort(), [200, 422]);
  t.is(answers.find((a) => a.status === 422)?.body.code, 'last_manager');
  t.is(await managerCount(x), 1);
});

test('two managers leaving at once: exactly one succeeds, the other is the last manager', async (t) => {
  const x = await twoManagers();
  const answers = await Promise.all([
    x.as(x.manager).delete(`/labs/${x.labId}/members/${x.manager.id}`),
    x.as(x.technician).delete(`/labs/${x.labId}/members/${x.technician.id}`),
  ]);
  t.deepEqual(answers.map((a) => a.status).sort(), [204, 422]);
  t.is(answers.find((a) => a.status === 422)?.body.code, 'last_manager');
  t.is(await managerCount(x), 1);
});

test('admin routes: users get 403; an admin lists every lab', async (t) => {
  const x = await team();
  expectProblem(t, await x.as(x.manager).get('/admin/labs'), 403, 'forbidden');
  expectProblem(
    t,
    await x.as(x.manager).post(`/admin/labs/${x.labId}/members`, { username: x.viewer.username }),
    403,
    'forbidden',
  );
  const all = await admin.get('/admin/labs?limit=100');
  t.is(all.status, 200);
  t.true((all.body.total as number) >= 1);
});

test('an admin gives a lab left without a manager (its manager erased) a manager', async (t) => {
  const x = await team();
  expectProblem(
    t,
    await admin.post(`/admin/labs/${x.labId}/members`, { username: x.viewer.username }),
    422,
    'lab_has_manager',
  );
  const erase = await call(svc.api, 'DELETE', '/auth/me', {
    token: x.manager.accessToken,
    body: { password: x.manager.password },
  });
  t.is(erase.status, 204);
  let lab = await x.as(x.viewer).get(`/labs/${x.labId}`);
  for (let i = 0; i < 50 && membersOf(lab).some((m) => m.userId === x.manager.id); i++) {
    await new Promise((r) => setTimeout(r, 100));
    lab = await x.as(x.viewer).get(`/labs/${x.labId}`);
  }
  t.false(
    membersOf(lab).some((m) => m.userId === x.manager.id),
    'the erased manager left',
  );
  const r = await admin.post(`/admin/labs/${x.labId}/members`, { username: x.viewer.username });
  t.is(r.status, 201);
  t.like(r.body, { userId: x.viewer.id, role: 'manager' });
  t.is((await x.as(x.viewer).patch(`/labs/${x.labId}`, { name: 'Rescued' })).status, 200);
});
