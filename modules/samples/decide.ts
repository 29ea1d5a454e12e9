// Pure decider of a sample: (command, state) -> Decision. `now`, ids and the caller's roles in
// the labs concerned come in with the command. A sample belongs to a lab: a caller who is not a
// member gets not_found, exactly like an unknown id; a viewer who tries to write gets forbidden.
// An update that changes several things yields the matching events together (appended atomically):
// SampleDetailsCorrected, then SampleMoved, then SampleStatusChanged.
import { accept, refuse, type Decision } from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import { roleLadder } from '../../platform/commands/roles.ts';
import type { CorrectableField, SampleEvent, SampleStatus, SampleType } from './events.ts';
import { correctableFields } from './events.ts';
import type { SampleState } from './evolve.ts';
import { evolveSample, initialSampleState, isRegistered, type RegisteredSample } from './evolve.ts';
import type { SampleFields } from './rules.ts';
import { checkStatusMove, validateSampleFields } from './rules.ts';
import { isFinal, type PhysicalSampleType } from './physical/status.ts';
import { decidePhysical, type NewChild, type PhysicalCommand, type PhysicalState } from './physical/decide.ts';
import type { PhysicalEvent } from './physical/events.ts';
import type { Quantity } from './physical/quantity.ts';

const notFound = (): Decision<SampleEvent> => refuse({ code: 'not_found', message: 'sample not found' });

/** A lab role, as the labs module names them (each includes the one before). */
const labRoles = ['viewer', 'technician', 'manager'] as const;
export type LabRole = (typeof labRoles)[number];
export const { atLeast } = roleLadder(labRoles, 'the lab');
const forbidden = (): Decision<SampleEvent> =>
  refuse({ code: 'forbidden', message: 'changing samples needs the technician role in their lab' });

/** A new sample's fields as the client gives them. */
export interface NewSample {
  readonly sampleType: SampleType;
  readonly subjectId: string;
  readonly collectionDate: string;
  readonly status?: SampleStatus | undefined;
  readonly storageLocation?: string | null | undefined;
  readonly notes?: string | null | undefined;
  /** Absent: the service assigns one, reserved in the lab before RegisterSample. */
  readonly barcode?: string | undefined;
  readonly quantity?: Quantity | null | undefined;
}

export interface RegisterSample {
  readonly type: 'RegisterSample';
  readonly data: NewSample & {
    readonly sampleId: string;
    readonly ownerId: string;
    readonly labId: string;
    /** The caller's role in that lab (undefined: not a member). */
    readonly role: LabRole | undefined;
    /** SAMPLES_MAX_AGE_YEARS (default 10, 0: no limit). */
    readonly maxAgeYears?: number | undefined;
    readonly now: Date;
  };
}

/** One freeze–thaw cycle. */
export interface RecordThaw {
  readonly type: 'RecordThaw';
  readonly data: { readonly role: LabRole | undefined; readonly now: Date };
}

/** The editable fields; absent ones stay as they are (PATCH). PUT sends them all. */
export interface SampleChanges {
  readonly sampleType?: SampleType | undefined;
  readonly subjectId?: string | undefined;
  readonly collectionDate?: string | undefined;
  readonly status?: SampleStatus | undefined;
  readonly storageLocation?: string | null | undefined;
  readonly notes?: string | null | undefined;
}

export interface UpdateSample {
  readonly type: 'UpdateSample';
  readonly data: {
    /** The caller's role in the sample's lab (undefined: not a member). */
    readonly role: LabRole | undefined;
    readonly changes: SampleChanges;
    /** The change reason (required for archived → processing). */
    readonly reason: string | null;
    /** From If-Match; undefined means "the current version" (the route retries on conflicts). */
    readonly expectedVersion?: number | undefined;
    readonly maxAgeYears?: number | undefined;
    readonly now: Date;
  };
}

export interface DiscardSample {
  readonly type: 'DiscardSample';
  readonly data: {
    readonly role: LabRole | undefined;
    readonly reason: string | null;
    readonly expectedVersion?: number | undefined;
    readonly now: Date;
  };
}

