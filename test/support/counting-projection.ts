// A small read model for engine tests: events per stream, written idempotently.
import type { Projection } from '../../projections/engine/index.ts';

export function countingProjection(options: { name?: string; version?: number; weight?: number } = {}): Projection {
  const weight = options.weight ?? 1;
  return {
    name: options.name ?? 'test_counts',
    version: options.version ?? 1,
    eventTypes: ['Counted'],
    tables: {
      test_counts: (table) => `CREATE TABLE "${table}" (
        stream_id text CONSTRAINT "${table}_pkey" PRIMARY KEY,
        events integer NOT NULL,
        weighted integer NOT NULL,
        last_revision integer NOT NULL)`,
    },
    async apply(events, { trx, table }) {
      for (const event of events) {
        // Guarded upsert: an event at or below the stored revision changes nothing.
        await trx.raw(
          `INSERT INTO "${table('test_counts')}" AS t (stream_id, events, weighted, last_revision) VALUES (?, 1, ?, ?)
           ON CONFLICT (stream_id) DO UPDATE SET events = t.events + 1, weighted = t.weighted + EXCLUDED.weighted, last_revision = EXCLUDED.last_revision
           WHERE t.last_revision < EXCLUDED.last_revision`,
          [event.streamId, weight, event.revision],
        );
      }
    },
  };
}
