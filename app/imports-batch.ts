// Creating an import batch's samples. Every row becomes its barcode's reservation, its box's claim
// of the slot and the sample's own events (registered, then placed), decided in memory by the
// samples and storage deciders exactly as POST /samples and PUT /samples/{id}/location decide
// them, and the whole batch is appended with ONE appendMany (PostgreSQL: one transaction). Streams
// go reservations first, then boxes, then samples, so on a store without multi-stream transactions
// a sample never exists without its reservation and its slot.
// A conflict (a resumed import meeting rows it created before a crash, a barcode or a slot taken
// meanwhile, a box changed by someone else) sends the batch row by row through the same deciders,
// each row with its own outcome: an existing sample is "there already", never created twice.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { CommandHandler } from '../platform/commands/handler.ts';
import { DomainError } from '../platform/commands/decision.ts';
import { eventMetadata, systemCause, type CommandCause } from '../platform/eventstore/metadata.ts';
import {
  StreamConflictError,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type StreamAppend,
} from '../platform/eventstore/port.ts';
import { assertStorableEvent } from '../platform/text.ts';
import type { ImportColumn } from '../modules/imports/columns.ts';
import type { ImportJob } from '../modules/imports/decide.ts';
import type { CreateOutcome, PlannedSample } from '../modules/imports/runner.ts';
import {
  decideSample,
  sampleDecider,
  type LabRole,
  type RegisterSample,
  type SampleCommand,
} from '../modules/samples/decide.ts';
import {
  isSampleEventType,
  parseSampleEvent,
  sampleEventSchemaVersions,
  sampleStream,
  type SampleEvent,
  type SampleStatus,
  type SampleType,
} from '../modules/samples/events.ts';
import { evolveSample, initialSampleState, type SampleState } from '../modules/samples/evolve.ts';
import { barcodeReservationStreamId, barcodeTaken, generateBarcode } from '../modules/samples/physical/barcode.ts';
import type { Unit } from '../modules/samples/physical/quantity.ts';
import { decideUnit, unitDecider, type UnitCommand } from '../modules/storage/decide.ts';
import { storageEvents, unitStream, type StorageEvent, type UnitKind } from '../modules/storage/events.ts';
import { evolveUnit, isActiveUnit, type UnitState } from '../modules/storage/evolve.ts';
import { findBoxes, importLabLookups, importRowRules } from './imports-wiring.ts';

type RoleIn = (userId: string, labId: string) => Promise<LabRole | undefined>;

export interface ImportSampleDeps {
  readonly store: EventStore;
  readonly knex: Knex;
  readonly roleIn: RoleIn;
  readonly now?: () => Date;
}

/** The barcode of a row that names none: a function of (import, row), so a resumed import assigns the same. */
export function plannedBarcode(importId: string, row: number): string {
  let round = 0;
  return generateBarcode((size) =>
    createHash('sha256').update(`vialog-import-barcode:${importId}:${row}:${round++}`).digest().subarray(0, size),
  );
}

/** A row as the deciders see it: its registration (barcode set), and its box (unit id) and position if any. */
interface RowCommand {
  readonly register: RegisterSample & { readonly data: { readonly barcode: string } };
  readonly place: { readonly unitId: string | undefined; readonly position: string } | null;
}

interface Box {
  readonly unitId: string;
  state: UnitState;
  readonly expected: ExpectedRevision;
  readonly ancestorKinds: readonly UnitKind[];
  readonly events: StorageEvent[];
}

const refused = (column: ImportColumn | null, message: string): CreateOutcome => ({
  ok: false,
  breach: { column, message },
});
const noBox = () => refused('box', 'no box of the lab by that id or path');
const ready = () => Promise.resolve(true);
const sampleCodec = { isType: isSampleEventType, parse: parseSampleEvent, schemaVersions: sampleEventSchemaVersions };

/** Creates import batches' samples (the worker's `createSamples`; app/modules.ts, app/cli-import.ts). */
export class ImportSampleCreator {
  readonly #deps: ImportSampleDeps;
  readonly #samples: CommandHandler<SampleCommand, SampleState, SampleEvent>;
  readonly #units: CommandHandler<UnitCommand, UnitState, StorageEvent>;

  constructor(deps: ImportSampleDeps) {
    this.#deps = deps;
    this.#samples = new CommandHandler({ store: deps.store, waitForReadModels: ready }, sampleDecider, sampleCodec);
    this.#units = new CommandHandler({ store: deps.store, waitForReadModels: ready }, unitDecider, storageEvents);
  }

