// A sample as an HL7 FHIR R4 Specimen, and a searchset Bundle of them (API.md: GET
// /fhir/Specimen/{id}, GET /fhir/Specimen?subject=). Types from @medplum/fhirtypes; the mapping
// table is in docs/samples.md. Amounts use UCUM codes; the remaining amount is the container's
// specimenQuantity, the amount at collection is collection.quantity.
import type { Bundle, Quantity as FhirQuantity, Specimen } from '@medplum/fhirtypes';
import type { Quantity, Unit } from './quantity.ts';
import type { Lineage, PhysicalSampleType, PhysicalStatus } from './status.ts';

export const FHIR_CONTENT_TYPE = 'application/fhir+json; charset=utf-8';
export const SAMPLE_TYPE_SYSTEM = 'urn:vialog:sample-type';
export const SUBJECT_SYSTEM = 'urn:vialog:subject';
export const FREEZE_THAW_EXTENSION = 'urn:vialog:fhir:freeze-thaw-count';
export const LINEAGE_EXTENSION = 'urn:vialog:fhir:lineage';
const SNOMED = 'http://snomed.info/sct';
const UCUM = 'http://unitsofmeasure.org';

/** What the mapping reads of a sample (the read model's row, once wired). */
export interface SpecimenSource {
  readonly id: string;
  readonly labId: string;
  readonly barcode: string;
  readonly sampleType: PhysicalSampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: PhysicalStatus;
  /** A record entered in error (DELETE /samples/{id}). */
  readonly deleted?: boolean;
  readonly storageLocation: string | null;
  readonly quantity: Quantity | null;
  readonly remaining: Quantity | null;
  readonly lineage: Lineage;
  readonly parentId: string | null;
  readonly freezeThawCount: number;
  readonly notes: string | null;
  readonly updatedAt: string;
  readonly version: number;
}

const typeNames: Readonly<Record<PhysicalSampleType, { display: string; snomed?: string }>> = {
  blood: { display: 'Blood specimen', snomed: '119297000' },
  saliva: { display: 'Saliva specimen', snomed: '119342007' },
  tissue: { display: 'Tissue specimen', snomed: '119376003' },
  plasma: { display: 'Plasma specimen', snomed: '119361006' },
  serum: { display: 'Serum specimen', snomed: '119364003' },
  buffy_coat: { display: 'Buffy coat' },
  dna: { display: 'DNA' },
  rna: { display: 'RNA' },
};
const ucum: Readonly<Record<Unit, string>> = { mL: 'mL', uL: 'uL', g: 'g', mg: 'mg', ug: 'ug', cells: '{cells}' };

const fhirQuantity = (quantity: Quantity): FhirQuantity => ({
  value: quantity.value,
  unit: quantity.unit,
  system: UCUM,
  code: ucum[quantity.unit],
});

/** FHIR's Specimen.status: a tube that is used up or destroyed is no longer available. */
export function specimenStatus(source: Pick<SpecimenSource, 'status' | 'deleted'>): Specimen['status'] {
  if (source.deleted) return 'entered-in-error';
  return source.status === 'consumed' || source.status === 'disposed' ? 'unavailable' : 'available';
}

export function toSpecimen(source: SpecimenSource): Specimen {
  const type = typeNames[source.sampleType];
  const barcode = { system: `urn:vialog:lab:${source.labId}:barcode`, value: source.barcode };
  const specimen: Specimen = {
    resourceType: 'Specimen',
    id: source.id,
    meta: { versionId: String(source.version), lastUpdated: source.updatedAt },
    extension: [
      { url: FREEZE_THAW_EXTENSION, valueInteger: source.freezeThawCount },
      { url: LINEAGE_EXTENSION, valueCode: source.lineage },
    ],
    identifier: [barcode],
    status: specimenStatus(source),
    type: {
      coding: [
        { system: SAMPLE_TYPE_SYSTEM, code: source.sampleType, display: type.display },
        ...(type.snomed ? [{ system: SNOMED, code: type.snomed, display: type.display }] : []),
      ],
      text: type.display,
    },
    subject: { type: 'Patient', identifier: { system: SUBJECT_SYSTEM, value: source.subjectId } },
    collection: {
      collectedDateTime: source.collectionDate,
      ...(source.quantity ? { quantity: fhirQuantity(source.quantity) } : {}),
    },
    container: [
      {
        identifier: [barcode],
        ...(source.storageLocation ? { description: source.storageLocation } : {}),
        ...(source.remaining ? { specimenQuantity: fhirQuantity(source.remaining) } : {}),
      },
    ],
  };
  if (source.parentId) specimen.parent = [{ reference: `Specimen/${source.parentId}` }];
  if (source.notes) specimen.note = [{ text: source.notes }];
  return specimen;
}

/** The searchset answer of GET /fhir/Specimen?subject=…; `self` is the request's own URL. */
export function specimenSearchBundle(sources: readonly SpecimenSource[], self: string, base: string): Bundle<Specimen> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: sources.length,
    link: [{ relation: 'self', url: self }],
    entry: sources.map((source) => ({
      fullUrl: `${base}/Specimen/${source.id}`,
      resource: toSpecimen(source),
      search: { mode: 'match' },
    })),
  };
}
