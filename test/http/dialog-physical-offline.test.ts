// The offline assistant knows tubes (issues #20, #21): where an aliquot came from, how much of a
// tube is left and where it is stored, asked by id or by barcode; every answer names the lab, and
// only samples of the caller's labs are ever found.
import test from 'ava';
import { asUser, type Client } from '../support/client.ts';
import { askOnce, tubeLab } from '../support/tube-fixtures.ts';
import { newUser, startTestService, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let lee: TestUser;
let asLee: Client;
let asAmy: Client; // a technician of Lee's lab
let asKim: Client; // in no lab of Lee's
let labId: string;
let tubeId: string;
let aliquot: { id: string; barcode: string };
test.before(async () => {
  svc = await startTestService();
  lee = await newUser(svc.api, 'lee');
  const amy = await newUser(svc.api, 'amy');
  asLee = asUser(svc.api, lee);
  asAmy = asUser(svc.api, amy);
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
  const lab = await tubeLab(asLee, { aliquots: 2, aliquotAmount: { value: 500, unit: 'uL' }, position: 'B3' });
  await asLee.post(`/labs/${lab.labId}/members`, { username: amy.username, role: 'technician' });
  ({ labId, tubeId } = lab);
  aliquot = lab.aliquots[0]!;
});
test.after.always(async () => {
  await svc?.stop();
});

const ask = askOnce;

test('"where did aliquot <barcode> come from?" names the parent, its lab and the lineage', async (t) => {
  const answer = await ask(asAmy, `Where did aliquot ${aliquot.barcode} come from?`);
  t.is(
    answer,
    [
      `${aliquot.barcode} (id ${aliquot.id}) is an aliquot blood sample of P001 in lab Hematology: it came from ` +
        `TUBE-001 (id ${tubeId}), a primary blood sample of P001 in lab Hematology.`,
      `Lineage, root first: TUBE-001 → ${aliquot.barcode}.`,
    ].join('\n'),
  );
  // By id, and in lower case: the same answer.
  t.is(await ask(asAmy, `where did ${aliquot.id} come from?`), answer);
  t.is(await ask(asAmy, `Where did ${aliquot.barcode.toLowerCase()} come from?`), answer);
});

test('a primary sample came from its subject', async (t) => {
  t.is(
    await ask(asLee, 'What is the origin of tube-001?'),
    `TUBE-001 (id ${tubeId}) is a primary blood sample of P001 in lab Hematology: collected from subject P001 on 2026-01-05.`,
  );
});

test('"how much is left of TUBE-001?" gives the remaining amount and the lab', async (t) => {
  t.is(
    await ask(asAmy, 'How much is left of TUBE-001?'),
    `TUBE-001 (id ${tubeId}), a primary blood sample of P001 in lab Hematology: 1 mL left of 2 mL.`,
  );
  t.is(
    await ask(asAmy, `how much is left of ${aliquot.id}`),
    `${aliquot.barcode} (id ${aliquot.id}), an aliquot blood sample of P001 in lab Hematology: 500 uL left of 500 uL.`,
  );
});

test('"where is TUBE-001?" answers the box path and position, by barcode and by id', async (t) => {
  const where = `TUBE-001 (id ${tubeId}) (lab Hematology) is in Freezer A / Box 7, position B3.`;
  t.is(await ask(asAmy, 'Where is TUBE-001?'), where);
  t.is(await ask(asAmy, `Where is sample ${tubeId}?`), where);
  t.is(
    await ask(asAmy, `Where is ${aliquot.barcode}?`),
    `${aliquot.barcode} (id ${aliquot.id}) (lab Hematology) has no place in a box.`,
  );
});

test('"how many free slots in Box 7?" names the lab of the box', async (t) => {
  t.is(await ask(asAmy, 'How many free slots in Box 7?'), 'Freezer A / Box 7 (lab Hematology): 95 of 96 slots free.');
});

test("someone in none of the lab's labs learns nothing, by barcode or by id", async (t) => {
  t.is(await ask(asKim, 'Where is TUBE-001?'), 'You have no sample TUBE-001 in your labs.');
  t.is(await ask(asKim, `Where is ${tubeId}?`), `You have no sample ${tubeId} in your labs.`);
  t.is(await ask(asKim, 'How much is left of TUBE-001?'), 'You have no sample TUBE-001 in your labs.');
  t.is(
    await ask(asKim, `Where did ${aliquot.barcode} come from?`),
    `You have no sample ${aliquot.barcode} in your labs.`,
  );
  t.is(await ask(asKim, 'How many free slots in Box 7?'), 'You have no box named Box 7.');
});

test('an aliquot transferred to another lab: its parent there is named as out of reach, not shown', async (t) => {
  const ian = await newUser(svc.api, 'ian');
  const biobank = (await asLee.post('/labs', { name: 'Biobank' })).body.id as string;
  await asLee.post(`/labs/${biobank}/members`, { username: ian.username, role: 'technician' });
  // A tube of its own: the other tests read TUBE-001's remaining amount meanwhile.
  const parent = await asLee.post('/samples', {
    labId,
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: '2026-01-05',
    quantity: { value: 1, unit: 'mL' },
  });
  const parentId = parent.body.id as string;
  const split = await asLee.post(`/samples/${parentId}/aliquots`, { count: 1, quantity: { value: 100, unit: 'uL' } });
  const moved = (split.body.items as { id: string; barcode: string }[])[0]!;
  const transfer = await asLee.post(`/samples/${moved.id}/transfer`, { labId: biobank, reason: 'shipped' });
  t.is(transfer.status, 200, JSON.stringify(transfer.body));
  const answer = await ask(asUser(svc.api, ian), `Where did ${moved.barcode} come from?`);
  t.is(
    answer,
    `${moved.barcode} (id ${moved.id}) is an aliquot blood sample of P001 in lab Biobank: ` +
      `its parent ${parentId} is in a lab you are not a member of.`,
  );
  t.false(answer.includes(String(parent.body.barcode)));
});
