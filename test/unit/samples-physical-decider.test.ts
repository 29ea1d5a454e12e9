// given/when/then specs of the physical-sample decider (API.md, Physical samples): aliquots and
// derivatives all or none with the parent's amount taken in the same decision, consumed at zero,
// disposal with a reason, thaws, final states, and the children a parent's event announces.
import test from 'ava';
import fc from 'fast-check';
import type { NewChild, PhysicalCommand, PhysicalState } from '../../modules/samples/physical/decide.ts';
import {
  announcedChildren,
  childRegistrations,
  pendingChildren,
  physicalDecider,
} from '../../modules/samples/physical/decide.ts';
import type { PhysicalEvent, PhysicalRegistration } from '../../modules/samples/physical/events.ts';
import { physicalEventSchemas } from '../../modules/samples/physical/events.ts';
import { toAmount, type Quantity } from '../../modules/samples/physical/quantity.ts';
import { deciderSpec } from '../support/decider-spec.ts';
import { primaryBlood } from '../support/sample-fixtures.ts';

const spec = deciderSpec(physicalDecider);
const now = new Date('2026-11-30T10:00:00Z');
const at = now.toISOString();
const labId = '11111111-1111-4111-8111-111111111111';
const parentId = '33333333-3333-4333-8333-333333333333';
const childId = (i: number) => `44444444-4444-4444-8444-${String(i).padStart(12, '0')}`;
const kids = (n: number): NewChild[] =>
  Array.from({ length: n }, (_, i) => ({ sampleId: childId(i), barcode: `TUBE-001-${i}` }));

const registered = (overrides: Partial<PhysicalRegistration> = {}): PhysicalEvent => ({
  type: 'SampleRegistered',
  data: {
    sampleId: parentId,
    labId,
    barcode: 'TUBE-001',
    ...primaryBlood,
    quantity: { value: 1, unit: 'mL' },
    remaining: { value: 1, unit: 'mL' },
    registeredAt: '2026-11-01T09:00:00.000Z',
    ...overrides,
  },
});
const aliquot = (count: number, quantity?: Quantity | null, role: 'viewer' | 'technician' = 'technician') =>
  ({ type: 'TakeAliquots', data: { role, count, quantity, children: kids(count), now } }) satisfies PhysicalCommand;
const derive = (data: Partial<Extract<PhysicalCommand, { type: 'TakeDerivative' }>['data']> = {}): PhysicalCommand => ({
  type: 'TakeDerivative',
  data: { role: 'technician', sampleType: 'plasma', child: kids(1)[0]!, now, ...data },
});
const dispose = (reason: string | null, role: 'viewer' | 'technician' | 'manager' = 'technician'): PhysicalCommand => ({
  type: 'DisposeSample',
  data: { role, reason, now },
});
const thaw: PhysicalCommand = { type: 'RecordThaw', data: { role: 'technician', now } };
const consumed: PhysicalEvent = { type: 'SampleConsumed', data: { sampleId: parentId, labId, consumedAt: at } };
const disposed: PhysicalEvent = {
  type: 'SampleDisposed',
  data: { sampleId: parentId, labId, reason: 'tube cracked', disposedAt: at },
};

test('aliquots: every child at once, the total taken from the parent in the same event', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(3, { value: 100, unit: 'uL' }))
    .then([
      {
        type: 'SampleAliquoted',
        data: {
          sampleId: parentId,
          labId,
          children: kids(3).map((k) => ({ ...k, quantity: { value: 100, unit: 'uL' } })),
          taken: { value: 300, unit: 'uL' },
          remaining: { value: 0.7, unit: 'mL' },
          aliquotedAt: at,
        },
      },
    ]);
});

test('aliquots taking everything that is left also consume the parent', (t) => {
  const outcome = spec(t)
    .given([registered()])
    .when(aliquot(4, { value: 0.25, unit: 'mL' }))
    .outcome();
  t.true(outcome.ok);
  t.deepEqual(
    outcome.events.map((e) => (e as PhysicalEvent).type),
    ['SampleAliquoted', 'SampleConsumed'],
  );
  t.deepEqual(outcome.events[1], consumed);
});

test('aliquots asking for more than is left: 422 insufficient_quantity, nothing recorded', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(11, { value: 100, unit: 'uL' }))
    .thenFails({ code: 'insufficient_quantity', status: 422 });
});