export interface TransferSample {
  readonly type: 'TransferSample';
  readonly data: {
    /** The caller's role in the sample's lab and in the lab it goes to. */
    readonly role: LabRole | undefined;
    readonly toLabId: string;
    readonly toRole: LabRole | undefined;
    readonly reason: string | null;
    readonly expectedVersion?: number | undefined;
    readonly now: Date;
  };
}

/** The sample's half of a placement, once the box has claimed the slot for it. */
export interface PlaceSample {
  readonly type: 'PlaceSample';
  readonly data: {
    readonly role: LabRole | undefined;
    readonly unitId: string;
    readonly position: string;
    readonly now: Date;
  };
}

/** The sample leaves its slot (the box frees it afterwards). */
export interface UnplaceSample {
  readonly type: 'UnplaceSample';
  readonly data: { readonly role: LabRole | undefined; readonly reason: 'unplaced' | 'final'; readonly now: Date };
}

/** Aliquots or a derivative: ids and barcodes of the children come in with the command. */
export interface TakeFromSample {
  readonly type: 'TakeFromSample';
  readonly data: { readonly role: LabRole | undefined; readonly take: TakeChildren; readonly now: Date };
}
export type TakeChildren = (
  | { kind: 'aliquots'; count: number; quantity?: Quantity | undefined; children: readonly NewChild[] }
  | {
      kind: 'derivative';
      sampleType: PhysicalSampleType;
      quantity?: Quantity | undefined;
      consumes?: Quantity | undefined;
      child: NewChild;
    }
) & { readonly requestKey?: string | undefined };

export type SampleCommand =
  | RegisterSample
  | UpdateSample
  | DiscardSample
  | TransferSample
  | RecordThaw
  | TakeFromSample
  | PlaceSample
  | UnplaceSample;

export function decideSample(command: SampleCommand, state: SampleState): Decision<SampleEvent> {
  switch (command.type) {
    case 'RegisterSample':
      return register(command.data, state);
    case 'UpdateSample':
      return update(command.data, state);
    case 'DiscardSample':
      return discard(command.data, state);
    case 'TransferSample':
      return transfer(command.data, state);
    case 'PlaceSample':
      return place(command.data, state);
    case 'UnplaceSample':
      return unplace(command.data, state);
    case 'RecordThaw':
      return thaw(command.data, state);
    case 'TakeFromSample':
      return takeFrom(command.data, state);
  }
}

/** The sample as the physical decider sees it. */
const physicalState = (s: RegisteredSample): PhysicalState => ({
  kind: 'sample',
  sampleId: s.sampleId,
  labId: s.labId,
  barcode: s.barcode ?? s.sampleId,
  sampleType: s.sampleType,
  subjectId: s.subjectId,
  collectionDate: s.collectionDate,
  status: s.status,
  quantity: s.quantity,
  remaining: s.remaining,
  lineage: s.lineage,
  parentId: s.parentId,
  freezeThawCount: s.freezeThawCount,
});

/** The parent's events (aliquoted or derived, and consumed at zero), all or none. */
function takeFrom(c: TakeFromSample['data'], state: SampleState): Decision<SampleEvent> {
  if (!isRegistered(state) || state.kind === 'discarded' || c.role === undefined) return notFound();
  const { take, role, now } = c;
  const command: PhysicalCommand =
    take.kind === 'aliquots'
      ? {
          type: 'TakeAliquots',
          data: { role, count: take.count, quantity: take.quantity ?? null, children: take.children, now },
        }
      : {
          type: 'TakeDerivative',
          data: {
            role,
            sampleType: take.sampleType,
            quantity: take.quantity ?? null,
            consumes: take.consumes ?? null,
            child: take.child,
            now,
          },
        };
  const decision = decidePhysical(command, physicalState(state));
  if (!decision.ok) return refuse(decision.error);
  const key = take.requestKey ? { requestKey: take.requestKey } : {};
  return accept(...decision.events.map((event) => withOwner(event, state.ownerId, key)));
}

