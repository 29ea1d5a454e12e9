// given/when/then specs of the storage unit decider (API.md, Storage): nesting, names,
// temperature, moves, removal, and the box's slots (one sample per slot), plus properties.
import test from 'ava';
import fc from 'fast-check';
import { unitDecider, type ParentFacts, type UnitCommand } from '../../modules/storage/decide.ts';
import { storageEventSchemas, unitKinds, type StorageEvent, type UnitKind } from '../../modules/storage/events.ts';
import { nestingProblem } from '../../modules/storage/rules.ts';
import { at, builderOf, deciderSpec, fixedIds, now } from '../support/decider-spec.ts';

const spec = deciderSpec(unitDecider);
const [lab, otherLab, boxId, rackId, freezerId, sampleA, sampleB] = fixedIds(7);

const parent = (kind: UnitKind, overrides: Partial<ParentFacts> = {}): ParentFacts => ({
  unitId: kind === 'freezer' ? freezerId : rackId,
  labId: lab,
  kind,
  ancestorIds: kind === 'freezer' ? [] : [freezerId],
  ...overrides,
});
const box7 = { unitId: boxId, labId: lab, name: 'Box 7', kind: 'box', grid: { rows: 8, columns: 12 } } as const;
const create = builderOf<UnitCommand>()('CreateUnit', { ...box7, temperatureC: null, parent: parent('rack'), now });
const created = builderOf<StorageEvent>()('StorageUnitCreated', {
  ...box7,
  parentId: rackId,
  temperatureC: null,
  createdAt: at,
});
const claim = (position: string, sampleId = sampleA, more: Partial<{ sampleType: string; labId: string }> = {}) =>
  ({
    type: 'ClaimSlot',
    data: {
      position,
      sampleId,
      sampleLabId: more.labId ?? lab,
      sampleType: more.sampleType ?? 'blood',
      ancestorKinds: ['rack', 'freezer'],
      now,
    },
  }) satisfies UnitCommand;
const claimed = (position: string, sampleId = sampleA): StorageEvent => ({
  type: 'BoxSlotClaimed',
  data: { unitId: boxId, labId: lab, position, sampleId, claimedAt: at },
});
const released = (position: string, reason: 'moved' | 'final', sampleId = sampleA): StorageEvent => ({
  type: 'BoxSlotReleased',
  data: { unitId: boxId, labId: lab, position, sampleId, reason, releasedAt: at },
});

test('create: a box in a rack is created with its grid; the name is trimmed', (t) => {
  spec(t)
    .given([])
    .when(create({ name: '  Box 7 ' }))
    .then([created()]);
});

test('create: a freezer stands at the top level, with a temperature', (t) => {
  spec(t)
    .given([])
    .when(
      create({ unitId: freezerId, name: 'Freezer A', kind: 'freezer', grid: null, temperatureC: -80, parent: null }),
    )
    .then([
      created({ unitId: freezerId, name: 'Freezer A', kind: 'freezer', grid: null, temperatureC: -80, parentId: null }),
    ]);
});

test('create: a freezer inside a rack is refused (invalid_parent)', (t) => {
  spec(t)
    .given([])
    .when(create({ kind: 'freezer', grid: null }))
    .thenFails({ code: 'invalid_parent' });
});

test('create: a rack at the top level is refused; a box in a box too', (t) => {
  spec(t)
    .given([])
    .when(create({ kind: 'rack', grid: null, parent: null }))
    .thenFails({ code: 'invalid_parent' });
  spec(t)
    .given([])
    .when(create({ parent: parent('box') }))
    .thenFails({ code: 'invalid_parent' });
});

test('create: a parent in another lab (or none) is refused without saying which', (t) => {
  spec(t)
    .given([])
    .when(create({ parent: parent('rack', { labId: otherLab }) }))
    .thenFails({ code: 'invalid_parent', message: 'no such parent unit in this lab' });
  spec(t)
    .given([])
    .when(create({ parent: undefined }))
    .thenFails({ code: 'invalid_parent', message: 'no such parent unit in this lab' });
});

