// Quantities: exact conversion within a dimension, parse/format, and what is left after taking.
import test from 'ava';
import fc from 'fast-check';
import {
  compare,
  convert,
  formatQuantity,
  fromAmount,
  parseQuantity,
  QuantityError,
  quantitySchema,
  subtract,
  times,
  toAmount,
  units,
  type Dimension,
  type Unit,
} from '../../modules/samples/physical/quantity.ts';

const unitsOf: Record<Dimension, Unit[]> = { volume: ['mL', 'uL'], mass: ['g', 'mg', 'ug'], count: ['cells'] };
const dimension = fc.constantFrom<Dimension>('volume', 'mass', 'count');
/** A positive base amount that every unit of the dimension can express exactly after conversion. */
const amountIn = (d: Dimension) => fc.integer({ min: 1, max: 1e12 }).map((base) => ({ dimension: d, base }));
const quantityPair = dimension.chain((d) =>
  fc.tuple(amountIn(d), amountIn(d), fc.constantFrom(...unitsOf[d]), fc.constantFrom(...unitsOf[d])),
);

test('the units are exactly those of API.md', (t) => {
  t.deepEqual([...units], ['mL', 'uL', 'g', 'mg', 'ug', 'cells']);
});

test('conversions within a dimension are exact: 0.1 mL + 0.2 mL is 300 uL', (t) => {
  t.deepEqual(convert({ value: 0.3, unit: 'mL' }, 'uL'), { value: 300, unit: 'uL' });
  t.deepEqual(convert({ value: 1, unit: 'g' }, 'ug'), { value: 1_000_000, unit: 'ug' });
  t.deepEqual(convert({ value: 1, unit: 'uL' }, 'mL'), { value: 0.001, unit: 'mL' });
  t.is(toAmount({ value: 0.1, unit: 'mL' }).base + toAmount({ value: 0.2, unit: 'mL' }).base, 300_000);
});

test('converting there and back gives the same quantity (any units of one dimension)', (t) => {
  fc.assert(
    fc.property(quantityPair, ([amount, , from, to]) => {
      const q = fromAmount(amount, from);
      return compare(convert(convert(q, to), from), q) === 0 && toAmount(convert(q, to)).base === amount.base;
    }),
  );
  t.pass();
});

test('no conversion across dimensions', (t) => {
  t.throws(() => convert({ value: 1, unit: 'mL' }, 'mg'), { instanceOf: QuantityError });
  t.throws(() => convert({ value: 5, unit: 'cells' }, 'uL'), { instanceOf: QuantityError });
  t.deepEqual(subtract({ value: 1, unit: 'mL' }, { value: 1, unit: 'mg' }), { ok: false, reason: 'dimension' });
});

test('a value finer than its unit allows, or not positive, is refused rather than rounded', (t) => {
  t.throws(() => toAmount({ value: 0.0001, unit: 'uL' }), { message: /finer/ });
  t.throws(() => toAmount({ value: 1.5, unit: 'cells' }), { message: /finer/ });
  t.throws(() => toAmount({ value: 0, unit: 'mL' }), { message: /greater than 0/ });
  t.throws(() => toAmount({ value: 1e300, unit: 'g' }), { message: /too large/ });
  t.is(toAmount({ value: 1e-6, unit: 'mL' }).base, 1);
});

test('subtracting: the rest in the unit of the remaining, null at exactly zero, refused when short', (t) => {
  t.deepEqual(subtract({ value: 1, unit: 'mL' }, { value: 250, unit: 'uL' }), {
    ok: true,
    remaining: { value: 0.75, unit: 'mL' },
  });
  t.deepEqual(subtract({ value: 0.3, unit: 'mL' }, { value: 300, unit: 'uL' }), { ok: true, remaining: null });
  t.deepEqual(subtract({ value: 1, unit: 'mL' }, { value: 1001, unit: 'uL' }), { ok: false, reason: 'insufficient' });
});

test('taking then what was taken adds back up to the start (property)', (t) => {
  fc.assert(
    fc.property(quantityPair, ([a, b, unitA, unitB]) => {
      const [big, small] = a.base >= b.base ? [a, b] : [b, a];
      const start = fromAmount(big, unitA);
      const taken = fromAmount(small, unitB);
      const result = subtract(start, taken);
      if (!result.ok) return false;
      const left = result.remaining === null ? 0 : toAmount(result.remaining).base;
      return left + small.base === big.base && (result.remaining === null) === (big.base === small.base);
    }),
  );
  t.pass();
});

test('times: count aliquots of an amount, exactly', (t) => {
  t.deepEqual(times({ value: 0.1, unit: 'mL' }, 3), { value: 0.3, unit: 'mL' });
  t.throws(() => times({ value: 1, unit: 'mL' }, 0), { instanceOf: QuantityError });
});

test('parse and format: round trip, with µ and case variants', (t) => {
  t.deepEqual(parseQuantity('1.5 mL'), { value: 1.5, unit: 'mL' });
  t.deepEqual(parseQuantity('250ul'), { value: 250, unit: 'uL' });
  t.deepEqual(parseQuantity('20 µg'), { value: 20, unit: 'ug' });
  t.deepEqual(parseQuantity('1e6 cells'), { value: 1_000_000, unit: 'cells' });
  t.is(formatQuantity({ value: 0.000001, unit: 'mL' }), '0.000001 mL');
  t.is(formatQuantity({ value: 5e-7, unit: 'g' }), '0.0000005 g');
  for (const bad of ['', 'mL', '1.5', '-1 mL', '0 mL', '1 L', '1.5.2 mL']) {
    t.throws(() => parseQuantity(bad), { instanceOf: QuantityError }, bad);
  }
  fc.assert(
    fc.property(quantityPair, ([amount, , unit]) => {
      const q = fromAmount(amount, unit);
      return compare(parseQuantity(formatQuantity(q)), q) === 0 && parseQuantity(formatQuantity(q)).unit === unit;
    }),
  );
});

test('the schema takes { value > 0, unit } only', (t) => {
  t.true(quantitySchema.safeParse({ value: 2, unit: 'mL' }).success);
  t.false(quantitySchema.safeParse({ value: 0, unit: 'mL' }).success);
  t.false(quantitySchema.safeParse({ value: 2, unit: 'L' }).success);
  t.false(quantitySchema.safeParse({ value: 2, unit: 'mL', extra: 1 }).success);
});
