// The rest of API.md's Storage table, through the whole service: free positions in reading order
// across rows, a unit's kind and grid where it may not be, removal of a box holding a placed
// sample, a viewer taking a sample out (403), the tissue rule on a move (refused, the sample
// stays), the map of a full box (every slot coloured by type and labelled with its barcode, JSON
// and SVG agreeing), and one sample placed into many boxes at once (it ends in exactly one slot).
import test from 'ava';
import { positionsInReadingOrder } from '../../modules/storage/grid.ts';
import { sampleTypeColours } from '../../modules/storage/box-map.ts';
import { asUser, eventTypes, expectProblem } from '../support/client.ts';
import { newUser } from '../support/service.ts';
import { createUnit, freezerTree, storageBed, holderOf, newSample, placeSample } from '../support/storage.ts';

const bed = storageBed(test);

test('GET /storage/units/{id}/free-positions: reading order runs on to the next row; limit cuts it', async (t) => {
  const freezer = await createUnit(bed.as, bed.user.id, { name: 'Freezer F', kind: 'freezer' });
  const box = await createUnit(bed.as, bed.user.id, {
    name: 'Small',
    kind: 'box',
    parentId: freezer.id,
    grid: { rows: 3, columns: 4 },
  });
  for (const position of ['A1', 'A2', 'A3', 'A4', 'B2'])
    await placeSample(bed.as, (await newSample(bed.as)).id, box.id, position);
  const free = async (query: string) =>
    (await bed.as.get(`/storage/units/${box.id}/free-positions${query}`)).body.items;
  t.deepEqual(await free('?limit=3'), ['B1', 'B3', 'B4']);
  t.deepEqual(await free(''), ['B1', 'B3', 'B4', 'C1', 'C2', 'C3', 'C4']);
  t.deepEqual(await free('?limit=1'), ['B1']);
});

test('POST /storage/units: a rack in a rack or a box, and a grid on a rack or shelf, are 422', async (t) => {
  const { rack, box } = await freezerTree(bed.as, bed.user.id);
  const post = (body: Record<string, unknown>) => bed.as.post('/storage/units', { labId: bed.user.id, ...body });
  expectProblem(t, await post({ name: 'R', kind: 'rack', parentId: rack.id }), 422, 'invalid_parent', ['parentId']);
  expectProblem(t, await post({ name: 'S', kind: 'shelf', parentId: box.id }), 422, 'invalid_parent', ['parentId']);
  const grid = { rows: 2, columns: 2 };
  expectProblem(t, await post({ name: 'R', kind: 'rack', parentId: rack.id, grid }), 422, 'validation_failed');
  const freezer = rack.parentId as string;
  expectProblem(t, await post({ name: 'S', kind: 'shelf', parentId: freezer, grid }), 422, 'validation_failed', [
    'grid',
  ]);
  t.is((await bed.as.get(`/storage/units?parentId=${freezer}`)).body.total, 1, 'nothing was created');
});

test('DELETE /storage/units/{id}: a box holding a placed sample is 422 not_empty, removable once it is taken out', async (t) => {
  const { box } = await freezerTree(bed.as, bed.user.id);
  const { id } = await newSample(bed.as);
  await placeSample(bed.as, id, box.id, 'G7');
  expectProblem(t, await bed.as.delete(`/storage/units/${box.id}`), 422, 'not_empty');
  t.is((await bed.as.get(`/storage/units/${box.id}`)).body.occupied, 1);
  t.is((await bed.as.delete(`/samples/${id}/location`)).status, 204);
  t.is((await bed.as.delete(`/storage/units/${box.id}`)).status, 204);
  expectProblem(t, await bed.as.get(`/storage/units/${box.id}/map`), 404, 'not_found');
});

test('DELETE /samples/{id}/location: a viewer of the lab gets 403 and the sample stays', async (t) => {
  const viewer = await newUser(bed.svc.api, 'view');
  const labId = (await bed.as.post('/labs', { name: 'Biobank' })).body.id as string;
  await bed.as.post(`/labs/${labId}/members`, { username: viewer.username, role: 'viewer' });
  const { box } = await freezerTree(bed.as, labId);
  const { id } = await newSample(bed.as, { labId });
  await placeSample(bed.as, id, box.id, 'A1');
  expectProblem(t, await asUser(bed.svc.api, viewer).delete(`/samples/${id}/location`), 403, 'forbidden');
  t.is(await holderOf(bed.as, box.id, 'A1'), id);
  t.deepEqual(await eventTypes(bed.svc, `sample-${id}`), ['SampleRegistered', 'SamplePlaced']);
});

