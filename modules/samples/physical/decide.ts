// Pure decider of a sample's physical life (API.md, Physical samples): aliquots and derivatives
// (all children or none, the parent's amount taken in the same decision), disposal, thaws.
// Ids, barcodes and `now` come in with the command; who may act comes in as the caller's role in
// the sample's lab (a non-member never gets here: the route answers 404 first).
import { accept, refuse, type Decision, type Refusal } from '../../../platform/commands/decision.ts';
import type { PhysicalEvent, PhysicalRegistration } from './events.ts';
import { QuantityError, subtract, times, toAmount, type Quantity } from './quantity.ts';
import { derivableTypes, isFinal, type PhysicalSampleType } from './status.ts';

export type LabRole = 'viewer' | 'technician' | 'manager';
export const MAX_ALIQUOTS = 100;

export type PhysicalState =
  | { readonly kind: 'none' }
  | (Omit<PhysicalRegistration, 'registeredAt'> & { readonly kind: 'sample'; readonly freezeThawCount: number });

export interface NewChild {
  readonly sampleId: string;
  readonly barcode: string;
}

export type PhysicalCommand =
  | {
      readonly type: 'TakeAliquots';
      readonly data: {
        role: LabRole;
        count: number;
        quantity?: Quantity | null;
        children: readonly NewChild[];
        now: Date;
      };
    }
  | {
      readonly type: 'TakeDerivative';
      readonly data: {
        role: LabRole;
        sampleType: PhysicalSampleType;
        quantity?: Quantity | null;
        consumes?: Quantity | null;
        child: NewChild;
        now: Date;
      };
    }
  | { readonly type: 'DisposeSample'; readonly data: { role: LabRole; reason: string | null; now: Date } }
  | { readonly type: 'RecordThaw'; readonly data: { role: LabRole; now: Date } };

type Live = Extract<PhysicalState, { kind: 'sample' }>;

const invalid = (path: string, message: string): Refusal => ({
  code: 'validation_failed',
  message: 'the request breaks some rules',
  errors: [{ path, message }],
});

/** The sample a technician may change, or the refusal. */
function changeable(state: PhysicalState, role: LabRole): Live | Refusal {
  if (state.kind === 'none') return { code: 'not_found', message: 'sample not found' };
  if (role === 'viewer') return { code: 'forbidden', message: 'this needs the technician role in the lab' };
  if (isFinal(state.status)) {
    return { code: 'invalid_transition', message: `a ${state.status} sample is final and cannot change` };
  }
  return state;
}
const isRefusal = (value: Live | Refusal): value is Refusal => 'code' in value;

function checkAmount(quantity: Quantity | null | undefined, path: string): Refusal | null {
  if (quantity === null || quantity === undefined) return null;
  try {
    toAmount(quantity);
    return null;
  } catch (error) {
    if (error instanceof QuantityError) return invalid(path, error.message);
    throw error;
  }
}

type Taking = { ok: true; remaining: Quantity | null; taken: Quantity | null } | { ok: false; error: Refusal };

/** Takes `amount` out of the parent's remaining amount (untracked parents give nothing up). */
function take(parent: Live, amount: Quantity | null, path: string): Taking {
  if (amount === null || parent.remaining === null) return { ok: true, remaining: parent.remaining, taken: amount };
  const result = subtract(parent.remaining, amount);
  if (result.ok) return { ok: true, remaining: result.remaining, taken: amount };
  if (result.reason === 'dimension') {
    return {
      ok: false,
      error: invalid(path, `${amount.unit} cannot be taken from a sample measured in ${parent.remaining.unit}`),
    };
  }
  return {
    ok: false,
    error: {
      code: 'insufficient_quantity',
      message: `only ${parent.remaining.value} ${parent.remaining.unit} is left`,
      status: 422,
    },
  };
}

/** The consumed event when the parent was tracked and nothing is left. */
function consumedIfEmpty(parent: Live, remaining: Quantity | null, at: string): PhysicalEvent[] {
  if (parent.remaining === null || remaining !== null) return [];
  return [{ type: 'SampleConsumed', data: { sampleId: parent.sampleId, labId: parent.labId, consumedAt: at } }];
}

function aliquots(c: Extract<PhysicalCommand, { type: 'TakeAliquots' }>['data'], state: PhysicalState) {
  const parent = changeable(state, c.role);
  if (isRefusal(parent)) return refuse<PhysicalEvent>(parent);
  if (!Number.isInteger(c.count) || c.count < 1 || c.count > MAX_ALIQUOTS) {
    return refuse<PhysicalEvent>(invalid('count', `must be a whole number from 1 to ${MAX_ALIQUOTS}`));
  }
  if (c.children.length !== c.count) throw new Error('one new id and barcode per aliquot');
  const quantity = c.quantity ?? null;
  const bad = checkAmount(quantity, 'quantity');
  if (bad) return refuse<PhysicalEvent>(bad);
  const taking = take(parent, quantity === null ? null : times(quantity, c.count), 'quantity');
  if (!taking.ok) return refuse<PhysicalEvent>(taking.error);
  const at = c.now.toISOString();
  const children = c.children.map((child) => ({ sampleId: child.sampleId, barcode: child.barcode, quantity }));
  return accept<PhysicalEvent>(
    {
      type: 'SampleAliquoted',
      data: {
        sampleId: parent.sampleId,
        labId: parent.labId,
        children,
        taken: taking.taken,
        remaining: taking.remaining,
        aliquotedAt: at,
      },
    },
    ...consumedIfEmpty(parent, taking.remaining, at),
  );
}

