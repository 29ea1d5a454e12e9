// The import runner against in-memory ports: the event stream folded by the real decider, a fake
// sample store keyed by sample id with the correlation id of each sample. Both modes, the dry run,
// cancellation, and a crash in the middle followed by a restart that resumes or ends failed.
import test from 'ava';
import { DomainError, eventsOrThrow } from '../../platform/commands/decision.ts';
import { contractRowRules } from '../../modules/imports/contract-rules.ts';
import type { RefusedRow } from '../../modules/imports/columns.ts';
import { importDecider, type ImportCommand, type ImportState } from '../../modules/imports/decide.ts';
import type { ImportEvent, ImportMode } from '../../modules/imports/events.ts';
import type { LabLookups } from '../../modules/imports/rules.ts';
import {
  plannedSampleId,
  runImport,
  type CreateOutcome,
  type ImportPorts,
  type PlannedSample,
} from '../../modules/imports/runner.ts';

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';
const now = () => new Date('2026-11-22T10:00:00Z');
const labId = '66666666-6666-4666-8666-666666666666';
const freeLab: LabLookups = {
  knownBarcodes: () => Promise.resolve(new Set()),
  positionFree: (places) => Promise.resolve(places.map((p) => ({ state: 'free' as const, unitId: p.box }))),
};
const fileOf = (n: number, bad: readonly number[] = []) =>
  `${HEADER}\n${Array.from({ length: n }, (_, i) => `S-${i},${bad.includes(i) ? 'urine' : 'blood'},P001,2026-11-01,,,,,,`).join('\n')}\n`;

/** An event stream per import, a sample store, and a switch to "crash" after some creations. */
class World {
  readonly events = new Map<string, ImportEvent[]>();
  readonly samples = new Map<string, { correlationId: string; barcode: string | null }>();
  readonly refused = new Map<number, RefusedRow>();
  files = new Map<string, string>();
  crashAfter = Infinity;
  refuseBarcode: string | null = null;
  onBatch: (() => void) | undefined;
  lab: LabLookups = freeLab;

  state(importId: string): ImportState {
    return (this.events.get(importId) ?? []).reduce(importDecider.evolve, importDecider.initialState());
  }

  run(id: string, command: ImportCommand): ImportState {
    const events = eventsOrThrow(importDecider.decide(command, this.state(id)));
    this.events.set(id, [...(this.events.get(id) ?? []), ...events]);
    if (command.type === 'RecordProgress') this.onBatch?.();
    return this.state(id);
  }

  submit(importId: string, csv: string, mode: ImportMode, dryRun = false) {
    this.files.set(importId, csv);
    const data = {
      importId,
      labId,
      sha256: 'a'.repeat(64),
      bytes: csv.length,
      mode,
      dryRun,
      allowDuplicate: false,
      priorImports: [],
      now: now(),
    };
    this.run(importId, { type: 'SubmitImport', data });
  }

  create(sample: PlannedSample, correlationId: string): Promise<CreateOutcome> {
    if (this.samples.has(sample.sampleId)) return Promise.resolve({ ok: true, created: false });
    if (this.samples.size >= this.crashAfter) return Promise.reject(new Error('killed'));
    if (sample.value.barcode === this.refuseBarcode) {
      return Promise.resolve({ ok: false, breach: { column: 'barcode', message: 'barcode taken meanwhile' } });
    }
    this.samples.set(sample.sampleId, { correlationId, barcode: sample.value.barcode });
    return Promise.resolve({ ok: true, created: true });
  }

  ports(batchSize = 3): ImportPorts {
    return {
      load: (id) => Promise.resolve(this.state(id)),
      execute: (id, command) => Promise.resolve(this.run(id, command)),
      file: (job) => {
        const csv = this.files.get(job.importId);
        return csv === undefined ? undefined : [Buffer.from(csv)];
      },
      validation: { rules: contractRowRules(now), lookups: this.lab, batchSize: 4 },
      createSamples: async (samples, correlationId) => {
        const outcomes: CreateOutcome[] = [];
        for (const sample of samples) outcomes.push(await this.create(sample, correlationId));
        return outcomes;
      },
      countCreated: (id) => Promise.resolve([...this.samples.values()].filter((s) => s.correlationId === id).length),
      recordRefused: (_id, rows) => {
        for (const r of rows) this.refused.set(r.row, r);
        return Promise.resolve();
      },
      refusedRows: () =>
        Promise.resolve(
          new Set([...this.refused.values()].filter((r) => r.errors[0]?.code !== 'refused').map((r) => r.row)),
        ),
      now,
      batchSize,
    };
  }

  types(id: string) {
    return (this.events.get(id) ?? []).map((e) => e.type);
  }
}

const ID = '55555555-5555-4555-8555-555555555555';

test('atomic, all rows valid: every row becomes a sample carrying the import id, and the job completes', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10), 'atomic');
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'completed', created: 10, rows: 10, validRows: 10 });
  t.is(world.samples.size, 10);
  t.true([...world.samples.values()].every((s) => s.correlationId === ID));
  t.deepEqual(world.types(ID), [
    'ImportSubmitted',
    'ImportValidated',
    'ImportStarted',
    ...Array(4).fill('ImportProgressed'),
    'ImportCompleted',
  ]);
});

