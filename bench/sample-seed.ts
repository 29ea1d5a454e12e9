// Seeding for bench:samples: the same samples either as SampleRegistered events through the event
// store (the projection builds the read model, as in production), or written by PostgreSQL
// straight into the samples read model, row for row what the projection would write
// (projections/samples/samples-read-model.ts) and the statistics aggregated from those rows.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { sampleStatuses, sampleTypes } from '../modules/samples/events.ts';
import { eventMetadata } from '../platform/eventstore/metadata.ts';
import { comparePositions, type EventStore, type Position } from '../platform/eventstore/port.ts';
import { Progress } from '../platform/progress.ts';

const types = ['blood', 'saliva', 'tissue'] as const;
const statuses = ['collected', 'processing', 'archived'] as const;
const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

/** The i-th seeded sample's registration: three types, three statuses, 500 subjects, 1,500 days. */
export function registration(i: number, ownerId: string): Record<string, unknown> {
  const sampleType = types[i % 3]!;
  return {
    sampleId: randomUUID(),
    ownerId,
    sampleType,
    subjectId: `P${String(100 + (i % 500))}`,
    collectionDate: day(i % 1500),
    status: statuses[(i >> 2) % 3]!,
    storageLocation: sampleType === 'tissue' ? 'freezer-1-rowA' : 'shelf-1',
    notes: null,
    registeredAt: new Date().toISOString(),
  };
}

/** Appends one SampleRegistered per item, 48 writers at once (each its own command); the last position. */
export async function appendRegistrations<Item>(
  store: EventStore,
  work: Item[],
  event: (item: Item) => { data: Record<string, unknown>; actorId: string; schemaVersion: number },
): Promise<Position> {
  const progress = new Progress('seeding samples (events)', work.length);
  let last: Position | undefined;
  let done = 0;
  await Promise.all(
    Array.from({ length: 48 }, async () => {
      for (let item = work.pop(); item !== undefined; item = work.pop()) {
        const { data, actorId, schemaVersion } = event(item);
        const cause = { actorId, actorType: 'user' as const, requestId: null, correlationId: null };
        const metadata = eventMetadata({ ...cause, causationId: null, traceparent: null, reason: null }, schemaVersion);
        const result = await store.append(
          `sample-${String(data.sampleId)}`,
          [{ type: 'SampleRegistered', data, metadata }],
          { expectedRevision: 'no_stream' },
        );
        if (!last || comparePositions(result.position, last) > 0) last = result.position;
        progress.update(++done);
      }
    }),
  );
  progress.done();
  return last!;
}

// registration(i) in SQL, for i in 0 … $3 − 1 (dates in UTC, as the events carry them).
const SEED_LAB_SQL = `
INSERT INTO samples (sample_id, lab_id, owner_id, sample_type, subject_id, collection_date, status, storage_location,
                     notes, created_at, updated_at, version)
SELECT gen_random_uuid(), $1::uuid, $2::uuid, (ARRAY['blood', 'saliva', 'tissue'])[i % 3 + 1], 'P' || (100 + i % 500),
       (now() AT TIME ZONE 'UTC')::date - (i % 1500), (ARRAY['collected', 'processing', 'archived'])[(i >> 2) % 3 + 1],
       CASE WHEN i % 3 = 2 THEN 'freezer-1-rowA' ELSE 'shelf-1' END, NULL, now(), now(), 1
FROM generate_series(0, $3::int - 1) AS i`;

const countColumns = ['total', ...sampleStatuses, ...sampleTypes];
const counts = [
  'count(*)',
  ...sampleStatuses.map((s) => `count(*) FILTER (WHERE status = '${s}')`),
  ...sampleTypes.map((t) => `count(*) FILTER (WHERE sample_type = '${t}')`),
];

/**
 * Writes `count` samples into each lab's share of the read model, then the labs' statistics and
 * daily counts from those rows (the labs must have none yet). Seconds, where the events take an hour.
 */
export async function seedLabTables(
  pool: pg.Pool,
  ownerId: string,
  labs: readonly { labId: string; count: number }[],
): Promise<void> {
  const progress = new Progress(
    'seeding samples (read model)',
    labs.reduce((n, l) => n + l.count, 0),
  );
  let done = 0;
  for (const { labId, count } of labs) {
    await pool.query(SEED_LAB_SQL, [labId, ownerId, count]);
    progress.update((done += count));
  }
  progress.done();
  const ids = labs.map((l) => l.labId);
  await pool.query(
    `INSERT INTO sample_stats (lab_id, ${countColumns.join(', ')})
     SELECT lab_id, ${counts.join(', ')} FROM samples
      WHERE lab_id = ANY($1::uuid[]) AND deleted_at IS NULL GROUP BY lab_id`,
    [ids],
  );
  await pool.query(
    `INSERT INTO sample_daily_counts (lab_id, collection_date, samples)
     SELECT lab_id, collection_date, count(*) FROM samples
      WHERE lab_id = ANY($1::uuid[]) AND deleted_at IS NULL GROUP BY lab_id, collection_date`,
    [ids],
  );
}
