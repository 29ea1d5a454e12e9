// The request key of a take (aliquots, derivative): the decider writes it into the parent's
// event, and a repeat under it finds exactly the children that request announced, so a repeat
// whose stored answer a crash lost creates nothing new (commands.take).
import test from 'ava';
import { announcedChildren } from '../../modules/samples/children.ts';
import { decideSample, type TakeChildren } from '../../modules/samples/decide.ts';
import type { SampleEvent } from '../../modules/samples/events.ts';
import { evolveSample, initialSampleState } from '../../modules/samples/evolve.ts';

const now = new Date('2026-11-30T10:00:00Z');
const labId = '11111111-1111-4111-8111-111111111111';
const parentId = '33333333-3333-4333-8333-333333333333';
const childId = (i: number) => `44444444-4444-4444-8444-${String(i).padStart(12, '0')}`;
const keyA = 'a'.repeat(64);
const keyB = 'b'.repeat(64);
/** The parent, registered through the decider. */
function registered(): SampleEvent[] {
  const data = { sampleId: parentId, ownerId: labId, labId, role: 'technician' as const, now };
  const tube = { sampleType: 'blood' as const, subjectId: 'P001', collectionDate: '2026-11-01', barcode: 'TUBE-001' };
  const decision = decideSample(
    { type: 'RegisterSample', data: { ...data, ...tube, quantity: { value: 1, unit: 'mL' } } },
    initialSampleState(),
  );
  if (!decision.ok) throw new Error(JSON.stringify(decision.error));
  return [...decision.events];
}

/** The history after each take, decided one after the other. */
function historyOf(...takes: TakeChildren[]): SampleEvent[] {
  const history = registered();
  for (const take of takes) {
    const state = history.reduce(evolveSample, initialSampleState());
    const decision = decideSample({ type: 'TakeFromSample', data: { role: 'technician', take, now } }, state);
    if (!decision.ok) throw new Error(JSON.stringify(decision.error));
    history.push(...decision.events);
  }
  return history;
}
const aliquots = (first: number, count: number, requestKey?: string): TakeChildren => ({
  kind: 'aliquots',
  count,
  quantity: { value: 100, unit: 'uL' },
  children: Array.from({ length: count }, (_, i) => ({ sampleId: childId(first + i), barcode: `T-${first + i}` })),
  requestKey,
});

test("the request key goes into the parent's event; without one there is none", (t) => {
  const history = historyOf(aliquots(0, 2, keyA), aliquots(2, 1));
  const takes = history.filter((e) => e.type === 'SampleAliquoted');
  t.is((takes[0]!.data as { requestKey?: string }).requestKey, keyA);
  t.false('requestKey' in takes[1]!.data);
});

test('a repeat under a key finds exactly the children of that request', (t) => {
  const derivative: TakeChildren = {
    kind: 'derivative',
    sampleType: 'plasma',
    child: { sampleId: childId(9), barcode: 'D-9' },
    requestKey: keyB,
  };
  const history = historyOf(aliquots(0, 2, keyA), aliquots(2, 1), derivative);
  t.deepEqual(
    announcedChildren(history, keyA).map((c) => c.sampleId),
    [childId(0), childId(1)],
  );
  t.deepEqual(
    announcedChildren(history, keyB).map((c) => [c.sampleId, c.lineage, c.sampleType]),
    [[childId(9), 'derivative', 'plasma']],
  );
  t.deepEqual(announcedChildren(history, 'c'.repeat(64)), [], 'an unknown key: a new request');
  t.is(announcedChildren(history).length, 4, 'without a key: every announced child (the start-up completion)');
});
