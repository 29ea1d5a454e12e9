// A sample's place in a box as every read shows it (API.md, Storage: PUT location answers the sample
// with `location: { unitId, position, path }`; GET and the lists show the same): null without a
// place, the box's current path after a unit above it moves or is renamed, gone once the sample is
// final or transferred; and each placement in the sample's history.
import test from 'ava';
import { createUnit, freezerTree, storageBed, newSample, placeSample } from '../support/storage.ts';

const bed = storageBed(test);

type Item = { id: string; location: unknown };
const locationOf = async (id: string) => (await bed.as.get(`/samples/${id}`)).body.location;

test('GET /samples/{id}: the location its placement answered; null before and after it leaves the slot', async (t) => {
  const { box } = await freezerTree(bed.as, bed.user.id);
  const { id } = await newSample(bed.as);
  const before = await bed.as.get(`/samples/${id}`);
  t.is(before.status, 200);
  t.is(before.body.location, null);
  const placed = await placeSample(bed.as, id, box.id, 'C4');
  const read = await bed.as.get(`/samples/${id}`);
  t.deepEqual(read.body.location, { unitId: box.id, position: 'C4', path: 'Freezer A / Rack 2 / Box 7' });
  t.deepEqual(read.body, placed, 'GET answers what PUT answered');
  t.is(read.headers.get('etag'), `"${String(placed.version)}"`);
  t.is((await bed.as.delete(`/samples/${id}/location`)).status, 204);
  t.is(await locationOf(id), null);
});

test('GET /samples, ?unitId= and /samples/subject/{id}: every item with its location, null without a place', async (t) => {
  const { freezer, box, other } = await freezerTree(bed.as, bed.user.id);
  const subjectId = 'Q7301';
  const [a, b, loose] = [
    await newSample(bed.as, { subjectId }),
    await newSample(bed.as, { subjectId }),
    await newSample(bed.as, { subjectId }),
  ];
  await placeSample(bed.as, a.id, box.id, 'A1');
  await placeSample(bed.as, b.id, other.id, 'H12');
  const expected = {
    [a.id]: { unitId: box.id, position: 'A1', path: 'Freezer A / Rack 2 / Box 7' },
    [b.id]: { unitId: other.id, position: 'H12', path: 'Freezer A / Rack 2 / Box 8' },
    [loose.id]: null,
  };
  const byId = (items: Item[]) => Object.fromEntries(items.map((i) => [i.id, i.location]));
  const subject = await bed.as.get(`/samples/subject/${subjectId}`);
  t.deepEqual(byId(subject.body.items as Item[]), expected);
  const inFreezer = await bed.as.get(`/samples?unitId=${freezer.id}`);
  t.deepEqual(byId(inFreezer.body.items as Item[]), { [a.id]: expected[a.id], [b.id]: expected[b.id] });
  const all = await bed.as.get('/samples?limit=100');
  const mine = (all.body.items as Item[]).filter((i) => i.id in expected);
  t.deepEqual(byId(mine), expected);
});

test('a unit moved or renamed above a box changes the path of the samples inside it', async (t) => {
  const { freezer, rack, box } = await freezerTree(bed.as, bed.user.id);
  const { id } = await newSample(bed.as);
  await placeSample(bed.as, id, box.id, 'B2');
  const coldRoom = await createUnit(bed.as, bed.user.id, { name: 'Freezer C', kind: 'freezer', temperatureC: -20 });
  t.is((await bed.as.post(`/storage/units/${rack.id}/move`, { parentId: coldRoom.id })).status, 200);
  t.deepEqual(await locationOf(id), { unitId: box.id, position: 'B2', path: 'Freezer C / Rack 2 / Box 7' });
  t.is((await bed.as.patch(`/storage/units/${coldRoom.id}`, { name: 'Freezer D' })).status, 200);
  t.like(await locationOf(id), { path: 'Freezer D / Rack 2 / Box 7' });
  const listed = await bed.as.get(`/samples?unitId=${coldRoom.id}`);
  t.deepEqual(
    (listed.body.items as Item[]).map((i) => i.id),
    [id],
  );
  t.deepEqual(((await bed.as.get(`/samples?unitId=${freezer.id}`)).body.items as Item[]).length, 0);
});

test('a sample that became final, or went to another lab, shows no location', async (t) => {
  const { box } = await freezerTree(bed.as, bed.user.id);
  const [disposed, handedOver] = [await newSample(bed.as), await newSample(bed.as)];
  await placeSample(bed.as, disposed.id, box.id, 'D1');
  await placeSample(bed.as, handedOver.id, box.id, 'D2');
  t.is((await bed.as.patch(`/samples/${disposed.id}`, { status: 'disposed', reason: 'tube cracked' })).status, 200);
  t.is(await locationOf(disposed.id), null);
  const labId = (await bed.as.post('/labs', { name: 'Pathology' })).body.id as string;
  t.is((await bed.as.post(`/samples/${handedOver.id}/transfer`, { labId, reason: 'handed over' })).status, 200);
  t.is(await locationOf(handedOver.id), null);
});

test('each placement shows in the history: placed, moved in the box, moved to another box, taken out', async (t) => {
  const { box, other } = await freezerTree(bed.as, bed.user.id);
  const { id } = await newSample(bed.as);
  await placeSample(bed.as, id, box.id, 'A1');
  await placeSample(bed.as, id, box.id, 'A2');
  await placeSample(bed.as, id, other.id, 'E5');
  t.is((await bed.as.delete(`/samples/${id}/location`, { reason: 'to the bench' })).status, 204);
  const history = await bed.as.get(`/samples/${id}/history`);
  const items = history.body.items as { type: string; changes: unknown; reason?: unknown }[];
  const at = (unitId: string, position: string) => ({ unitId, position });
  t.deepEqual(
    items.map((i) => i.type),
    ['SampleRegistered', 'SamplePlaced', 'SamplePlaced', 'SamplePlaced', 'SampleUnplaced'],
  );
  t.deepEqual(
    items.slice(1, 4).map((i) => i.changes),
    [
      { location: { from: null, to: at(box.id, 'A1') } },
      { location: { from: at(box.id, 'A1'), to: at(box.id, 'A2') } },
      { location: { from: at(box.id, 'A2'), to: at(other.id, 'E5') } },
    ],
  );
  t.like(items[4], { changes: { location: { from: at(other.id, 'E5'), to: null } } });
});

test('OpenAPI: GET /samples/{id} and the lists declare the sample with its location', async (t) => {
  type Doc = {
    paths: Record<
      string,
      Record<string, { responses: Record<string, { content: Record<string, { schema: unknown }> }> }>
    >;
    components: { schemas: Record<string, { properties: Record<string, unknown>; required?: string[] }> };
  };
  const doc = (await (await fetch(`${bed.svc.api}/openapi.json`)).json()) as Doc;
  const schemaOf = (path: string) =>
    JSON.stringify(doc.paths[path]?.get?.responses['200']?.content['application/json']);
  t.regex(schemaOf('/api/v1/samples/{id}'), /#\/components\/schemas\/PlacedSample/);
  t.regex(schemaOf('/api/v1/samples'), /#\/components\/schemas\/PlacedSample/);
  t.regex(schemaOf('/api/v1/samples/subject/{subjectId}'), /#\/components\/schemas\/PlacedSample/);
  const placed = doc.components.schemas.PlacedSample;
  t.truthy(placed?.properties.location);
  t.true(placed?.required?.includes('location'));
});
