// Barcodes: the format API.md gives, the service's own format with its ISO 7064 MOD 37,36 check
// character, and case-insensitive identity.
import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import {
  generateBarcode,
  hasValidCheckCharacter,
  isAssignedBarcode,
  isValidBarcode,
  mod3736CheckCharacter,
  normaliseBarcode,
} from '../../modules/samples/physical/barcode.ts';

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const alnumText = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...ALNUM), minLength: min, maxLength: max });
const bytes = fc.uint8Array({ minLength: 64, maxLength: 64 });
const fromBytes = (pool: Uint8Array) => {
  let offset = 0;
  return (size: number) => {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = pool[offset++ % pool.length]!;
    return out;
  };
};

test('API.md format: 1–64 of [A-Za-z0-9._-]', (t) => {
  for (const ok of ['A', 'TUBE-001', 'lab.7_x', 'x'.repeat(64)]) t.true(isValidBarcode(ok), ok);
  for (const bad of ['', 'x'.repeat(65), 'TUBE 001', 'TÜBE', 'a/b', 'a*b']) t.false(isValidBarcode(bad), bad);
});

test('a generated barcode is valid, in the service format, and verifies', (t) => {
  fc.assert(
    fc.property(bytes, (pool) => {
      const barcode = generateBarcode(fromBytes(pool));
      return /^VL-[0-9A-Z]{10}$/.test(barcode) && isValidBarcode(barcode) && isAssignedBarcode(barcode);
    }),
  );
  t.true(isAssignedBarcode(generateBarcode(randomBytes)));
});

test('generation is repeatable from the same bytes and skips biased bytes', (t) => {
  const pool = new Uint8Array([255, 252, 0, 1, 2, 3, 4, 5, 6, 7, 8, 35]);
  const barcode = generateBarcode(fromBytes(pool));
  t.is(barcode, generateBarcode(fromBytes(pool)));
  t.is(barcode.slice(0, 12), 'VL-012345678');
});

test('MOD 37,36: every single-character substitution is detected', (t) => {
  fc.assert(
    fc.property(alnumText(1, 20), fc.nat(), fc.constantFrom(...ALNUM), (body, at, replacement) => {
      const full = body + mod3736CheckCharacter(body);
      const index = at % full.length;
      fc.pre(full[index] !== replacement);
      const changed = full.slice(0, index) + replacement + full.slice(index + 1);
      return !hasValidCheckCharacter(changed);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('MOD 37,36: almost every transposition of two different neighbours is detected', (t) => {
  // A hybrid system misses a small share of adjacent transpositions (the pure MOD 37-2 catches
  // them all, but its check character may be `*`, which API.md's barcode format excludes).
  const cases = fc.sample(fc.tuple(alnumText(2, 20), fc.nat()), { numRuns: 20_000, seed: 20 });
  let tried = 0;
  let missed = 0;
  for (const [body, at] of cases) {
    const full = body + mod3736CheckCharacter(body);
    const index = at % (full.length - 1);
    if (full[index] === full[index + 1]) continue;
    tried++;
    const swapped = full.slice(0, index) + full[index + 1]! + full[index]! + full.slice(index + 2);
    if (hasValidCheckCharacter(swapped)) missed++;
  }
  t.true(missed / tried < 0.005, `${missed} of ${tried} transpositions missed`);
});

test('the check character ignores case and the non-alphanumeric separators', (t) => {
  fc.assert(
    fc.property(alnumText(1, 20), (body) => {
      const check = mod3736CheckCharacter(body);
      return mod3736CheckCharacter(body.toLowerCase()) === check && mod3736CheckCharacter(`${body}-`) === check;
    }),
  );
  t.true(isAssignedBarcode(generateBarcode(randomBytes).toLowerCase()));
  t.false(isAssignedBarcode('VL-0000000000'.slice(0, 12) + '#'));
});

test('normalisation is case-insensitive identity: idempotent and equal for case variants', (t) => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), (barcode) => {
      const key = normaliseBarcode(barcode);
      return (
        normaliseBarcode(key) === key &&
        normaliseBarcode(barcode.toLowerCase()) === key &&
        isValidBarcode(key) &&
        key.length === barcode.length
      );
    }),
  );
  t.is(normaliseBarcode('tube-001'), normaliseBarcode('TUBE-001'));
});