  /** One outcome per planned sample, in order. */
  async create(job: ImportJob, ownerId: string, planned: readonly PlannedSample[]): Promise<CreateOutcome[]> {
    const rows = await this.#commands(job, ownerId, planned);
    const cause = systemCause('import', job.importId);
    try {
      return await this.#appendBatch(rows, cause);
    } catch (error) {
      if (!(error instanceof StreamConflictError)) throw error;
      const outcomes: CreateOutcome[] = [];
      for (const row of rows) outcomes.push(await this.#createOne(row, cause));
      return outcomes;
    }
  }

  async #commands(job: ImportJob, ownerId: string, planned: readonly PlannedSample[]): Promise<RowCommand[]> {
    const role = await this.#deps.roleIn(ownerId, job.labId);
    const boxes = await findBoxes(
      this.#deps.knex,
      job.labId,
      planned.flatMap((p) => (p.value.box === null ? [] : [p.value.box])),
    );
    const now = (this.#deps.now ?? (() => new Date()))();
    return planned.map(({ sampleId, row, value: v }): RowCommand => {
      const data = {
        sampleId,
        ownerId,
        labId: job.labId,
        role,
        sampleType: v.sampleType as SampleType,
        subjectId: v.subjectId,
        collectionDate: v.collectionDate,
        status: (v.status ?? undefined) as SampleStatus | undefined,
        notes: v.notes,
        barcode: v.barcode ?? plannedBarcode(job.importId, row),
        quantity: v.quantity ? { value: v.quantity.value, unit: v.quantity.unit as Unit } : null,
        now,
      };
      const place =
        v.box !== null && v.position !== null ? { unitId: boxes.get(v.box)?.unit_id, position: v.position } : null;
      return { register: { type: 'RegisterSample', data }, place };
    });
  }

  /** The whole batch decided in memory and appended at once; a conflict throws (nothing stored on PostgreSQL). */
  async #appendBatch(rows: readonly RowCommand[], cause: CommandCause): Promise<CreateOutcome[]> {
    const boxes = new Map<string, Box>();
    for (const unitId of new Set(rows.flatMap((r) => (r.place?.unitId ? [r.place.unitId] : []))))
      boxes.set(unitId, await this.#loadBox(unitId));
    const reservations: StreamAppend[] = [];
    const sampleStreams: StreamAppend[] = [];
    const outcomes = rows.map((row): CreateOutcome => {
      const decided = decideRow(row, row.place?.unitId ? boxes.get(row.place.unitId) : undefined);
      if (!Array.isArray(decided)) return decided;
      const { sampleId, labId, barcode, now } = row.register.data;
      const reservation = [reservationOf(row.register.data)];
      reservations.push(streamAppend(barcodeReservationStreamId(labId, barcode), reservation, cause, now, 'no_stream'));
      sampleStreams.push(streamAppend(sampleStream(sampleId), decided, cause, now, 'no_stream'));
      return { ok: true, created: true };
    });
    const at = rows[0]?.register.data.now ?? new Date();
    const claims = [...boxes.values()]
      .filter((b) => b.events.length > 0)
      .map((b) => streamAppend(unitStream(b.unitId), b.events, cause, at, b.expected));
    await this.#deps.store.appendMany([...reservations, ...claims, ...sampleStreams]);
    return outcomes;
  }

  /** One row through the single-stream pipeline: what exists already (its own) is taken as done. */
  async #createOne(row: RowCommand, cause: CommandCause): Promise<CreateOutcome> {
    const { sampleId, labId, sampleType, barcode, role, now } = row.register.data;
    if ((await this.#samples.load(sampleStream(sampleId))).state.kind !== 'none') return { ok: true, created: false };
    const registered = decideSample(row.register, initialSampleState());
    if (!registered.ok) return refused(null, registered.error.message);
    const unitId = row.place?.unitId;
    if (row.place && !unitId) return noBox();
    if (row.place && unitId) {
      const claim = async (state: UnitState) => {
        const ancestorKinds = isActiveUnit(state) ? await this.#ancestorKinds(state.parentId) : [];
        const data = { position: row.place!.position, sampleId, sampleLabId: labId, sampleType, ancestorKinds, now };
        return { type: 'ClaimSlot', data } as const;
      };
      try {
        await this.#units.handle(unitStream(unitId), claim, cause, { wait: false });
      } catch (error) {
        if (error instanceof DomainError) return refused('position', error.message);
        throw error;
      }
    }
    if (!(await this.#reserve(row, cause))) {
      const release = { type: 'ReleaseSlot', data: { sampleId, reason: 'abandoned', now } } as const;
      if (unitId) await this.#units.handle(unitStream(unitId), release, cause, { wait: false });
      return refused('barcode', barcodeTaken(barcode).message);
    }
    const state = registered.events.reduce(evolveSample, initialSampleState());
    const placed =
      row.place && unitId
        ? decideSample({ type: 'PlaceSample', data: { role, unitId, position: row.place.position, now } }, state).events
        : [];
    try {
      await this.#samples.append(sampleStream(sampleId), [...registered.events, ...placed], cause, 'no_stream');
      return { ok: true, created: true };
    } catch (error) {
      if (error instanceof StreamConflictError) return { ok: true, created: false };
      throw error;
    }
  }

  /** The barcode's reservation for this sample: made now, or made before by this same sample. */
  async #reserve(row: RowCommand, cause: CommandCause): Promise<boolean> {
    const { labId, barcode, sampleId } = row.register.data;
    const stream = barcodeReservationStreamId(labId, barcode);
    try {
      await this.#samples.append(stream, [reservationOf(row.register.data)], cause, 'no_stream');
      return true;
    } catch (error) {
      if (!(error instanceof StreamConflictError)) throw error;
      const [first] = await this.#deps.store.readStream(stream, { maxCount: 1 });
      return (first?.data as { sampleId?: unknown } | undefined)?.sampleId === sampleId;
    }
  }

  async #loadBox(unitId: string): Promise<Box> {
    const { state, expected } = await this.#units.load(unitStream(unitId));
    const ancestorKinds = isActiveUnit(state) ? await this.#ancestorKinds(state.parentId) : [];
    return { unitId, state, expected, ancestorKinds, events: [] };
  }

  /** The kinds of the units above a box, nearest first (the tissue rule), read from their streams. */
  async #ancestorKinds(parentId: string | null): Promise<UnitKind[]> {
    const kinds: UnitKind[] = [];
    for (let next = parentId; next !== null && kinds.length < 16;) {
      const { state } = await this.#units.load(unitStream(next));
      if (!isActiveUnit(state)) break;
      kinds.push(state.kind);
      next = state.parentId;
    }
    return kinds;
  }
}

