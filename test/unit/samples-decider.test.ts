// given/when/then specs of the sample decider: every rule and every status move (API.md, Samples).
import test from 'ava';
import type { LabRole, SampleChanges, SampleCommand } from '../../modules/samples/decide.ts';
import { sampleDecider } from '../../modules/samples/decide.ts';
import type { SampleEvent } from '../../modules/samples/events.ts';
import { sampleEventSchemas, sampleStatuses } from '../../modules/samples/events.ts';
import { checkStatusMove, oldestCollectionDate } from '../../modules/samples/rules.ts';
import { at, builderOf, deciderSpec, fixedIds, now } from '../support/decider-spec.ts';
import { bloodFromP001, primaryBlood } from '../support/sample-fixtures.ts';

const spec = deciderSpec(sampleDecider);
const [owner, otherLab, sampleId] = fixedIds(3);

const register = builderOf<SampleCommand>()('RegisterSample', {
  sampleId,
  ownerId: owner,
  labId: owner,
  role: 'manager',
  ...bloodFromP001,
  now,
});
const registered = builderOf<SampleEvent>()('SampleRegistered', {
  sampleId,
  ownerId: owner,
  labId: owner,
  ...primaryBlood,
  quantity: null,
  storageLocation: null,
  notes: null,
  registeredAt: at,
});
const update = (
  changes: SampleChanges,
  extra: { role?: LabRole | null; reason?: string | null; expectedVersion?: number } = {},
): SampleCommand => ({
  type: 'UpdateSample',
  data: {
    role: extra.role === null ? undefined : (extra.role ?? 'technician'),
    changes,
    reason: extra.reason ?? null,
    expectedVersion: extra.expectedVersion,
    now,
  },
});
const statusChanged = (from: string, to: string, reason: string | null = null): SampleEvent =>
  ({
    type: 'SampleStatusChanged',
    data: { sampleId, ownerId: owner, labId: owner, from, to, reason, changedAt: at },
  }) as SampleEvent;

test('register: a valid sample is registered as collected by default', (t) => {
  spec(t).given([]).when(register()).then([registered()]);
});

test('register: an explicit status, storage and notes are kept', (t) => {
  spec(t)
    .given([])
    .when(register({ status: 'processing', storageLocation: 'shelf-4', notes: 'hemolysed' }))
    .then([registered({ status: 'processing', storageLocation: 'shelf-4', notes: 'hemolysed' })]);
});

test('register: every broken rule is listed', (t) => {
  spec(t)
    .given([])
    .when(register({ subjectId: 'p1', collectionDate: '2026-13-40', storageLocation: 'fridge' }))
    .thenInvalid(['collectionDate', 'storageLocation', 'subjectId']);
});

for (const subjectId of ['P01', 'p001', 'PP001', 'P001a', '1001', '']) {
  test(`register: subject id ${JSON.stringify(subjectId)} is refused`, (t) => {
    spec(t)
      .given([])
      .when(register({ subjectId }))
      .thenFails({
        code: 'validation_failed',
        errors: [{ path: 'subjectId', message: 'must be one capital letter and at least 3 digits, e.g. P001' }],
      });
  });
}
for (const subjectId of ['P001', 'S123', 'Z0000042']) {
  test(`register: subject id ${subjectId} is accepted`, (t) => {
    t.true(spec(t).given([]).when(register({ subjectId })).outcome().ok);
  });
}

test('register: the oldest collection date allowed is the same day 10 years back', (t) => {
  t.is(oldestCollectionDate('2026-11-22'), '2016-11-22');
});

type RegisterData = Extract<SampleCommand, { type: 'RegisterSample' }>['data'];
/** A collection date (and the age limit), and the rule it breaks, or null when it is accepted. */
const collectionDates: [string, Partial<RegisterData>, string | null][] = [
  ['today is accepted', { collectionDate: '2026-11-22' }, null],
  ['tomorrow is in the future', { collectionDate: '2026-11-23' }, 'must not be in the future'],
  ['exactly 10 years old is accepted', { collectionDate: '2016-11-22' }, null],
  ['a day more than 10 years is too old', { collectionDate: '2016-11-21' }, 'must not be older than 10 years'],
  ['SAMPLES_MAX_AGE_YEARS=30 accepts 30 years', { collectionDate: '1996-11-22', maxAgeYears: 30 }, null],
  [
    'SAMPLES_MAX_AGE_YEARS=30 refuses a day more',
    { collectionDate: '1996-11-21', maxAgeYears: 30 },
    'must not be older than 30 years',
  ],
  [
    'SAMPLES_MAX_AGE_YEARS=0 lifts the limit (legacy collections)',
    { collectionDate: '1950-01-01', maxAgeYears: 0 },
    null,
  ],
  ...['2026-02-30', '2026-1-05', '05/11/2026', ''].map((collectionDate): [string, Partial<RegisterData>, string] => [
    `${JSON.stringify(collectionDate)} is not a date`,
    { collectionDate },
    'must be a date YYYY-MM-DD',
  ]),
];