test('atomic with one refused row: nothing is created and the job fails', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10, [7]), 'atomic');
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'failed', created: 0, invalidRows: 1 });
  t.is(world.samples.size, 0);
  t.deepEqual([...world.refused.keys()], [9]);
});

test('best-effort: the valid rows are created, the refused ones kept for errors.csv', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10, [2, 5]), 'best-effort');
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'completed', created: 8, validRows: 8, invalidRows: 2 });
  t.deepEqual([...world.refused.keys()], [4, 7]);
});

test('best-effort: a row the lab refused at validation (barcode taken) is not tried again', async (t) => {
  const world = new World();
  world.lab = { ...freeLab, knownBarcodes: (b) => Promise.resolve(new Set(b.filter((x) => x === 's-3'))) };
  world.submit(ID, fileOf(6), 'best-effort');
  t.like(await runImport(ID, world.ports()), { status: 'completed', created: 5, refused: 0, invalidRows: 1 });
  t.false([...world.samples.values()].some((s) => s.barcode === 'S-3'));
  t.like(world.refused.get(5)?.errors[0], { code: 'barcode_taken' });
});

test('a dry run ends at validated and writes nothing', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10, [2]), 'best-effort', true);
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'validated', validRows: 9, invalidRows: 1, created: 0 });
  t.is(world.samples.size, 0);
});

test('a row refused at creation is reported in best-effort and fails an atomic import with the exact count', async (t) => {
  const effort = new World();
  effort.refuseBarcode = 'S-4';
  effort.submit(ID, fileOf(10), 'best-effort');
  t.like(await runImport(ID, effort.ports()), { status: 'completed', created: 9, refused: 1 });
  t.like(effort.refused.get(6)?.errors[0], { code: 'refused', column: 'barcode' });

  const atomic = new World();
  atomic.refuseBarcode = 'S-4';
  atomic.submit(ID, fileOf(10), 'atomic');
  // The batch holding the refused row (rows of 3: S-3, S-4, S-5) is created but for that row.
  t.like(await runImport(ID, atomic.ports()), { status: 'failed', created: 5 });
  t.is(atomic.samples.size, 5);
});

test('a file that cannot be read ends the job failed at validation', async (t) => {
  const world = new World();
  world.submit(ID, 'barcode,colour\n', 'best-effort');
  t.like(await runImport(ID, world.ports()), { status: 'failed', created: 0 });
  t.like(world.events.get(ID)?.at(-1), { type: 'ImportFailed', data: { code: 'file_unreadable' } });
});

test('a cancel request stops the import between batches, with the exact count created', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10), 'best-effort');
  world.onBatch = () => {
    world.onBatch = undefined;
    world.run(ID, { type: 'CancelImport', data: { now: now() } });
  };
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'cancelled', created: 3 });
  t.is(world.samples.size, 3);
});

test('killed in the middle, then restarted: it resumes, creates no row twice, and created equals the samples that exist', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10), 'atomic');
  world.crashAfter = 5; // dies in the second batch, after a progress event at 3
  await t.throwsAsync(runImport(ID, world.ports()), { message: 'killed' });
  t.like(world.state(ID), { status: 'importing', created: 3 });
  t.is(world.samples.size, 5);

  world.crashAfter = Infinity;
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'completed', created: 10 });
  t.is(world.samples.size, 10);
  t.true(world.types(ID).includes('ImportResumed'));
  const ids = Array.from({ length: 10 }, (_, i) => plannedSampleId(ID, i + 2));
  t.deepEqual([...world.samples.keys()].sort(), ids.sort());
});

test('a row refused at creation just before a crash is tried again on resume and counted once', async (t) => {
  const world = new World();
  world.refuseBarcode = 'S-4';
  world.submit(ID, fileOf(10), 'best-effort');
  world.crashAfter = 5; // S-0…S-2 checkpointed, S-3 created, S-4 refused, S-5 created, then killed
  await t.throwsAsync(runImport(ID, world.ports()));
  world.crashAfter = Infinity;
  t.like(await runImport(ID, world.ports()), { status: 'completed', created: 9, refused: 1 });
});

test('restarted with its file gone, it ends failed with the exact count of samples that exist', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(10), 'best-effort');
  world.crashAfter = 5;
  await t.throwsAsync(runImport(ID, world.ports()));
  world.files.delete(ID);
  const job = await runImport(ID, world.ports());
  t.like(job, { status: 'failed', created: 5 });
  t.like(world.events.get(ID)?.at(-1), { type: 'ImportFailed', data: { code: 'interrupted', created: 5 } });
});

test('a finished job is left as it is', async (t) => {
  const world = new World();
  world.submit(ID, fileOf(2), 'atomic');
  await runImport(ID, world.ports());
  const before = world.types(ID).length;
  t.like(await runImport(ID, world.ports()), { status: 'completed' });
  t.is(world.types(ID).length, before);
});

test('planned sample ids are UUIDs, stable per import and row, and differ between rows and imports', (t) => {
  const a = plannedSampleId(ID, 2);
  t.regex(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.is(plannedSampleId(ID, 2), a);
  t.not(plannedSampleId(ID, 3), a);
  t.not(plannedSampleId('77777777-7777-4777-8777-777777777777', 2), a);
});

test('an unknown import id is not_found', async (t) => {
  const error = await t.throwsAsync(runImport(ID, new World().ports()));
  t.true(error instanceof DomainError);
  t.like(error, { code: 'not_found' });
});
