// Pure evolver of a sample's stream, with its initial state.
import type { SampleEvent, SampleStatus, SampleType } from './events.ts';
import type { Quantity } from './physical/quantity.ts';
import type { Lineage } from './physical/status.ts';

export interface SampleDetails {
  readonly sampleId: string;
  readonly ownerId: string;
  /** The lab the sample belongs to now. */
  readonly labId: string;
  /** Every lab it has belonged to (chain of custody): their members read its history. */
  readonly labIds: readonly string[];
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status: SampleStatus;
  readonly storageLocation: string | null;
  readonly notes: string | null;
  /** The box slot it holds (storage placement), and when its placement last changed. */
  readonly place?: { readonly unitId: string; readonly position: string } | null;
  readonly placeChangedAt?: string;
  /** Null only for samples registered before barcodes existed. */
  readonly barcode: string | null;
  readonly quantity: Quantity | null;
  readonly remaining: Quantity | null;
  readonly lineage: Lineage;
  readonly parentId: string | null;
  readonly freezeThawCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Events in the stream so far: the ETag. */
  readonly version: number;
}

export type SampleState =
  | { readonly kind: 'none' }
  | ({ readonly kind: 'active' } & SampleDetails)
  | ({ readonly kind: 'discarded' } & SampleDetails);

export const initialSampleState = (): SampleState => ({ kind: 'none' });

export type RegisteredSample = Exclude<SampleState, { kind: 'none' }>;
export const isRegistered = (s: SampleState): s is RegisteredSample => s.kind !== 'none';

export function evolveSample(state: SampleState, event: SampleEvent): SampleState {
  if (event.type === 'SampleRegistered') {
    const d = event.data;
    return {
      kind: 'active',
      sampleId: d.sampleId,
      ownerId: d.ownerId,
      labId: d.labId,
      labIds: [d.labId],
      sampleType: d.sampleType,
      subjectId: d.subjectId,
      collectionDate: d.collectionDate,
      status: d.status,
      storageLocation: d.storageLocation,
      notes: d.notes,
      barcode: d.barcode ?? null,
      quantity: d.quantity ?? null,
      remaining: d.quantity ?? null,
      lineage: d.lineage ?? 'primary',
      parentId: d.parentId ?? null,
      freezeThawCount: 0,
      createdAt: d.registeredAt,
      updatedAt: d.registeredAt,
      version: 1,
    };
  }
  if (!isRegistered(state) || event.type === 'SampleBarcodeReserved') return state;
  const version = state.version + 1;
  switch (event.type) {
    case 'SampleDetailsCorrected': {
      const c = event.data.changes;
      return {
        ...state,
        ...(c.sampleType ? { sampleType: c.sampleType.to } : {}),
        ...(c.subjectId ? { subjectId: c.subjectId.to } : {}),
        ...(c.collectionDate ? { collectionDate: c.collectionDate.to } : {}),
        ...(c.notes ? { notes: c.notes.to } : {}),
        updatedAt: event.data.correctedAt,
        version,
      };
    }
    case 'SampleStatusChanged':
      return { ...state, status: event.data.to, updatedAt: event.data.changedAt, version };
    case 'SampleMoved':
      return { ...state, storageLocation: event.data.to, updatedAt: event.data.movedAt, version };
    case 'SampleDiscarded':
      return { ...state, kind: 'discarded', updatedAt: event.data.discardedAt, version };
    case 'SampleAliquoted':
      return { ...state, remaining: event.data.remaining, updatedAt: event.data.aliquotedAt, version };
    case 'SampleDerived':
      return { ...state, remaining: event.data.remaining, updatedAt: event.data.derivedAt, version };
    case 'SampleConsumed':
      return { ...state, status: 'consumed', remaining: null, updatedAt: event.data.consumedAt, version };
    case 'SampleThawed':
      return { ...state, freezeThawCount: event.data.freezeThawCount, updatedAt: event.data.thawedAt, version };
    case 'SampleTransferred':
      return {
        ...state,
        labId: event.data.labId,
        labIds: state.labIds.includes(event.data.labId) ? state.labIds : [...state.labIds, event.data.labId],
        storageLocation: null,
        place: null,
        placeChangedAt: event.data.transferredAt,
        updatedAt: event.data.transferredAt,
        version,
      };
    case 'SamplePlaced': {
      const { unitId, position, placedAt } = event.data;
      return { ...state, place: { unitId, position }, placeChangedAt: placedAt, updatedAt: placedAt, version };
    }
    case 'SampleUnplaced':
      return {
        ...state,
        place: null,
        placeChangedAt: event.data.unplacedAt,
        updatedAt: event.data.unplacedAt,
        version,
      };
  }
}