test('create: a grid on a non-box, no grid on a box, a blank name and an impossible temperature: one 422 lists all', (t) => {
  const outcome = spec(t)
    .given([])
    .when(create({ kind: 'rack', name: '  ', grid: { rows: 2, columns: 2 }, temperatureC: -300 }))
    .outcome();
  t.false(outcome.ok);
  t.like(outcome, { error: { code: 'validation_failed' } });
  const paths = (outcome as { error: { errors: { path: string }[] } }).error.errors.map((e) => e.path);
  t.deepEqual(paths, ['name', 'grid', 'temperatureC']);
  spec(t)
    .given([])
    .when(create({ grid: null }))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'grid' }] });
  spec(t)
    .given([])
    .when(create({ grid: { rows: 27, columns: 12 } }))
    .thenFails({ code: 'validation_failed', errors: [{ path: 'grid' }] });
});

test('change: rename and temperature are two events; an unchanged value records nothing', (t) => {
  const change = (data: { name?: string; temperatureC?: number | null }): UnitCommand => ({
    type: 'ChangeUnit',
    data: { ...data, now },
  });
  spec(t)
    .given([created()])
    .when(change({ name: 'Box 8', temperatureC: -20 }))
    .then([
      { type: 'StorageUnitRenamed', data: { unitId: boxId, labId: lab, from: 'Box 7', to: 'Box 8', renamedAt: at } },
      { type: 'StorageUnitTemperatureSet', data: { unitId: boxId, labId: lab, from: null, to: -20, setAt: at } },
    ]);
  spec(t)
    .given([created()])
    .when(change({ name: 'Box 7' }))
    .then([]);
  spec(t)
    .given([created()])
    .when(change({ name: 'a / b' }))
    .thenFails({ code: 'validation_failed' });
});

test('move: a box moves to another rack; to its own parent is a no-op', (t) => {
  const otherRack = '88888888-8888-4888-8888-888888888888';
  spec(t)
    .given([created()])
    .when({ type: 'MoveUnit', data: { parent: parent('rack', { unitId: otherRack }), now } })
    .then([
      {
        type: 'StorageUnitMoved',
        data: { unitId: boxId, labId: lab, fromParentId: rackId, toParentId: otherRack, movedAt: at },
      },
    ]);
  spec(t)
    .given([created()])
    .when({ type: 'MoveUnit', data: { parent: parent('rack'), now } })
    .then([]);
});

test('move: into itself or below itself is refused', (t) => {
  const rack = created({ unitId: rackId, kind: 'rack', name: 'Rack 2', grid: null, parentId: freezerId });
  spec(t)
    .given([rack])
    .when({ type: 'MoveUnit', data: { parent: parent('rack', { unitId: rackId }), now } })
    .thenFails({ code: 'invalid_parent', message: 'a unit cannot move into itself or below itself' });
  // A box below the rack cannot hold a rack anyway, but a cycle is refused before nesting.
  spec(t)
    .given([rack])
    .when({ type: 'MoveUnit', data: { parent: parent('box', { unitId: boxId, ancestorIds: [rackId] }), now } })
    .thenFails({ code: 'invalid_parent', message: 'a unit cannot move into itself or below itself' });
});

test('move: a top-level unit cannot move under another', (t) => {
  spec(t)
    .given([created({ unitId: freezerId, kind: 'freezer', grid: null, parentId: null })])
    .when({ type: 'MoveUnit', data: { parent: parent('cabinet', { unitId: rackId }), now } })
    .thenFails({ code: 'invalid_parent' });
});

test('remove: an empty unit is removed; one with children or samples is not_empty; a removed one is not_found', (t) => {
  const remove = (hasChildren: boolean): UnitCommand => ({ type: 'RemoveUnit', data: { hasChildren, now } });
  spec(t)
    .given([created()])
    .when(remove(false))
    .then([{ type: 'StorageUnitRemoved', data: { unitId: boxId, labId: lab, removedAt: at } }]);
  spec(t).given([created()]).when(remove(true)).thenFails({ code: 'not_empty', status: 422 });
  spec(t)
    .given([created(), claimed('A1')])
    .when(remove(false))
    .thenFails({ code: 'not_empty' });
  spec(t)
    .given([created(), { type: 'StorageUnitRemoved', data: { unitId: boxId, labId: lab, removedAt: at } }])
    .when(remove(false))
    .thenFails({ code: 'not_found' });
});

test('claim: a free slot is claimed', (t) => {
  spec(t)
    .given([created()])
    .when(claim('H12'))
    .then([claimed('H12')]);
});

