// Storage routes and lab roles (API.md, Labs and Storage): a viewer reads units and maps, only a
// manager changes units (403 `forbidden` below it), a non-member gets 404; lists cover every lab
// of the caller, narrowed by ?labId=. The routes run on the HTTP platform with a LabAccess of
// fixed memberships (the labs module provides the real one).
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createHttpApp } from '../../platform/http/app.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import type { LabAccess, LabRole } from '../../modules/storage/lab-access.ts';
import { storageModule } from '../../modules/storage/module.ts';
import { storageProjection } from '../../projections/storage/storage-read-model.ts';
import { fixture, type Fixture } from '../integration/projections-fixtures.ts';
import { expectProblem } from '../support/client.ts';
import { captureLogs } from '../support/logs.ts';
import { fakeAuthentication } from './platform-fixture.ts';
import { call } from '../support/service.ts';
import { listen, type RunningApp } from '../support/http.ts';

const [labA, labB] = [randomUUID(), randomUUID()];
const [manager, technician, viewer, stranger] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
const memberships: Record<string, Record<string, LabRole>> = {
  [manager]: { [labA]: 'manager', [labB]: 'manager' },
  [technician]: { [labA]: 'technician' },
  [viewer]: { [labA]: 'viewer' },
};
const labs: LabAccess = {
  roleIn: (userId, labId) => Promise.resolve(memberships[userId]?.[labId]),
  labsOf: (userId) => Promise.resolve(Object.keys(memberships[userId] ?? {})),
};

let fx: Fixture;
let app: RunningApp;
test.before(async () => {
  fx = await fixture();
  const engine = fx.engine(storageProjection);
  engine.start();
  await engine.tablesReady(30_000);
  const openapi = new OpenApiRegistry();
  const { routers } = storageModule({
    knex: fx.knex,
    store: fx.store,
    openapi,
    waitForProjections: (names, position) => engine.waitForProjections(names, position, { timeoutMs: 10_000 }),
    labs,
    samples: () => Promise.resolve(new Map()),
  });
  app = await listen(
    createHttpApp({
      logger: captureLogs().logger,
      bodyLimitBytes: 100_000,
      trustProxy: false,
      openapi,
      readinessChecks: [],
      authenticate: fakeAuthentication,
      routers,
    }),
  );
});
test.after.always(async () => {
  await app?.close();
  await fx?.teardown();
});

const as = (userId: string) => {
  const send = (method: string, path: string, body?: unknown) =>
    call(`${app.url}/api/v1`, method, path, { headers: { 'x-test-user': userId }, ...(body ? { body } : {}) });
  return {
    get: (path: string) => send('GET', path),
    post: (path: string, body: unknown) => send('POST', path, body),
    patch: (path: string, body: unknown) => send('PATCH', path, body),
    delete: (path: string) => send('DELETE', path),
  };
};

const boxInLab = async (labId: string) => {
  const m = as(manager);
  const freezer = await m.post('/storage/units', { labId, name: 'Freezer', kind: 'freezer' });
  const box = await m.post('/storage/units', {
    labId,
    name: 'Box',
    kind: 'box',
    parentId: freezer.body.id,
    grid: { rows: 2, columns: 3 },
  });
  if (box.status !== 201) throw new Error(`create failed: ${box.status} ${JSON.stringify(box.body)}`);
  return { freezer: freezer.body.id as string, box: box.body.id as string };
};

test('a viewer reads units, maps and free positions', async (t) => {
  const { box } = await boxInLab(labA);
  const v = as(viewer);
  t.is((await v.get(`/storage/units/${box}`)).status, 200);
  t.is((await v.get(`/storage/units/${box}/map`)).status, 200);
  t.deepEqual((await v.get(`/storage/units/${box}/free-positions?limit=2`)).body, { items: ['A1', 'A2'] });
});

test('below manager, creating, renaming, moving and removing units is 403 forbidden', async (t) => {
  const { freezer, box } = await boxInLab(labA);
  for (const who of [viewer, technician]) {
    const u = as(who);
    expectProblem(t, await u.post('/storage/units', { labId: labA, name: 'F', kind: 'freezer' }), 403, 'forbidden');
    expectProblem(t, await u.patch(`/storage/units/${box}`, { name: 'Mine' }), 403, 'forbidden');
    expectProblem(t, await u.post(`/storage/units/${box}/move`, { parentId: freezer }), 403, 'forbidden');
    expectProblem(t, await u.delete(`/storage/units/${box}`), 403, 'forbidden');
  }
  t.is((await as(manager).get(`/storage/units/${box}`)).body.name, 'Box');
});

test('a non-member gets 404 for every unit of the lab, and creates nothing in it', async (t) => {
  const { box } = await boxInLab(labA);
  const s = as(stranger);
  expectProblem(t, await s.get(`/storage/units/${box}`), 404, 'not_found');
  expectProblem(t, await s.get(`/storage/units/${box}/map`), 404, 'not_found');
  expectProblem(t, await s.patch(`/storage/units/${box}`, { name: 'x' }), 404, 'not_found');
  expectProblem(t, await s.post('/storage/units', { labId: labA, name: 'F', kind: 'freezer' }), 404, 'not_found');
});

test('lists cover every lab of the caller, narrowed by ?labId=', async (t) => {
  const a = await boxInLab(labA);
  const b = await boxInLab(labB);
  const ids = (r: { body: { items: { id: string }[] } }) => r.body.items.map((u) => u.id);
  const all = ids(await as(manager).get('/storage/units?limit=100'));
  t.true(all.includes(a.freezer) && all.includes(b.freezer));
  const onlyB = ids(await as(manager).get(`/storage/units?labId=${labB}&limit=100`));
  t.true(onlyB.includes(b.freezer));
  t.false(onlyB.includes(a.freezer));
  const viewerSees = ids(await as(viewer).get('/storage/units?limit=100'));
  t.false(viewerSees.includes(b.freezer));
});

test('a box cannot move into a unit of another lab', async (t) => {
  const a = await boxInLab(labA);
  const b = await boxInLab(labB);
  expectProblem(
    t,
    await as(manager).post(`/storage/units/${a.box}/move`, { parentId: b.freezer }),
    422,
    'invalid_parent',
  );
});
