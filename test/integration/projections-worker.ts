// A projector in a child process, so a test can kill -9 it mid-stream.
// Usage: node test/integration/projections-worker.ts <databaseUrl> <batchSize>
import { createKnex } from '../../platform/database/knex.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { ProjectionEngine } from '../../projections/engine/index.ts';
import { countingProjection } from './projections-fixtures.ts';

const [url, batchSize] = process.argv.slice(2);
if (!url) throw new Error('usage: projections-worker.ts <databaseUrl> <batchSize>');
const knex = createKnex({ url, poolMax: 3 });
const store = openPostgresEventStore({ url, pollIntervalMs: 100, poolMax: 2 });
// Slow batches, so the kill lands mid-stream.
const projection = countingProjection({
  beforeApply: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20),
});
const engine = new ProjectionEngine({
  projections: [projection],
  store,
  knex,
  databaseUrl: url,
  batchSize: Number(batchSize ?? 10),
  pollIntervalMs: 100,
});
engine.start();
console.log('worker started');