test("claim: another sample's slot is 409 position_occupied; the same sample again changes nothing", (t) => {
  spec(t)
    .given([created(), claimed('A1')])
    .when(claim('A1', sampleB))
    .thenFails({ code: 'position_occupied', status: 409 });
  spec(t)
    .given([created(), claimed('A1')])
    .when(claim('A1'))
    .then([]);
});

test('claim: a position outside the grid or malformed is 422 invalid_position', (t) => {
  for (const position of ['I1', 'A13', 'A0', 'a1', '1A', 'A01', ''])
    spec(t).given([created()]).when(claim(position)).thenFails({ code: 'invalid_position', status: 422 });
});

test('claim: moving within the box frees the old slot in the same step', (t) => {
  spec(t)
    .given([created(), claimed('A1')])
    .when(claim('B2'))
    .then([released('A1', 'moved'), claimed('B2')]);
});

test('claim: a box of another lab, or a unit that is not a box, is refused', (t) => {
  spec(t)
    .given([created()])
    .when(claim('A1', sampleA, { labId: otherLab }))
    .thenFails({ code: 'unit_of_another_lab', status: 422 });
  spec(t)
    .given([created({ kind: 'rack', grid: null })])
    .when(claim('A1'))
    .thenFails({ code: 'not_a_box' });
});

test('claim: tissue goes only into a box below a freezer', (t) => {
  spec(t)
    .given([created()])
    .when(claim('A1', sampleA, { sampleType: 'tissue' }))
    .then([claimed('A1')]);
  spec(t)
    .given([created()])
    .when({
      ...claim('A1', sampleA, { sampleType: 'tissue' }),
      data: { ...claim('A1').data, sampleType: 'tissue', ancestorKinds: ['shelf', 'cabinet'] },
    })
    .thenFails({ code: 'tissue_outside_freezer', status: 422 });
});

test('release: frees the sample’s slot; a sample without a slot here changes nothing', (t) => {
  const release: UnitCommand = { type: 'ReleaseSlot', data: { sampleId: sampleA, reason: 'final', now } };
  spec(t)
    .given([created(), claimed('C3')])
    .when(release)
    .then([released('C3', 'final')]);
  spec(t).given([created()]).when(release).then([]);
});

test('every event the decider produces matches its schema', (t) => {
  const events = [created(), claimed('A1'), released('A1', 'moved')];
  for (const e of events) t.notThrows(() => storageEventSchemas[e.type].parse(e.data));
});

// Properties.

test('property: a unit is created under a parent exactly when the nesting rules allow it', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...unitKinds), fc.option(fc.constantFrom(...unitKinds)), (kind, parentKind) => {
      const outcome = spec(t)
        .given([])
        .when(
          create({
            kind,
            grid: kind === 'box' ? { rows: 8, columns: 12 } : null,
            parent: parentKind === null ? null : parent(parentKind),
          }),
        )
        .outcome();
      return outcome.ok === (nestingProblem(kind, parentKind) === undefined);
    }),
  );
  t.pass();
});

test('property: whatever claims and releases arrive, a slot holds at most one sample and a sample one slot', (t) => {
  const samples = [sampleA, sampleB, '99999999-9999-4999-8999-999999999999'];
  const positions = ['A1', 'A2', 'B1', 'B2', 'Z9'];
  const command = fc.oneof(
    fc.record({
      kind: fc.constant('claim' as const),
      position: fc.constantFrom(...positions),
      sample: fc.constantFrom(...samples),
    }),
    fc.record({ kind: fc.constant('release' as const), sample: fc.constantFrom(...samples) }),
  );
  fc.assert(
    fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
      let state = [created()].reduce(unitDecider.evolve, unitDecider.initialState());
      for (const c of commands) {
        const decision = unitDecider.decide(
          c.kind === 'claim'
            ? claim(c.position, c.sample)
            : { type: 'ReleaseSlot', data: { sampleId: c.sample, reason: 'unplaced', now } },
          state,
        );
        state = decision.events.reduce(unitDecider.evolve, state);
        if (state.status === 'none') return false;
        const holders = Object.values(state.slots);
        if (new Set(holders).size !== holders.length) return false;
        if (Object.keys(state.slots).some((p) => !['A1', 'A2', 'B1', 'B2'].includes(p))) return false;
      }
      return true;
    }),
  );
  t.pass();
});
