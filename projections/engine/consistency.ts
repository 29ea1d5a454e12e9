// The consistency checker (`vialog verify-read-models`): replays the log into scratch copies of a
// projection's tables and compares them with the live tables, row for row, at the same position.
// The live tables move while we replay; a snapshot in which the checkpoint equals our replay
// position shows them exactly there (rows and checkpoint commit together), so the replay catches
// up to the live checkpoint until both meet, then compares inside that snapshot. The snapshot is
// taken after the live tables are locked (ACCESS SHARE), so a rebuild's swap cannot replace a table
// between the checkpoint read and the table reads. Events an operator skipped are skipped here too.
import type { Knex } from 'knex';
import {
  comparePositions,
  formatPosition,
  START,
  type EventStore,
  type Position,
} from '../../platform/eventstore/port.ts';
import { readCheckpoint, rowPosition } from './checkpoints.ts';
import { SafeTextError, safeError } from './errors.ts';
import { readSkippedEvents, type SkippedEvents } from './operations.ts';
import { tableNamer, type Projection } from './projection.ts';
import { createTables } from './tables.ts';

/** How long the comparison waits for the live tables (a swap in progress holds them briefly). */
const LOCK_TIMEOUT_MS = 10_000;

const SCRATCH_SUFFIX = '__check';

export interface TableDifference {
  readonly table: string;
  /** Rows in one and not the other (counted both ways). */
  readonly differences: number;
  /** A few of them, for the report. */
  readonly examples: readonly { side: 'live only' | 'replay only'; row: Record<string, unknown> }[];
}

export interface ConsistencyReport {
  readonly projection: string;
  readonly position: string;
  readonly eventsReplayed: number;
  readonly tables: readonly TableDifference[];
  readonly consistent: boolean;
}

async function replay(
  knex: Knex,
  store: EventStore,
  projection: Projection,
  range: { from: Position; to: Position; batchSize: number; skipped: SkippedEvents },
): Promise<{ position: Position; applied: number }> {
  const { from, to, batchSize, skipped } = range;
  const scratch = tableNamer(projection, (name) => `${name}${SCRATCH_SUFFIX}`);
  let position = from;
  let applied = 0;
  for (;;) {
    const page = await store.readAll({ after: position, maxCount: batchSize, eventTypes: projection.eventTypes });
    const events = page.filter((e) => comparePositions(e.position, to) <= 0);
    const kept = skipped.filter(events);
    if (kept.length > 0) {
      // The error's class only: a driver's message can quote the event's content.
      await knex
        .transaction((trx) => projection.apply(kept, { trx, table: scratch }))
        .catch((error: unknown) => {
          throw new SafeTextError(`${projection.name}: replay failed: ${safeError(error).text}`);
        });
    }
    applied += kept.length;
    if (events.length > 0) {
      position = events.at(-1)!.position;
    }
    if (events.length < page.length || page.length < batchSize) return { position: to, applied };
  }
}

export interface CheckOptions {
  readonly batchSize?: number;
  readonly attempts?: number;
  /** Tests only: runs inside the comparison's snapshot, after the checkpoint was read, before the tables are. */
  readonly inSnapshot?: () => Promise<void>;
}

export async function checkProjection(
  knex: Knex,
  store: EventStore,
  projection: Projection,
  options: CheckOptions = {},
): Promise<ConsistencyReport> {
  const batchSize = options.batchSize ?? 2_000;
  const tables = Object.keys(projection.tables);
  const skipped = await readSkippedEvents(store, projection.name);
  await createTables(knex, projection, (name) => `${name}${SCRATCH_SUFFIX}`);
  try {
    let position = START;
    let applied = 0;
    for (let attempt = 0; attempt < (options.attempts ?? 20); attempt++) {
      const live = rowPosition(await readCheckpoint(knex, projection.name));
      if (comparePositions(live, position) > 0) {
        const r = await replay(knex, store, projection, { from: position, to: live, batchSize, skipped });
        position = r.position;
        applied += r.applied;
      }
      const report = await knex.transaction(
        async (trx) => {
          // Before the first read (which takes the snapshot): no swap can replace a table until we commit.
          await trx.raw(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
          await trx.raw(`LOCK TABLE ${tables.map((t) => `"${t}"`).join(', ')} IN ACCESS SHARE MODE`);
          const now = rowPosition(await readCheckpoint(trx, projection.name));
          if (comparePositions(now, position) !== 0) return undefined; // moved on: replay further
          await options.inSnapshot?.();
          const results: TableDifference[] = [];
          for (const table of tables) {
            const scratch = `${table}${SCRATCH_SUFFIX}`;
            const diff = await trx.raw<{ rows: { side: 'live only' | 'replay only'; row: Record<string, unknown> }[] }>(
              `SELECT 'live only' AS side, to_jsonb(d) AS row FROM (SELECT * FROM "${table}" EXCEPT ALL SELECT * FROM "${scratch}") d
               UNION ALL
               SELECT 'replay only', to_jsonb(d) FROM (SELECT * FROM "${scratch}" EXCEPT ALL SELECT * FROM "${table}") d`,
            );
            results.push({ table, differences: diff.rows.length, examples: diff.rows.slice(0, 5) });
          }
          return results;
        },
        { isolationLevel: 'repeatable read' },
      );
      if (report) {
        return {
          projection: projection.name,
          position: formatPosition(position),
          eventsReplayed: applied,
          tables: report,
          consistent: report.every((t) => t.differences === 0),
        };
      }
    }
    throw new Error(`${projection.name}: the live read model kept moving; try again when it is quieter`);
  } finally {
    for (const table of tables) await knex.raw(`DROP TABLE IF EXISTS "${table}${SCRATCH_SUFFIX}" CASCADE`);
  }
}