for (const [title, overrides, message] of collectionDates) {
  test(`register: collection date, ${title}`, (t) => {
    const when = spec(t).given([]).when(register(overrides));
    if (message === null) t.true(when.outcome().ok);
    else when.thenFails({ code: 'validation_failed', errors: [{ path: 'collectionDate', message }] });
  });
}

test('register: storage locations follow freezer-<n>-row<X> or shelf-<n>', (t) => {
  for (const storageLocation of ['freezer-3-rowB', 'freezer-12-rowZ', 'shelf-1', 'shelf-204'])
    t.true(spec(t).given([]).when(register({ storageLocation })).outcome().ok, storageLocation);
  for (const storageLocation of [
    'freezer-3',
    'freezer-x-rowB',
    'freezer-3-rowb',
    'shelf-',
    'Shelf-1',
    'shelf-1 ',
    'rack-2',
  ]) {
    spec(t).given([]).when(register({ storageLocation })).thenFails({ code: 'validation_failed' });
  }
});

test('register: tissue must be in a freezer (a shelf or nothing is refused)', (t) => {
  t.true(
    spec(t)
      .given([])
      .when(register({ sampleType: 'tissue', storageLocation: 'freezer-1-rowA' }))
      .outcome().ok,
  );
  for (const storageLocation of [null, 'shelf-2']) {
    spec(t)
      .given([])
      .when(register({ sampleType: 'tissue', storageLocation }))
      .thenFails({
        code: 'validation_failed',
        errors: [{ path: 'storageLocation', message: 'tissue must be stored in a freezer (freezer-<n>-row<X>)' }],
      });
  }
});

test('status moves: exactly the four original ones, and into the final ones', (t) => {
  const allowed = new Set([
    'collected->processing',
    'processing->archived',
    'collected->archived',
    'archived->processing',
    ...['collected', 'processing', 'archived'].flatMap((from) => [`${from}->consumed`, `${from}->disposed`]),
  ]);
  for (const from of sampleStatuses) {
    for (const to of sampleStatuses) {
      if (from === to) continue;
      const check = checkStatusMove(from, to, 'a reason');
      t.is(check.ok, allowed.has(`${from}->${to}`), `${from} -> ${to}`);
    }
  }
});

test('status: collected -> processing appends SampleStatusChanged with the reason', (t) => {
  spec(t)
    .given([registered()])
    .when(update({ status: 'processing' }, { reason: 'batch 7' }))
    .then([statusChanged('collected', 'processing', 'batch 7')]);
});

test('status: processing -> collected is an invalid transition', (t) => {
  spec(t)
    .given([registered(), statusChanged('collected', 'processing')])
    .when(update({ status: 'collected' }))
    .thenFails({ code: 'invalid_transition' });
});

test('status: archived -> processing needs a reason (re-analysis)', (t) => {
  const given = [registered(), statusChanged('collected', 'archived')];
  spec(t)
    .given(given)
    .when(update({ status: 'processing' }))
    .thenFails({
      code: 'invalid_transition',
      message: 'moving from archived to processing (re-analysis) needs a reason',
    });
  spec(t)
    .given(given)
    .when(update({ status: 'processing' }, { reason: '  ' }))
    .thenFails({ code: 'invalid_transition' });
  spec(t)
    .given(given)
    .when(update({ status: 'processing' }, { reason: 'PI asked for re-analysis' }))
    .then([statusChanged('archived', 'processing', 'PI asked for re-analysis')]);
});

test('update: several kinds of change give their events together, in order', (t) => {
  spec(t)
    .given([registered()])
    .when(update({ notes: 'spun', subjectId: 'P002', storageLocation: 'freezer-2-rowC', status: 'processing' }))
    .then([
      {
        type: 'SampleDetailsCorrected',
        data: {
          sampleId,
          ownerId: owner,
          labId: owner,
          changes: { subjectId: { from: 'P001', to: 'P002' }, notes: { from: null, to: 'spun' } },
          correctedAt: at,
        },
      },
      {
        type: 'SampleMoved',
        data: { sampleId, ownerId: owner, labId: owner, from: null, to: 'freezer-2-rowC', movedAt: at },
      },
      statusChanged('collected', 'processing'),
    ]);
});

test('update: the same values change nothing and append nothing', (t) => {
  spec(t)
    .given([registered()])
    .when(update({ sampleType: 'blood', subjectId: 'P001' }))
    .then([]);
});

