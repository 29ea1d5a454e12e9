// Request shapes of the physical-sample routes and the barcode reservation key.
import test from 'ava';
import { barcodeReservationStreamId, barcodeTaken } from '../../modules/samples/physical/barcode.ts';
import {
  aliquotsBodySchema,
  derivativeBodySchema,
  disposeBodySchema,
  labelQuerySchema,
  labelsBodySchema,
  specimenSearchQuerySchema,
} from '../../modules/samples/physical/schemas.ts';
import { DomainError } from '../../platform/commands/decision.ts';

const lab = '11111111-1111-4111-8111-111111111111';
const id = '33333333-3333-4333-8333-333333333333';

test('a barcode reservation is per lab and ignores case', (t) => {
  t.is(barcodeReservationStreamId(lab, 'tube-001'), barcodeReservationStreamId(lab, 'TUBE-001'));
  t.not(barcodeReservationStreamId(lab, 'TUBE-001'), barcodeReservationStreamId(id, 'TUBE-001'));
  const error = new DomainError(barcodeTaken('TUBE-001'));
  t.like(error, { code: 'barcode_taken', status: 409 });
});

test('aliquots: count 1–100, optional amount per child, nothing else', (t) => {
  t.true(aliquotsBodySchema.safeParse({ count: 3, quantity: { value: 100, unit: 'uL' } }).success);
  t.true(aliquotsBodySchema.safeParse({ count: 100 }).success);
  for (const bad of [{ count: 0 }, { count: 101 }, { count: 1.5 }, { count: 2, extra: true }, {}]) {
    t.false(aliquotsBodySchema.safeParse(bad).success, JSON.stringify(bad));
  }
});

test('derivatives: a known type, optional own amount and consumed amount', (t) => {
  t.true(
    derivativeBodySchema.safeParse({
      sampleType: 'dna',
      quantity: { value: 40, unit: 'ug' },
      consumes: { value: 0.5, unit: 'mL' },
    }).success,
  );
  t.false(derivativeBodySchema.safeParse({ sampleType: 'urine' }).success);
  t.false(derivativeBodySchema.safeParse({ sampleType: 'dna', consumes: { value: -1, unit: 'mL' } }).success);
});

test('disposal needs a non-blank reason', (t) => {
  t.true(disposeBodySchema.safeParse({ reason: 'tube cracked' }).success);
  t.false(disposeBodySchema.safeParse({ reason: '   ' }).success);
  t.false(disposeBodySchema.safeParse({}).success);
});

test('label query: svg and code128 by default, anything else 400-worthy', (t) => {
  t.deepEqual(labelQuerySchema.parse({}), { format: 'svg', symbology: 'code128' });
  t.false(labelQuerySchema.safeParse({ format: 'jpeg' }).success);
  t.false(labelQuerySchema.safeParse({ symbology: 'ean13' }).success);
});

test('a labels batch takes 1–200 ids', (t) => {
  t.true(labelsBodySchema.safeParse({ ids: [id] }).success);
  t.true(labelsBodySchema.safeParse({ ids: Array.from({ length: 200 }, () => id) }).success);
  t.false(labelsBodySchema.safeParse({ ids: Array.from({ length: 201 }, () => id) }).success);
  t.false(labelsBodySchema.safeParse({ ids: [] }).success);
  t.false(labelsBodySchema.safeParse({ ids: ['not-a-uuid'] }).success);
});

test('a Specimen search names a subject id', (t) => {
  t.true(specimenSearchQuerySchema.safeParse({ subject: 'P001' }).success);
  t.false(specimenSearchQuerySchema.safeParse({ subject: 'p1' }).success);
  t.false(specimenSearchQuerySchema.safeParse({}).success);
});
