// Several processes resuming the same kept import at start: each job is claimed with an advisory
// lock, so exactly one worker runs it and the other passes (two workers on one database stand for
// two API processes).
import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Logger } from 'pino';
import { createKnex } from '../../platform/database/knex.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { contractRowRules } from '../../modules/imports/contract-rules.ts';
import { importJobs } from '../../modules/imports/module.ts';
import type { CreateOutcome, PlannedSample } from '../../modules/imports/runner.ts';
import * as files from '../../modules/imports/store.ts';
import { importStream } from '../../modules/imports/events.ts';
import { createTestDatabase } from '../support/database.ts';

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';
const ROWS = 60;

test('two workers given the same job: one claims and runs it, the other passes', async (t) => {
  const db = await createTestDatabase('vialog_import_claim');
  const knex = createKnex({ url: db.url });
  await migrateToLatest(knex);
  const store = openPostgresEventStore({ url: db.url, pollIntervalMs: 100 });
  try {
    const created: string[] = [];
    const errors: unknown[] = [];
    const logger = { error: (...args: unknown[]) => errors.push(args) } as unknown as Logger;
    const samples = {
      rules: contractRowRules(),
      lookups: () => ({
        knownBarcodes: () => Promise.resolve(new Set<string>()),
        positionFree: () => Promise.resolve([]),
      }),
      async createSamples(_job: unknown, _owner: string, batch: readonly PlannedSample[]): Promise<CreateOutcome[]> {
        created.push(...batch.map((s) => s.sampleId));
        await new Promise((resolve) => setTimeout(resolve, 50)); // long enough for the other worker to try
        // "There already": no sample events here, so the job's count (from the log) stays 0 as well.
        return batch.map(() => ({ ok: true, created: false }));
      },
    };
    const worker = () =>
      importJobs({
        knex,
        store,
        logger,
        databaseUrl: db.url,
        waitForProjections: () => Promise.resolve(true),
        samples,
      });
    const [a, b] = [worker(), worker()];
    const importId = randomUUID();
    const labId = randomUUID();
    const rows = Array.from({ length: ROWS }, (_, i) => `,blood,P${100 + i},2026-01-05,,,,,,`);
    await files.keepFile(knex, importId, labId, labId, Buffer.from(`${HEADER}\n${rows.join('\n')}\n`));
    const data = {
      importId,
      labId,
      sha256: 'a'.repeat(64),
      bytes: 1,
      mode: 'best-effort' as const,
      dryRun: false,
      allowDuplicate: false,
      priorImports: [],
      now: new Date(),
    };
    await a.commands.execute(importId, { type: 'SubmitImport', data }, systemCause());
    a.worker.submit(importId);
    b.worker.submit(importId);
    await Promise.all([a.worker.idle(), b.worker.idle()]);
    t.deepEqual(errors, []);
    t.is(created.length, ROWS, 'every row tried once');
    t.is(new Set(created).size, ROWS);
    const types = (await store.readStream(importStream(importId))).map((e) => e.type);
    t.is(types.filter((type) => type === 'ImportStarted').length, 1);
    t.is(types.at(-1), 'ImportCompleted');
  } finally {
    await store.close();
    await knex.destroy();
    await db.drop();
  }
});