test('update: rules apply to the resulting sample (tissue needs its freezer)', (t) => {
  spec(t)
    .given([registered()])
    .when(update({ sampleType: 'tissue' }))
    .thenFails({
      code: 'validation_failed',
      errors: [{ path: 'storageLocation', message: 'tissue must be stored in a freezer (freezer-<n>-row<X>)' }],
    });
  spec(t)
    .given([registered({ sampleType: 'tissue', storageLocation: 'freezer-1-rowA' })])
    .when(update({ storageLocation: null }))
    .thenFails({ code: 'validation_failed' });
});

test('update: a stale expected version is version_mismatch and appends nothing', (t) => {
  spec(t)
    .given([registered(), statusChanged('collected', 'processing')])
    .when(update({ notes: 'x' }, { expectedVersion: 1 }))
    .thenFails({ code: 'version_mismatch', currentVersion: 2 });
  t.true(
    spec(t)
      .given([registered(), statusChanged('collected', 'processing')])
      .when(update({ notes: 'x' }, { expectedVersion: 2 }))
      .outcome().ok,
  );
});

test('a sample of a lab the caller is not in, an unknown one and a discarded one are all not_found', (t) => {
  spec(t)
    .given([registered()])
    .when(update({ notes: 'x' }, { role: null }))
    .thenFails({ code: 'not_found' });
  spec(t)
    .given([])
    .when(update({ notes: 'x' }))
    .thenFails({ code: 'not_found' });
  const discarded: SampleEvent = {
    type: 'SampleDiscarded',
    data: { sampleId, ownerId: owner, labId: owner, reason: null, discardedAt: at },
  };
  spec(t)
    .given([registered(), discarded])
    .when(update({ notes: 'x' }))
    .thenFails({ code: 'not_found' });
  spec(t)
    .given([registered(), discarded])
    .when({ type: 'DiscardSample', data: { role: 'technician', reason: null, now } })
    .thenFails({ code: 'not_found' });
});

test('discard: a technician of the lab discards with a reason', (t) => {
  spec(t)
    .given([registered()])
    .when({ type: 'DiscardSample', data: { role: 'technician', reason: 'tube broke', now } })
    .then([
      {
        type: 'SampleDiscarded',
        data: { sampleId, ownerId: owner, labId: owner, reason: 'tube broke', discardedAt: at },
      },
    ]);
});

test('a viewer of the lab may not register, change or discard: forbidden', (t) => {
  spec(t)
    .given([])
    .when(register({ role: 'viewer' }))
    .thenFails({ code: 'forbidden' });
  spec(t)
    .given([])
    .when(register({ role: undefined }))
    .thenFails({ code: 'not_found' });
  spec(t)
    .given([registered()])
    .when(update({ notes: 'x' }, { role: 'viewer' }))
    .thenFails({ code: 'forbidden' });
  spec(t)
    .given([registered()])
    .when({ type: 'DiscardSample', data: { role: 'viewer', reason: null, now } })
    .thenFails({ code: 'forbidden' });
});

const transfer = (extra: Partial<Extract<SampleCommand, { type: 'TransferSample' }>['data']> = {}): SampleCommand => ({
  type: 'TransferSample',
  data: { role: 'technician', toLabId: otherLab, toRole: 'technician', reason: 'shipped for analysis', now, ...extra },
});

test('transfer: to another lab with a reason, the storage place cleared', (t) => {
  spec(t)
    .given([registered({ storageLocation: 'shelf-2' })])
    .when(transfer())
    .then([
      {
        type: 'SampleTransferred',
        data: {
          sampleId,
          ownerId: owner,
          labId: otherLab,
          fromLabId: owner,
          fromStorage: 'shelf-2',
          reason: 'shipped for analysis',
          transferredAt: at,
        },
      },
    ]);
});

const refusedTransfers: [string, Partial<Extract<SampleCommand, { type: 'TransferSample' }>['data']>, string][] = [
  ['without a reason', { reason: null }, 'validation_failed'],
  ['to its own lab', { toLabId: owner }, 'validation_failed'],
  ['by a viewer of the lab it is in', { role: 'viewer' }, 'forbidden'],
  ['to a lab where the caller is a viewer', { toRole: 'viewer' }, 'forbidden'],
  ['to a lab the caller is not in', { toRole: undefined }, 'not_found'],
];
for (const [title, overrides, code] of refusedTransfers) {
  test(`transfer: refused ${title} (${code})`, (t) => {
    spec(t).given([registered()]).when(transfer(overrides)).thenFails({ code });
  });
}

test('every event a decision produces matches its schema', (t) => {
  const outcome = spec(t)
    .given([registered()])
    .when(update({ notes: 'n', sampleType: 'saliva', storageLocation: 'shelf-1', status: 'archived' }))
    .outcome();
  t.true(outcome.ok);
  for (const e of outcome.events as SampleEvent[]) t.notThrows(() => sampleEventSchemas[e.type].parse(e.data));
});
