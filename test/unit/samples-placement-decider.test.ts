// given/when/then specs of the sample's half of a placement (PlaceSample, UnplaceSample).
import test from 'ava';
import type { SampleCommand } from '../../modules/samples/decide.ts';
import { sampleDecider } from '../../modules/samples/decide.ts';
import type { SampleEvent } from '../../modules/samples/events.ts';
import { sampleEventSchemas } from '../../modules/samples/events.ts';
import { at, deciderSpec, fixedIds, now } from '../support/decider-spec.ts';
import { bloodFromP001 } from '../support/sample-fixtures.ts';

const spec = deciderSpec(sampleDecider);
const [lab, sampleId, box, otherBox] = fixedIds(4);
const ids = { sampleId, ownerId: lab, labId: lab };

const registered: SampleEvent = {
  type: 'SampleRegistered',
  data: { ...ids, ...bloodFromP001, status: 'collected', storageLocation: null, notes: null, registeredAt: at },
};
const placedIn = (unitId: string, position: string, from: { unitId: string; position: string } | null = null) =>
  ({ type: 'SamplePlaced', data: { ...ids, unitId, position, from, placedAt: at } }) as const;
const place = (unitId: string, position: string, role: 'viewer' | 'technician' | null = 'technician') =>
  ({ type: 'PlaceSample', data: { role: role ?? undefined, unitId, position, now } }) as SampleCommand;
const unplace = { type: 'UnplaceSample', data: { role: 'technician', reason: 'unplaced', now } } as SampleCommand;

test('PlaceSample: a sample without a place records SamplePlaced from nowhere', (t) => {
  spec(t)
    .given([registered])
    .when(place(box, 'A1'))
    .then([placedIn(box, 'A1')]);
});

test('PlaceSample: a move records the slot it left', (t) => {
  spec(t)
    .given([registered, placedIn(box, 'A1')])
    .when(place(otherBox, 'B2'))
    .then([placedIn(otherBox, 'B2', { unitId: box, position: 'A1' })]);
});

test('PlaceSample: the same place again records nothing (a retry completes)', (t) => {
  spec(t)
    .given([registered, placedIn(box, 'A1')])
    .when(place(box, 'A1'))
    .then([]);
});

test('PlaceSample: a viewer is refused, a non-member gets not_found, a discarded sample too', (t) => {
  spec(t)
    .given([registered])
    .when(place(box, 'A1', 'viewer'))
    .thenFails({ code: 'forbidden' });
  spec(t)
    .given([registered])
    .when(place(box, 'A1', null))
    .thenFails({ code: 'not_found' });
  const discarded: SampleEvent = { type: 'SampleDiscarded', data: { ...ids, reason: null, discardedAt: at } };
  spec(t).given([registered, discarded]).when(place(box, 'A1')).thenFails({ code: 'not_found' });
});

test('UnplaceSample: a placed sample records SampleUnplaced; one without a place records nothing', (t) => {
  spec(t)
    .given([registered, placedIn(box, 'C3')])
    .when(unplace)
    .then([
      { type: 'SampleUnplaced', data: { ...ids, unitId: box, position: 'C3', reason: 'unplaced', unplacedAt: at } },
    ]);
  spec(t).given([registered]).when(unplace).then([]);
});

test('a transfer to another lab leaves the sample without a place', (t) => {
  const transferred: SampleEvent = {
    type: 'SampleTransferred',
    data: { ...ids, labId: box, fromLabId: lab, fromStorage: null, reason: 'handed over', transferredAt: at },
  };
  spec(t)
    .given([registered, placedIn(box, 'A1'), transferred])
    .when(unplace)
    .then([]);
  t.is(sampleEventSchemas.SamplePlaced.safeParse(placedIn(box, 'a1').data).success, false);
});