test('aliquots in another dimension than the parent: validation_failed on quantity', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(2, { value: 1, unit: 'mg' }))
    .thenFails({
      code: 'validation_failed',
      errors: [{ path: 'quantity', message: 'mg cannot be taken from a sample measured in mL' }],
    });
});

test('aliquot count outside 1–100 is refused', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(0))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'count' }] });
  spec(t).given([registered()]).when(aliquot(101)).thenFails({ code: 'validation_failed' });
});

test('an amount finer than its unit allows is refused, not rounded', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(1, { value: 0.0001, unit: 'uL' }))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'quantity' }] });
});

test('aliquots without an amount, or of a parent whose amount is not tracked, take nothing', (t) => {
  const untaken = spec(t).given([registered()]).when(aliquot(2)).outcome();
  t.like(untaken.events[0], { data: { taken: null, remaining: { value: 1, unit: 'mL' } } });
  const untracked = spec(t)
    .given([registered({ quantity: null, remaining: null })])
    .when(aliquot(2, { value: 5, unit: 'mL' }))
    .outcome();
  t.like(untracked.events[0], { data: { taken: { value: 10, unit: 'mL' }, remaining: null } });
  t.is(untracked.events.length, 1);
});

test('a viewer may not take aliquots (403), an unknown sample is not_found', (t) => {
  spec(t)
    .given([registered()])
    .when(aliquot(1, null, 'viewer'))
    .thenFails({ code: 'forbidden' });
  spec(t).given([]).when(aliquot(1)).thenFails({ code: 'not_found' });
});

test('nothing is taken from a final parent: 422 invalid_transition', (t) => {
  spec(t).given([registered(), consumed]).when(aliquot(1)).thenFails({ code: 'invalid_transition' });
  spec(t).given([registered(), disposed]).when(derive()).thenFails({ code: 'invalid_transition' });
});

test('a derivative: its own type and amount, what it consumes taken from the parent', (t) => {
  spec(t)
    .given([registered()])
    .when(derive({ sampleType: 'dna', quantity: { value: 40, unit: 'ug' }, consumes: { value: 200, unit: 'uL' } }))
    .then([
      {
        type: 'SampleDerived',
        data: {
          sampleId: parentId,
          labId,
          child: { ...kids(1)[0]!, sampleType: 'dna', quantity: { value: 40, unit: 'ug' } },
          taken: { value: 200, unit: 'uL' },
          remaining: { value: 0.8, unit: 'mL' },
          derivedAt: at,
        },
      },
    ]);
});

test('a derivative the parent cannot give is refused (plasma from tissue)', (t) => {
  spec(t)
    .given([registered({ sampleType: 'tissue' })])
    .when(derive({ sampleType: 'plasma' }))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'sampleType' }] });
});

test('a derivative consuming more than is left: insufficient_quantity', (t) => {
  spec(t)
    .given([registered()])
    .when(derive({ consumes: { value: 2, unit: 'mL' } }))
    .thenFails({ code: 'insufficient_quantity' });
});

test('disposal records the reason; a blank reason is refused', (t) => {
  spec(t).given([registered()]).when(dispose('  tube cracked ')).then([disposed]);
  spec(t)
    .given([registered()])
    .when(dispose('  '))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'reason' }] });
  spec(t).given([registered()]).when(dispose(null)).thenFails({ code: 'validation_failed' });
});

test('disposal needs the technician role, and is final', (t) => {
  spec(t).given([registered()]).when(dispose('x', 'viewer')).thenFails({ code: 'forbidden' });
  spec(t).given([registered(), disposed]).when(dispose('again')).thenFails({ code: 'invalid_transition' });
  spec(t).given([registered(), consumed]).when(dispose('x')).thenFails({ code: 'invalid_transition' });
});

test('each thaw adds one to the freeze–thaw count; none after a final state', (t) => {
  const thawed = (n: number): PhysicalEvent => ({
    type: 'SampleThawed',
    data: { sampleId: parentId, labId, freezeThawCount: n, thawedAt: at },
  });
  spec(t)
    .given([registered()])
    .when(thaw)
    .then([thawed(1)]);
  spec(t)
    .given([registered(), thawed(1), thawed(2)])
    .when(thaw)
    .then([thawed(3)]);
  spec(t).given([registered(), consumed]).when(thaw).thenFails({ code: 'invalid_transition' });
});

