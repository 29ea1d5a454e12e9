// The offline assistant answers storage questions from the caller's labs: "where is <sample>?"
// (the box's path and the position) and "how many free slots in Box 7?".
import test from 'ava';
import { asUser, type Client } from '../support/client.ts';
import { askOnce } from '../support/tube-fixtures.ts';
import { newUser, useTestService, type TestUser } from '../support/service.ts';

let lee: TestUser;
let asLee: Client;
let asKim: Client;
let sampleId: string;
let barcode: string;
const svc = useTestService(test);
test.before(async () => {
  lee = await newUser(svc.api, 'lee');
  asLee = asUser(svc.api, lee);
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
  const unit = async (body: Record<string, unknown>) =>
    (await asLee.post('/storage/units', { labId: lee.id, ...body })).body.id as string;
  const freezer = await unit({ name: 'Freezer A', kind: 'freezer' });
  const box = await unit({ name: 'Box 7', kind: 'box', parentId: freezer, grid: { rows: 8, columns: 12 } });
  const r = await asLee.post('/samples', { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-01-05' });
  sampleId = r.body.id as string;
  barcode = r.body.barcode as string;
  await asLee.put(`/samples/${sampleId}/location`, { unitId: box, position: 'B3' });
});

const ask = askOnce;

test('"where is <sample>?" answers the path and position', async (t) => {
  t.is(
    await ask(asLee, `Where is ${sampleId}?`),
    `${barcode} (id ${sampleId}) (lab Personal lab) is in Freezer A / Box 7, position B3.`,
  );
});

test('"how many free slots in Box 7?" counts the free slots of that box', async (t) => {
  t.is(await ask(asLee, 'How many free slots in Box 7?'), 'Freezer A / Box 7 (lab Personal lab): 95 of 96 slots free.');
});

test('another lab learns nothing of the sample or the box', async (t) => {
  t.is(await ask(asKim, `Where is ${sampleId}?`), `You have no sample ${sampleId} in your labs.`);
  t.is(await ask(asKim, 'How many free slots in Box 7?'), 'You have no box named Box 7.');
});
