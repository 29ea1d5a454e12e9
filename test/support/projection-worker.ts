// A projector in a child process, so a test can kill -9 it mid-stream.
// Usage: node test/support/projection-worker.ts <databaseUrl> <batchSize>
import { createKnex } from '../../platform/database/knex.ts';
import { openPostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { ProjectionEngine } from '../../projections/engine/index.ts';
import { countingProjection } from './counting-projection.ts';

const [url, batchSize] = process.argv.slice(2);
if (!url) throw new Error('usage: projection-worker.ts <databaseUrl> <batchSize>');
const knex = createKnex({ url });
const store = openPostgresEventStore({ url, pollIntervalMs: 100 });
const engine = new ProjectionEngine({ projections: [countingProjection()], store, knex, databaseUrl: url, batchSize: Number(batchSize ?? 10), pollIntervalMs: 100 });
engine.start();
console.log('worker started');
