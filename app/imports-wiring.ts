// What the imports module needs from other modules, wired here (modules do not import each other):
//   - the rules of POST /samples over a row: the API's contract rules, then the samples module's
//     own (its sample types, its field rules), so an import accepts nothing POST /samples refuses;
//   - the lab's places, from the storage read model (a box by unit id or path, its grid, its slots);
//   - the lab's barcodes, from the samples read model (the reservation streams have the last word
//     when the sample is created: app/imports-batch.ts creates the samples).
import type { Knex } from 'knex';
import type { ImportColumn } from '../modules/imports/columns.ts';
import { contractRowRules } from '../modules/imports/contract-rules.ts';
import type { LabLookups, PlaceAnswer, RowRules, RuleBreach } from '../modules/imports/rules.ts';
import { normaliseBarcode, sampleTypes, type SampleType } from '../modules/samples/events.ts';
import { queryUnscoped } from '../platform/database/owner-scope.ts';
import { validateSampleFields } from '../modules/samples/rules.ts';
import { parsePosition } from '../modules/storage/grid.ts';

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

/** The lab's boxes these names denote (a unit id or a path), each under every name it answers to. */
export async function findBoxes(knex: Knex, labId: string, names: readonly string[]): Promise<Map<string, BoxRow>> {
  const byName = new Map<string, BoxRow>();
  const unique = [...new Set(names)];
  if (unique.length === 0) return byName;
  const ids = unique.filter((n) => /^[0-9a-f-]{36}$/i.test(n)).map((n) => n.toLowerCase());
  const boxes = await knex('storage_units')
    .where({ lab_id: labId, kind: 'box' })
    .whereNull('removed_at')
    .andWhere((q) => {
      void q.whereIn('path', unique).orWhereIn('unit_id', ids);
    })
    .select<BoxRow[]>('unit_id', 'path', 'grid_rows', 'grid_columns');
  for (const b of boxes) byName.set(b.unit_id, b).set(b.path, b);
  for (const name of unique) {
    const box = byName.get(name.toLowerCase());
    if (box) byName.set(name, box);
  }
  return byName;
}

/** The lab's barcodes (the samples read model) and places (the storage read model). */
export function importLabLookups(knex: Knex, labId: string): LabLookups {
  return {
    async knownBarcodes(barcodes) {
      if (barcodes.length === 0) return new Set();
      const [rows] = await queryUnscoped<[{ barcode_key: string }[]]>(knex, [
        {
          sql: `SELECT barcode_key FROM samples WHERE lab_id = $1::uuid AND deleted_at IS NULL
                  AND barcode_key IN (SELECT jsonb_array_elements_text($2::jsonb))`,
          params: [labId, JSON.stringify(barcodes.map(normaliseBarcode))],
        },
      ]);
      return new Set(rows.map((r) => r.barcode_key.toLowerCase()));
    },
    async positionFree(places) {
      const byName = await findBoxes(
        knex,
        labId,
        places.map((p) => p.box),
      );
      const boxIds = [...new Set([...byName.values()].map((b) => b.unit_id))];
      const taken = await knex('storage_slots')
        .whereIn('unit_id', boxIds)
        .select<{ unit_id: string; position: string }[]>('unit_id', 'position');
      const occupied = new Set(taken.map((t) => `${t.unit_id} ${t.position}`));
      return places.map((p): PlaceAnswer => {
        const box = byName.get(p.box);
        if (!box) return { state: 'unknown_box' };
        const grid = box.grid_rows && box.grid_columns ? { rows: box.grid_rows, columns: box.grid_columns } : null;
        if (!grid || !parsePosition(p.position, grid)) return { state: 'invalid_position' };
        const state = occupied.has(`${box.unit_id} ${p.position}`) ? 'occupied' : 'free';
        return { state, unitId: box.unit_id };
      });
    },
  };
}
