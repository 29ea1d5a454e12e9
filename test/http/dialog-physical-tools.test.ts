// The model's tools over tubes (issues #20, #21), against the fake OpenAI-compatible provider:
// find_sample (remaining amount), sample_origin (lineage), sample_location (box and position) and
// box_free_slots, by barcode or id; each result names the lab and holds only the caller's labs.
import test from 'ava';
import { asUser, type Client } from '../support/client.ts';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts';
import { tubeLab } from '../support/tube-fixtures.ts';
import { newUser, startTestService, type TestService } from '../support/service.ts';

let llm: FakeLlm;
let svc: TestService;
let asLee: Client;
let asKim: Client;
let tubeId: string;
let aliquot: { id: string; barcode: string };
test.before(async () => {
  llm = await startFakeLlm();
  svc = await startTestService({ LLM_BASE_URL: llm.url, LLM_MODEL: 'fake-model' });
  const lee = await newUser(svc.api, 'lee');
  asLee = asUser(svc.api, lee);
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
  const lab = await tubeLab(asLee, { aliquots: 1, aliquotAmount: { value: 500, unit: 'uL' }, position: 'C4' });
  tubeId = lab.tubeId;
  aliquot = lab.aliquots[0]!;
});
test.after.always(async () => {
  await svc?.stop();
  await llm?.close();
});

/** Asks with a fake-provider scenario that calls `tool` with `args`; the tool's result, parsed. */
async function toolResult(who: Client, tool: string, args: Record<string, unknown>) {
  const id = (await who.post('/dialog/conversations', {})).body.id as string;
  const r = await who.post(`/dialog/conversations/${id}/messages`, {
    content: `question [s:tool:${tool}:${JSON.stringify(args)}]`,
  });
  const content = (r.body.assistantMessage as { content: string }).content;
  return JSON.parse(content.replace(/^TOOL RESULT: /, '')) as Record<string, unknown>;
}

test('the model is offered the tube and storage tools', async (t) => {
  await toolResult(asLee, 'find_sample', { ref: 'TUBE-001' });
  const offered = (llm.requests[0]!.body.tools ?? []) as { function: { name: string } }[];
  const names = offered.map((tool) => tool.function.name);
  for (const name of ['find_sample', 'sample_origin', 'sample_location', 'box_free_slots'])
    t.true(names.includes(name));
});

test('find_sample by barcode (any case): the remaining amount and the lab', async (t) => {
  const result = await toolResult(asLee, 'find_sample', { ref: 'tube-001' });
  t.like((result.samples as unknown[])[0], {
    id: tubeId,
    barcode: 'TUBE-001',
    lab: 'Hematology',
    quantity: { value: 2, unit: 'mL' },
    remaining: { value: 1.5, unit: 'mL' },
  });
});

test('sample_origin by id: the parent, root first, with its barcode and lab', async (t) => {
  const result = await toolResult(asLee, 'sample_origin', { ref: aliquot.id });
  const [origin] = result.samples as { sample: unknown; ancestors: unknown[]; beyondYourLabs: boolean }[];
  t.like(origin!.sample, { id: aliquot.id, lineage: 'aliquot', parentId: tubeId, lab: 'Hematology' });
  t.is(origin!.ancestors.length, 1);
  t.like(origin!.ancestors[0], { id: tubeId, barcode: 'TUBE-001', lineage: 'primary', lab: 'Hematology' });
  t.false(origin!.beyondYourLabs);
});

test('sample_location by barcode: the box path and position', async (t) => {
  const result = await toolResult(asLee, 'sample_location', { ref: 'TUBE-001' });
  t.like((result.samples as unknown[])[0], {
    sample: { id: tubeId, lab: 'Hematology' },
    place: { path: 'Freezer A / Box 7', position: 'C4' },
  });
});

test('box_free_slots: the free slots and the lab of the box', async (t) => {
  const result = await toolResult(asLee, 'box_free_slots', { box: 'box 7' });
  t.deepEqual(result.boxes, [{ path: 'Freezer A / Box 7', lab: 'Hematology', free: 95, capacity: 96 }]);
});

test('outside the lab every tool finds nothing; a bad ref is an error the model reads', async (t) => {
  for (const tool of ['find_sample', 'sample_origin', 'sample_location']) {
    for (const ref of ['TUBE-001', tubeId, aliquot.barcode]) {
      const result = await toolResult(asKim, tool, { ref });
      t.deepEqual(result.samples, [], `${tool} ${ref}`);
    }
  }
  t.deepEqual((await toolResult(asKim, 'box_free_slots', { box: 'Box 7' })).boxes, []);
  t.regex(String((await toolResult(asLee, 'find_sample', { ref: 'no spaces' })).error), /^ref must be/);
});