function derivative(c: Extract<PhysicalCommand, { type: 'TakeDerivative' }>['data'], state: PhysicalState) {
  const parent = changeable(state, c.role);
  if (isRefusal(parent)) return refuse<PhysicalEvent>(parent);
  if (!derivableTypes[parent.sampleType].includes(c.sampleType)) {
    return refuse<PhysicalEvent>(invalid('sampleType', `${c.sampleType} cannot be derived from ${parent.sampleType}`));
  }
  const bad = checkAmount(c.quantity, 'quantity') ?? checkAmount(c.consumes, 'consumes');
  if (bad) return refuse<PhysicalEvent>(bad);
  const taking = take(parent, c.consumes ?? null, 'consumes');
  if (!taking.ok) return refuse<PhysicalEvent>(taking.error);
  const at = c.now.toISOString();
  const child = {
    sampleId: c.child.sampleId,
    barcode: c.child.barcode,
    quantity: c.quantity ?? null,
    sampleType: c.sampleType,
  };
  return accept<PhysicalEvent>(
    {
      type: 'SampleDerived',
      data: {
        sampleId: parent.sampleId,
        labId: parent.labId,
        child,
        taken: taking.taken,
        remaining: taking.remaining,
        derivedAt: at,
      },
    },
    ...consumedIfEmpty(parent, taking.remaining, at),
  );
}

export function decidePhysical(command: PhysicalCommand, state: PhysicalState): Decision<PhysicalEvent> {
  switch (command.type) {
    case 'TakeAliquots':
      return aliquots(command.data, state);
    case 'TakeDerivative':
      return derivative(command.data, state);
    case 'DisposeSample': {
      const sample = changeable(state, command.data.role);
      if (isRefusal(sample)) return refuse(sample);
      const reason = command.data.reason?.trim() ?? '';
      if (reason === '') return refuse(invalid('reason', 'disposing of a sample needs a reason'));
      const data = {
        sampleId: sample.sampleId,
        labId: sample.labId,
        reason,
        disposedAt: command.data.now.toISOString(),
      };
      return accept({ type: 'SampleDisposed', data });
    }
    case 'RecordThaw': {
      const sample = changeable(state, command.data.role);
      if (isRefusal(sample)) return refuse(sample);
      const data = {
        sampleId: sample.sampleId,
        labId: sample.labId,
        freezeThawCount: sample.freezeThawCount + 1,
        thawedAt: command.data.now.toISOString(),
      };
      return accept({ type: 'SampleThawed', data });
    }
  }
}

export function evolvePhysical(state: PhysicalState, event: PhysicalEvent): PhysicalState {
  if (event.type === 'SampleRegistered') {
    const { registeredAt: _registeredAt, ...fields } = event.data;
    return { kind: 'sample', ...fields, freezeThawCount: 0 };
  }
  if (state.kind === 'none') return state;
  switch (event.type) {
    case 'SampleAliquoted':
    case 'SampleDerived':
      return { ...state, remaining: event.data.remaining };
    case 'SampleConsumed':
      return { ...state, status: 'consumed', remaining: null };
    case 'SampleDisposed':
      return { ...state, status: 'disposed' };
    case 'SampleThawed':
      return { ...state, freezeThawCount: event.data.freezeThawCount };
  }
}

export const physicalDecider = {
  decide: decidePhysical,
  evolve: evolvePhysical,
  initialState: (): PhysicalState => ({ kind: 'none' }),
};

type Announcing = Extract<PhysicalEvent, { type: 'SampleAliquoted' | 'SampleDerived' }>;

/** What each child an aliquot or derivative event announces holds of its own (the rest it inherits). */
export function announcedChildFields(parentType: PhysicalSampleType, event: Announcing) {
  if (event.type === 'SampleAliquoted') {
    return event.data.children.map((child) => ({
      sampleId: child.sampleId,
      barcode: child.barcode,
      sampleType: parentType,
      quantity: child.quantity,
      lineage: 'aliquot' as const,
      registeredAt: event.data.aliquotedAt,
    }));
  }
  const child = event.data.child;
  return [
    {
      sampleId: child.sampleId,
      barcode: child.barcode,
      sampleType: child.sampleType,
      quantity: child.quantity,
      lineage: 'derivative' as const,
      registeredAt: event.data.derivedAt,
    },
  ];
}

/**
 * The registrations of the children an aliquot or derivative event announces: children inherit
 * lab, subject and collection date, start `collected`, and hold their own amount. Deterministic,
 * so a restart after a crash between the parent's event and the children's writes the same ones.
 */
export function childRegistrations(parent: Live, event: Announcing): PhysicalRegistration[] {
  const inherited = {
    labId: parent.labId,
    subjectId: parent.subjectId,
    collectionDate: parent.collectionDate,
    status: 'collected' as const,
    parentId: parent.sampleId,
  };
  return announcedChildFields(parent.sampleType, event).map((child) => ({
    ...inherited,
    ...child,
    remaining: child.quantity,
  }));
}

/** The children still to be written after a restart: those whose streams do not exist yet. */
export function pendingChildren(
  announced: readonly PhysicalRegistration[],
  existing: ReadonlySet<string>,
): PhysicalRegistration[] {
  return announced.filter((child) => !existing.has(child.sampleId));
}

/**
 * Every child the parent's history announces, each from the parent as it was just before the
 * announcing event (a later correction of the parent does not change what its children were
 * given). With `pendingChildren`, what a restart still has to write.
 */
export function announcedChildren(history: readonly PhysicalEvent[]): PhysicalRegistration[] {
  const children: PhysicalRegistration[] = [];
  let state = physicalDecider.initialState();
  for (const event of history) {
    if ((event.type === 'SampleAliquoted' || event.type === 'SampleDerived') && state.kind === 'sample') {
      children.push(...childRegistrations(state, event));
    }
    state = evolvePhysical(state, event);
  }
  return children;
}
