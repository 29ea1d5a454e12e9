// Pure storage rules: positions and reading order of a box's grid, and the tissue rule.
import test from 'ava';
import fc from 'fast-check';
import {
  freePositions,
  isPositionIn,
  parsePosition,
  positionName,
  positionsInReadingOrder,
} from '../../modules/storage/grid.ts';
import { isFreezerLocation, tissueRuleHolds } from '../../modules/storage/rules.ts';

const box96 = { rows: 8, columns: 12 };

test('a 96-slot box reads A1 … A12, B1 … H12', (t) => {
  const all = positionsInReadingOrder(box96);
  t.is(all.length, 96);
  t.deepEqual(all.slice(0, 13), ['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', 'A9', 'A10', 'A11', 'A12', 'B1']);
  t.is(all.at(-1), 'H12');
});

test('positions outside the grid or malformed are not positions', (t) => {
  for (const p of ['I1', 'A13', 'A0', 'a1', 'A01', 'AA1', 'A', '12', ' A1']) t.false(isPositionIn(p, box96), p);
  t.true(isPositionIn('Z30', { rows: 26, columns: 30 }));
});

test('free positions come in reading order, at most limit', (t) => {
  t.deepEqual(freePositions(box96, new Set(['A1', 'A3']), 3), ['A2', 'A4', 'A5']);
  t.is(freePositions(box96, new Set()).length, 96);
});

test('property: every grid position names a distinct slot and parses back to it', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 26 }), fc.integer({ min: 1, max: 30 }), (rows, columns) => {
      const grid = { rows, columns };
      const all = positionsInReadingOrder(grid);
      if (all.length !== rows * columns || new Set(all).size !== all.length) return false;
      return all.every((p, i) => {
        const slot = parsePosition(p, grid);
        return slot !== undefined && positionName(slot) === p && slot.row * columns + slot.column === i;
      });
    }),
  );
  t.pass();
});

test('tissue rule: placed, a freezer among the ancestors; unplaced, a freezer location', (t) => {
  t.true(tissueRuleHolds({ sampleType: 'tissue', storageLocation: null, placeAncestorKinds: ['rack', 'freezer'] }));
  t.false(tissueRuleHolds({ sampleType: 'tissue', storageLocation: 'freezer-1-rowA', placeAncestorKinds: ['shelf'] }));
  t.true(tissueRuleHolds({ sampleType: 'tissue', storageLocation: 'freezer-3-rowB' }));
  t.false(tissueRuleHolds({ sampleType: 'tissue', storageLocation: 'shelf-2' }));
  t.false(tissueRuleHolds({ sampleType: 'tissue', storageLocation: null }));
  t.true(tissueRuleHolds({ sampleType: 'blood', storageLocation: null, placeAncestorKinds: ['cabinet'] }));
  t.false(isFreezerLocation('freezer-x-rowB'));
});