test('the tissue rule on a move: into a box outside a freezer is 422 and the sample stays where it was', async (t) => {
  const { box } = await freezerTree(bed.as, bed.user.id);
  const fridge = await createUnit(bed.as, bed.user.id, { name: 'Fridge', kind: 'refrigerator', temperatureC: 4 });
  const cool = await createUnit(bed.as, bed.user.id, {
    name: 'Box R',
    kind: 'box',
    parentId: fridge.id,
    grid: { rows: 2, columns: 2 },
  });
  const tissue = await newSample(bed.as, { sampleType: 'tissue' });
  await placeSample(bed.as, tissue.id, box.id, 'A1');
  const moved = await bed.as.put(`/samples/${tissue.id}/location`, { unitId: cool.id, position: 'A1' });
  expectProblem(t, moved, 422, 'tissue_outside_freezer');
  t.like((await bed.as.get(`/samples/${tissue.id}`)).body, { location: { unitId: box.id, position: 'A1' } });
  t.is(await holderOf(bed.as, cool.id, 'A1'), null);
  const blood = await newSample(bed.as);
  t.is((await bed.as.put(`/samples/${blood.id}/location`, { unitId: cool.id, position: 'A1' })).status, 200);
});

test('GET /storage/units/{id}/map of a full box: every slot coloured by its type and labelled with its barcode', async (t) => {
  const freezer = await createUnit(bed.as, bed.user.id, { name: 'Freezer M', kind: 'freezer' });
  const grid = { rows: 2, columns: 3 };
  const box = await createUnit(bed.as, bed.user.id, { name: 'Mixed', kind: 'box', parentId: freezer.id, grid });
  const types = ['blood', 'plasma', 'serum', 'saliva', 'tissue', 'dna'];
  const placed = new Map<string, { barcode: string; sampleType: string }>();
  for (const [i, position] of positionsInReadingOrder(grid).entries()) {
    const sampleType = types[i]!;
    const { id, barcode } = await newSample(bed.as, { sampleType });
    await placeSample(bed.as, id, box.id, position);
    placed.set(position, { barcode, sampleType });
  }
  const json = await bed.as.get(`/storage/units/${box.id}/map`);
  for (const p of json.body.positions as { position: string; sample: Record<string, unknown> }[])
    t.like(p.sample, placed.get(p.position)!);
  const r = await fetch(`${bed.svc.api}/storage/units/${box.id}/map?format=svg`, {
    headers: { authorization: `Bearer ${bed.user.accessToken}` },
  });
  const svg = await r.text();
  for (const [position, { barcode, sampleType }] of placed) {
    const slot = new RegExp(`<g data-position="${position}" data-sample-type="${sampleType}">(.*?)</g>`).exec(svg)?.[1];
    t.truthy(slot, position);
    t.true(slot!.includes(`fill="${sampleTypeColours[sampleType]!}"`), `${position} coloured as ${sampleType}`);
    t.true(slot!.includes(`>${barcode.length <= 12 ? barcode : barcode.slice(0, 5)}`), `${position} labelled`);
  }
  t.regex(svg, /Freezer M \/ Mixed — 6 of 6 slots occupied/);
});

test('one sample placed into 10 boxes at once: it ends in exactly one slot, and its record names it', async (t) => {
  const freezer = await createUnit(bed.as, bed.user.id, { name: 'Freezer R', kind: 'freezer' });
  const boxes: string[] = [];
  for (let n = 0; n < 10; n++)
    boxes.push(
      (
        await createUnit(bed.as, bed.user.id, {
          name: `Box ${n}`,
          kind: 'box',
          parentId: freezer.id,
          grid: { rows: 1, columns: 2 },
        })
      ).id,
    );
  const { id } = await newSample(bed.as);
  const answers = await Promise.all(
    boxes.map((box) => bed.as.put(`/samples/${id}/location`, { unitId: box, position: 'A1' })),
  );
  t.true(
    answers.every((a) => a.status === 200),
    JSON.stringify(answers.map((a) => a.status)),
  );
  const holders = await Promise.all(boxes.map((box) => holderOf(bed.as, box, 'A1')));
  const held = boxes.filter((_, i) => holders[i] === id);
  const sample = await bed.as.get(`/samples/${id}`);
  t.is(held.length, 1, `held in ${held.length} boxes`);
  t.like(sample.body, { location: { unitId: held[0], position: 'A1' } });
  const events = await bed.svc.service.infrastructure.store.readStream(`sample-${id}`);
  const last = events.filter((e) => e.type === 'SamplePlaced').at(-1)?.data as { unitId: string } | undefined;
  t.is(last?.unitId, held[0], "the sample's own record names the slot it holds");
});
