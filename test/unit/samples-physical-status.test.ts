// The status graph with its final states, derivable types, the collection-age rule
// (SAMPLES_MAX_AGE_YEARS) and the lineage read's shaping.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { buildLineage } from '../../modules/samples/physical/lineage.ts';
import {
  checkCollectionAge,
  checkPhysicalStatusMove,
  finalStatuses,
  oldestCollectionDateFor,
  parseMaxAgeYears,
  physicalStatuses,
  statusGraphMermaid,
} from '../../modules/samples/physical/status.ts';
import { sampleStatuses } from '../../modules/samples/events.ts';
import { checkStatusMove } from '../../modules/samples/rules.ts';

test('the original moves keep their meaning', (t) => {
  for (const from of sampleStatuses) {
    for (const to of sampleStatuses) {
      if (from === to) continue;
      t.is(checkPhysicalStatusMove(from, to, 'why').ok, checkStatusMove(from, to, 'why').ok, `${from}->${to}`);
    }
  }
  t.false(checkPhysicalStatusMove('archived', 'processing', null).ok);
});

test('consumed and disposed are final: nothing moves out of them', (t) => {
  for (const from of finalStatuses) {
    for (const to of physicalStatuses) t.false(checkPhysicalStatusMove(from, to, 'why').ok, `${from}->${to}`);
  }
});

test('every live status can end as consumed, or disposed with a reason', (t) => {
  for (const from of ['collected', 'processing', 'archived'] as const) {
    t.true(checkPhysicalStatusMove(from, 'consumed', null).ok);
    t.true(checkPhysicalStatusMove(from, 'disposed', 'broken').ok);
    t.like(checkPhysicalStatusMove(from, 'disposed', ' '), {
      ok: false,
      message: `moving from ${from} to disposed needs a reason`,
    });
  }
});

test('docs/samples.md shows the status graph the code enforces', (t) => {
  t.true(readFileSync('docs/samples.md', 'utf8').includes(statusGraphMermaid()));
});

test('SAMPLES_MAX_AGE_YEARS: default 10, 0 for none, anything else refused', (t) => {
  t.is(parseMaxAgeYears(undefined), 10);
  t.is(parseMaxAgeYears(''), 10);
  t.is(parseMaxAgeYears('0'), 0);
  t.is(parseMaxAgeYears(' 50 '), 50);
  for (const bad of ['-1', '1.5', 'ten', '1000']) t.throws(() => parseMaxAgeYears(bad), undefined, bad);
});

test('collection age: the limit is the same calendar day years back, 0 lifts it, the future never', (t) => {
  t.is(oldestCollectionDateFor('2026-11-30', 10), '2016-11-30');
  t.is(checkCollectionAge('2016-11-30', '2026-11-30', 10), null);
  t.like(checkCollectionAge('2016-11-29', '2026-11-30', 10), {
    path: 'collectionDate',
    message: 'must not be older than 10 years',
  });
  t.is(checkCollectionAge('1950-01-01', '2026-11-30', 0), null);
  t.is(checkCollectionAge('1950-01-01', '2026-11-30', 80), null);
  t.like(checkCollectionAge('2026-12-01', '2026-11-30', 0), { message: 'must not be in the future' });
});

const row = (sampleId: string, parentId: string | null, createdAt = '2026-01-01T00:00:00Z') => ({
  sampleId,
  parentId,
  createdAt,
});

test('lineage: ancestors root first, descendants as a tree in creation order', (t) => {
  const family = [
    row('root', null),
    row('mid', 'root'),
    row('me', 'mid'),
    row('b', 'me', '2026-01-03T00:00:00Z'),
    row('a', 'me', '2026-01-02T00:00:00Z'),
    row('a1', 'a'),
    row('cousin', 'root'),
  ];
  const lineage = buildLineage('me', family);
  t.deepEqual(
    lineage.ancestors.map((s) => s.sampleId),
    ['root', 'mid'],
  );
  t.deepEqual(
    lineage.descendants.map((n) => [n.sample.sampleId, n.children.map((c) => c.sample.sampleId)]),
    [
      ['a', ['a1']],
      ['b', []],
    ],
  );
});

test('lineage stops at a parent the caller cannot see and survives a cycle', (t) => {
  t.deepEqual(buildLineage('me', [row('me', 'hidden')]).ancestors, []);
  const cycle = buildLineage('x', [row('x', 'y'), row('y', 'x')]);
  t.deepEqual(
    cycle.ancestors.map((s) => s.sampleId),
    ['y'],
  );
  t.deepEqual(
    cycle.descendants.map((n) => n.sample.sampleId),
    ['y'],
  );
});