test('every event the decider makes matches its schema', (t) => {
  const commands: PhysicalCommand[] = [
    aliquot(4, { value: 0.25, unit: 'mL' }),
    derive({ sampleType: 'rna', consumes: { value: 1, unit: 'mL' } }),
    dispose('dropped'),
    thaw,
  ];
  for (const command of commands) {
    const outcome = spec(t).given([registered()]).when(command).outcome();
    for (const event of outcome.events as PhysicalEvent[]) {
      t.true(physicalEventSchemas[event.type].safeParse(event.data).success, event.type);
    }
  }
});

test('taking aliquots never leaves more or less than start minus taken (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 20_000 }), (count, microlitres) => {
      const state = [registered()].reduce(physicalDecider.evolve, physicalDecider.initialState());
      const decision = physicalDecider.decide(aliquot(count, { value: microlitres, unit: 'uL' }), state);
      const wanted = count * microlitres * 1000;
      if (wanted > 1_000_000) return !decision.ok && decision.error.code === 'insufficient_quantity';
      if (!decision.ok) return false;
      const next = decision.events.reduce(physicalDecider.evolve, state) as Extract<PhysicalState, { kind: 'sample' }>;
      const left = next.remaining === null ? 0 : toAmount(next.remaining).base;
      return left + wanted === 1_000_000 && (left === 0) === (next.status === 'consumed');
    }),
  );
  t.pass();
});

test('children inherit lab, subject and collection date and link to the parent', (t) => {
  const state = [registered()].reduce(physicalDecider.evolve, physicalDecider.initialState());
  if (state.kind !== 'sample') return t.fail();
  const decision = physicalDecider.decide(aliquot(2, { value: 100, unit: 'uL' }), state);
  const event = decision.events[0] as Extract<PhysicalEvent, { type: 'SampleAliquoted' }>;
  const children = childRegistrations(state, event);
  t.deepEqual(children[1], {
    ...registered().data,
    sampleId: childId(1),
    barcode: 'TUBE-001-1',
    quantity: { value: 100, unit: 'uL' },
    remaining: { value: 100, unit: 'uL' },
    lineage: 'aliquot',
    parentId,
    registeredAt: at,
  });
  for (const child of children) t.true(physicalEventSchemas.SampleRegistered.safeParse(child).success);
  t.deepEqual(childRegistrations(state, event), children, 'the same event always announces the same children');
});

test('a derivative child gets its own type and lineage derivative', (t) => {
  const state = [registered()].reduce(physicalDecider.evolve, physicalDecider.initialState());
  if (state.kind !== 'sample') return t.fail();
  const decision = physicalDecider.decide(derive({ sampleType: 'serum' }), state);
  const [child] = childRegistrations(state, decision.events[0] as Extract<PhysicalEvent, { type: 'SampleDerived' }>);
  t.like(child, { sampleType: 'serum', lineage: 'derivative', parentId, quantity: null });
});

test('after a crash, only the children not yet written are pending', (t) => {
  const state = [registered()].reduce(physicalDecider.evolve, physicalDecider.initialState());
  if (state.kind !== 'sample') return t.fail();
  const event = physicalDecider.decide(aliquot(3), state).events[0] as Extract<
    PhysicalEvent,
    { type: 'SampleAliquoted' }
  >;
  const announced = childRegistrations(state, event);
  t.deepEqual(
    pendingChildren(announced, new Set([childId(0)])).map((c) => c.sampleId),
    [childId(1), childId(2)],
  );
  t.deepEqual(pendingChildren(announced, new Set(announced.map((c) => c.sampleId))), []);
});

test('a restart finds every child the parent announced, from the parent as it was then', (t) => {
  const history: PhysicalEvent[] = [registered()];
  const run = (command: PhysicalCommand) => {
    const state = history.reduce(physicalDecider.evolve, physicalDecider.initialState());
    history.push(...physicalDecider.decide(command, state).events);
  };
  run(aliquot(2, { value: 100, unit: 'uL' }));
  run(derive({ sampleType: 'dna', child: { sampleId: childId(9), barcode: 'D-9' } }));
  const announced = announcedChildren(history);
  t.deepEqual(
    announced.map((c) => [c.sampleId, c.lineage]),
    [
      [childId(0), 'aliquot'],
      [childId(1), 'aliquot'],
      [childId(9), 'derivative'],
    ],
  );
  t.deepEqual(announcedChildren([...history, disposed]), announced, 'later events change nothing announced');
  t.deepEqual(
    pendingChildren(announced, new Set([childId(0), childId(1)])).map((c) => c.sampleId),
    [childId(9)],
  );
});