function reservationOf(d: RowCommand['register']['data']): SampleEvent {
  const data = {
    sampleId: d.sampleId,
    ownerId: d.ownerId,
    labId: d.labId,
    barcode: d.barcode,
    reservedAt: d.now.toISOString(),
  };
  return { type: 'SampleBarcodeReserved', data };
}

/** A row's sample events, its box's claim added to `box`; a refusal as the row's outcome. */
function decideRow(row: RowCommand, box: Box | undefined): CreateOutcome | SampleEvent[] {
  const registered = decideSample(row.register, initialSampleState());
  if (!registered.ok) return refused(null, registered.error.message);
  if (!row.place) return [...registered.events];
  if (!box) return noBox();
  const { sampleId, labId, sampleType, role, now } = row.register.data;
  const { position } = row.place;
  const ancestorKinds = box.ancestorKinds;
  const claimData = { position, sampleId, sampleLabId: labId, sampleType, ancestorKinds, now };
  const claim = decideUnit({ type: 'ClaimSlot', data: claimData }, box.state);
  if (!claim.ok) return refused('position', claim.error.message);
  const state = registered.events.reduce(evolveSample, initialSampleState());
  const placed = decideSample({ type: 'PlaceSample', data: { role, unitId: box.unitId, position, now } }, state);
  if (!placed.ok) return refused('position', placed.error.message);
  box.state = claim.events.reduce(evolveUnit, box.state);
  box.events.push(...claim.events);
  return [...registered.events, ...placed.events];
}

/** Events as the store takes them, checked as the command pipeline checks what it appends. */
function streamAppend(
  streamId: string,
  events: readonly (SampleEvent | StorageEvent)[],
  cause: CommandCause,
  at: Date,
  expectedRevision: ExpectedRevision,
): StreamAppend {
  const stored = events.map((e): NewEvent => {
    const isSample = isSampleEventType(e.type);
    const version = isSample ? sampleEventSchemaVersions[e.type] : storageEvents.schemaVersions[e.type];
    const metadata = eventMetadata(cause, version, at);
    assertStorableEvent(e.type, e.data, metadata);
    if (isSample) parseSampleEvent(e.type, e.data);
    else storageEvents.parse(e.type, e.data);
    return { type: e.type, data: e.data, metadata };
  });
  return { streamId, events: stored, expectedRevision };
}

/** What the imports module needs of the samples and storage modules (the worker's `samples`). */
export function importSamplePorts(knex: Knex, store: EventStore, roleIn: RoleIn) {
  const creator = new ImportSampleCreator({ knex, store, roleIn });
  return {
    rules: importRowRules(),
    lookups: (labId: string) => importLabLookups(knex, labId),
    createSamples: (job: ImportJob, ownerId: string, samples: readonly PlannedSample[]) =>
      creator.create(job, ownerId, samples),
  };
}
