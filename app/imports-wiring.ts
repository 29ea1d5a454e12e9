// What the imports module needs from other modules, wired here (modules do not import each other):
//   - the rules of POST /samples over a row: the API's contract rules, then the samples module's
//     own (its sample types, its field rules), so an import accepts nothing POST /samples refuses;
//   - the lab's places, from the storage read model (a box by unit id or path, its grid, its slots);
//   - sample creation through the samples decider on the one command pipeline, with the row's
//     planned id and the import id as correlation id ("there already" for an existing id).
// Samples on main have no barcode, quantity or placement yet: those columns are validated but not
// stored until the samples module carries them.
import type { Knex } from 'knex';
import { CommandHandler } from '../platform/commands/handler.ts';
import { DomainError } from '../platform/commands/decision.ts';
import { systemCause } from '../platform/eventstore/metadata.ts';
import type { EventStore } from '../platform/eventstore/port.ts';
import type { ImportColumn } from '../modules/imports/columns.ts';
import { contractRowRules } from '../modules/imports/contract-rules.ts';
import type { ImportJob } from '../modules/imports/decide.ts';
import type { LabLookups, PlaceAnswer, RowRules, RuleBreach } from '../modules/imports/rules.ts';
import type { CreateOutcome, PlannedSample } from '../modules/imports/runner.ts';
import { sampleDecider, type LabRole } from '../modules/samples/decide.ts';
import {
  isSampleEventType,
  parseSampleEvent,
  sampleEventSchemaVersions,
  sampleStream,
  sampleTypes,
  type SampleStatus,
  type SampleType,
} from '../modules/samples/events.ts';
import { validateSampleFields } from '../modules/samples/rules.ts';
import { parsePosition } from '../modules/storage/grid.ts';

type RoleIn = (userId: string, labId: string) => Promise<LabRole | undefined>;

const columnOf: Readonly<Record<string, ImportColumn>> = {
  sampleType: 'sampleType',
  subjectId: 'subjectId',
  collectionDate: 'collectionDate',
  notes: 'notes',
  storageLocation: 'box',
};

/** The contract's rules, then the samples module's on what they did not already refuse. */
export function importRowRules(now: () => Date = () => new Date(), maxAgeYears = 10): RowRules {
  const contract = contractRowRules(now, maxAgeYears);
  return {
    check(row) {
      const breaches: RuleBreach[] = [...contract.check(row)];
      const seen = new Set(breaches.map((b) => b.column));
      const add = (b: RuleBreach) => {
        if (seen.has(b.column)) return;
        breaches.push(b);
        seen.add(b.column);
      };
      if (!(sampleTypes as readonly string[]).includes(row.sampleType))
        add({ column: 'sampleType', message: `must be one of ${sampleTypes.join(', ')}` });
      const fields = { ...row, sampleType: row.sampleType as SampleType, storageLocation: null };
      for (const e of validateSampleFields(fields, now()))
        add({ column: columnOf[e.path] ?? 'sampleType', message: e.message });
      return breaches;
    },
  };
}

interface BoxRow {
  unit_id: string;
  path: string;
  grid_rows: number | null;
  grid_columns: number | null;
}

/** The lab's barcodes (none until samples carry one) and places (the storage read model). */
export function importLabLookups(knex: Knex, labId: string): LabLookups {
  return {
    knownBarcodes: () => Promise.resolve(new Set()),
    async positionFree(places) {
      const names = [...new Set(places.map((p) => p.box))];
      const ids = names.filter((n) => /^[0-9a-f-]{36}$/i.test(n)).map((n) => n.toLowerCase());
      const boxes = await knex('storage_units')
        .where({ lab_id: labId, kind: 'box' })
        .whereNull('removed_at')
        .andWhere((q) => {
          void q.whereIn('path', names).orWhereIn('unit_id', ids);
        })
        .select<BoxRow[]>('unit_id', 'path', 'grid_rows', 'grid_columns');
      const byName = new Map<string, BoxRow>();
      for (const b of boxes) byName.set(b.unit_id, b).set(b.path, b);
      const taken = await knex('storage_slots')
        .whereIn(
          'unit_id',
          boxes.map((b) => b.unit_id),
        )
        .select<{ unit_id: string; position: string }[]>('unit_id', 'position');
      const occupied = new Set(taken.map((t) => `${t.unit_id} ${t.position}`));
      return places.map((p): PlaceAnswer => {
        const box = byName.get(p.box) ?? byName.get(p.box.toLowerCase());
        if (!box) return { state: 'unknown_box' };
        const grid = box.grid_rows && box.grid_columns ? { rows: box.grid_rows, columns: box.grid_columns } : null;
        if (!grid || !parsePosition(p.position, grid)) return { state: 'invalid_position' };
        const state = occupied.has(`${box.unit_id} ${p.position}`) ? 'occupied' : 'free';
        return { state, unitId: box.unit_id };
      });
    },
  };
}

/** Creates a row's sample, as its submitter, through the samples decider (no read-model wait per row). */
export function importSampleCreator(store: EventStore, roleIn: RoleIn) {
  const samples = new CommandHandler({ store, waitForReadModels: () => Promise.resolve(true) }, sampleDecider, {
    isType: isSampleEventType,
    parse: parseSampleEvent,
    schemaVersions: sampleEventSchemaVersions,
  });
  return async (job: ImportJob, ownerId: string, sample: PlannedSample): Promise<CreateOutcome> => {
    const stream = sampleStream(sample.sampleId);
    const known = await samples.load(stream);
    if (known.state.kind !== 'none') return { ok: true, created: false };
    const v = sample.value;
    const data = {
      sampleId: sample.sampleId,
      ownerId,
      labId: job.labId,
      role: await roleIn(ownerId, job.labId),
      sampleType: v.sampleType as SampleType,
      subjectId: v.subjectId,
      collectionDate: v.collectionDate,
      status: (v.status ?? undefined) as SampleStatus | undefined,
      notes: v.notes,
      now: new Date(),
    };
    try {
      await samples.handle(stream, { type: 'RegisterSample', data }, systemCause('import', job.importId), {
        known,
        wait: false,
      });
      return { ok: true, created: true };
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return { ok: false, breach: { column: null, message: error.message } };
    }
  };
}