function withOwner(event: PhysicalEvent, ownerId: string, key: { requestKey?: string }): SampleEvent {
  switch (event.type) {
    case 'SampleAliquoted':
      return { type: event.type, data: { ...event.data, ownerId, ...key } };
    case 'SampleDerived':
      return { type: event.type, data: { ...event.data, ownerId, ...key } };
    case 'SampleConsumed':
      return { type: event.type, data: { ...event.data, ownerId } };
    default:
      throw new Error(`not an event of taking from a sample: ${event.type}`);
  }
}

/** A consumed or disposed sample is final: any further change is an invalid transition. */
const finalRefusal = (status: SampleStatus): Decision<SampleEvent> =>
  refuse({ code: 'invalid_transition', message: `a ${status} sample is final and cannot change` });

function thaw(c: RecordThaw['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, undefined);
  if ('ok' in sample) return sample;
  if (isFinal(sample.status)) return finalRefusal(sample.status);
  return accept({
    type: 'SampleThawed',
    data: {
      sampleId: sample.sampleId,
      ownerId: sample.ownerId,
      labId: sample.labId,
      freezeThawCount: sample.freezeThawCount + 1,
      thawedAt: c.now.toISOString(),
    },
  });
}

function register(c: RegisterSample['data'], state: SampleState): Decision<SampleEvent> {
  if (state.kind !== 'none') return refuse({ code: 'conflict', message: 'sample already exists' });
  if (c.role === undefined) return refuse({ code: 'not_found', message: 'lab not found' });
  if (!atLeast(c.role, 'technician')) return forbidden();
  const fields: SampleFields = {
    sampleType: c.sampleType,
    subjectId: c.subjectId,
    collectionDate: c.collectionDate,
    storageLocation: c.storageLocation ?? null,
    notes: c.notes ?? null,
  };
  const errors = validateSampleFields(fields, c.now, c.maxAgeYears);
  if (errors.length > 0) return refuse({ code: 'validation_failed', message: 'the sample breaks some rules', errors });
  return accept({
    type: 'SampleRegistered',
    data: {
      sampleId: c.sampleId,
      ownerId: c.ownerId,
      labId: c.labId,
      ...fields,
      status: c.status ?? 'collected',
      registeredAt: c.now.toISOString(),
      ...(c.barcode === undefined ? {} : { barcode: c.barcode }),
      quantity: c.quantity ?? null,
      lineage: 'primary',
      parentId: null,
    },
  });
}

/** The sample a technician of its lab may change, or the error to answer. */
function writableSample(state: SampleState, role: LabRole | undefined, expectedVersion: number | undefined) {
  if (!isRegistered(state) || state.kind === 'discarded' || role === undefined) return notFound();
  if (!atLeast(role, 'technician')) return forbidden();
  if (expectedVersion !== undefined && expectedVersion !== state.version) {
    return refuse({
      code: 'version_mismatch',
      message: `the sample is at version ${state.version}, not ${expectedVersion}`,
      currentVersion: state.version,
    });
  }
  return state;
}

function update(c: UpdateSample['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, c.expectedVersion);
  if ('ok' in sample) return sample;
  if (isFinal(sample.status)) return finalRefusal(sample.status);
  const next: SampleFields & { status: SampleStatus } = {
    sampleType: c.changes.sampleType ?? sample.sampleType,
    subjectId: c.changes.subjectId ?? sample.subjectId,
    collectionDate: c.changes.collectionDate ?? sample.collectionDate,
    status: c.changes.status ?? sample.status,
    storageLocation: c.changes.storageLocation !== undefined ? c.changes.storageLocation : sample.storageLocation,
    notes: c.changes.notes !== undefined ? c.changes.notes : sample.notes,
  };
  const errors = validateSampleFields(next, c.now, c.maxAgeYears);
  // A date that was valid when registered may have aged out: only a changed date is re-checked.
  const relevant =
    next.collectionDate === sample.collectionDate ? errors.filter((e) => e.path !== 'collectionDate') : errors;
  if (relevant.length > 0)
    return refuse({ code: 'validation_failed', message: 'the change breaks some rules', errors: relevant });
  if (next.status !== sample.status) {
    const move = checkStatusMove(sample.status, next.status, c.reason);
    if (!move.ok)
      return refuse({
        code: 'invalid_transition',
        message: move.message,
        errors: [{ path: 'status', message: move.message }],
      });
  }
  const at = c.now.toISOString();
  const events: SampleEvent[] = [];
  const changes: Partial<Record<CorrectableField, { from: unknown; to: unknown }>> = {};
  for (const field of correctableFields) {
    if (next[field] !== sample[field]) changes[field] = { from: sample[field], to: next[field] };
  }
  if (Object.keys(changes).length > 0) {
    events.push({
      type: 'SampleDetailsCorrected',
      data: {
        sampleId: sample.sampleId,
        ownerId: sample.ownerId,
        labId: sample.labId,
        changes: changes as never,
        correctedAt: at,
      },
    });
  }
  if (next.storageLocation !== sample.storageLocation) {
    events.push({
      type: 'SampleMoved',
      data: {
        sampleId: sample.sampleId,
        ownerId: sample.ownerId,
        labId: sample.labId,
        from: sample.storageLocation,
        to: next.storageLocation,
        movedAt: at,
      },
    });
  }
  if (next.status !== sample.status) {
    events.push({
      type: 'SampleStatusChanged',
      data: {
        sampleId: sample.sampleId,
        ownerId: sample.ownerId,
        labId: sample.labId,
        from: sample.status,
        to: next.status,
        reason: c.reason,
        changedAt: at,
      },
    });
  }
  return accept(...events);
}

function discard(c: DiscardSample['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, c.expectedVersion);
  if ('ok' in sample) return sample;
  return accept({
    type: 'SampleDiscarded',
    data: {
      sampleId: sample.sampleId,
      ownerId: sample.ownerId,
      labId: sample.labId,
      reason: c.reason,
      discardedAt: c.now.toISOString(),
    },
  });
}

function transfer(c: TransferSample['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, c.expectedVersion);
  if ('ok' in sample) return sample;
  if (isFinal(sample.status)) return finalRefusal(sample.status);
  if (c.toRole === undefined) return refuse({ code: 'not_found', message: 'lab not found' });
  if (!atLeast(c.toRole, 'technician'))
    return refuse({ code: 'forbidden', message: 'a transfer needs the technician role in both labs' });
  const errors = [
    ...(c.toLabId === sample.labId ? [{ path: 'labId', message: 'the sample is in this lab already' }] : []),
    ...(!c.reason?.trim() ? [{ path: 'reason', message: 'a transfer needs a reason' }] : []),
  ];
  if (errors.length > 0)
    return refuse({ code: 'validation_failed', message: 'the transfer breaks some rules', errors });
  return accept({
    type: 'SampleTransferred',
    data: {
      sampleId: sample.sampleId,
      ownerId: sample.ownerId,
      labId: c.toLabId,
      fromLabId: sample.labId,
      fromStorage: sample.storageLocation,
      reason: c.reason!,
      transferredAt: c.now.toISOString(),
    },
  });
}

/** A placement already recorded is a no-op, so a retry (or the reconciler) completes instead of doubling. */
function place(c: PlaceSample['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, undefined);
  if ('ok' in sample) return sample;
  const from = sample.place ?? null;
  if (from?.unitId === c.unitId && from.position === c.position) return accept();
  return accept({
    type: 'SamplePlaced',
    data: {
      sampleId: sample.sampleId,
      ownerId: sample.ownerId,
      labId: sample.labId,
      unitId: c.unitId,
      position: c.position,
      from: from ? { unitId: from.unitId, position: from.position } : null,
      placedAt: c.now.toISOString(),
    },
  });
}

function unplace(c: UnplaceSample['data'], state: SampleState): Decision<SampleEvent> {
  const sample = writableSample(state, c.role, undefined);
  if ('ok' in sample) return sample;
  if (!sample.place) return accept();
  return accept({
    type: 'SampleUnplaced',
    data: {
      sampleId: sample.sampleId,
      ownerId: sample.ownerId,
      labId: sample.labId,
      unitId: sample.place.unitId,
      position: sample.place.position,
      reason: c.reason,
      unplacedAt: c.now.toISOString(),
    },
  });
}

export const sampleDecider: Decider<SampleCommand, SampleState, SampleEvent> = {
  decide: decideSample,
  evolve: evolveSample,
  initialState: initialSampleState,
};
