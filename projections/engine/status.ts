// Where every projection stands: position, lag in events and seconds, state, last error.
import type { Knex } from 'knex';
import { formatPosition, type EventStore } from '../../platform/eventstore/port.ts';
import { failedEventOf, readCheckpoints, rowPosition, type ProjectionState } from './checkpoints.ts';
import { projectionsWithLeader } from './leadership.ts';
import type { Projection } from './projection.ts';

export interface FailedEventStatus {
  readonly position: string;
  readonly type: string;
  readonly attempts: number;
  readonly failedAt: string | null;
}

export interface ProjectionStatus {
  readonly name: string;
  /** Version of the code the current tables were built by (0: never ran). */
  readonly version: number;
  /** Version in this process's code; differs from `version` until the start-up rebuild is done. */
  readonly codeVersion: number;
  /** Checkpoint, formatted "<commit>/<prepare>" ("-1/-1": nothing applied yet). */
  readonly position: string;
  readonly eventsApplied: number;
  /**
   * Events in the log after the checkpoint (all types: the store cannot count per type cheaply),
   * those committed but still waiting above the transaction horizon too.
   */
  readonly lagEvents: number;
  /** Age of the oldest event not yet processed (waiting ones too); 0 when caught up. */
  readonly lagSeconds: number;
  readonly status: ProjectionState;
  /** Whether some process holds the projection's lock right now. */
  readonly hasLeader: boolean;
  /** The runner's last error, else the last rebuild's (until one succeeds): its class only, never event content. */
  readonly lastError: string | null;
  /** Status failed: the event the projection stopped at (position and type, never its content). */
  readonly failedEvent: FailedEventStatus | null;
  readonly rebuildRequested: boolean;
  readonly lastEventAt: string | null;
  readonly updatedAt: string | null;
}

/** States only a live leader can be in. */
const leaderStates: readonly ProjectionState[] = ['running', 'catching_up', 'rebuilding', 'retrying'];

export async function projectionStatuses(
  knex: Knex,
  store: EventStore,
  projections: readonly Projection[],
): Promise<ProjectionStatus[]> {
  const names = projections.map((p) => p.name);
  const [rows, led] = await Promise.all([readCheckpoints(knex, names), projectionsWithLeader(knex, names)]);
  const byName = new Map(rows.map((row) => [row.name, row]));
  // Events held back by an older transaction are not readable yet, but they are lag all the same.
  let horizon: Promise<number> | undefined;
  const waitingAge = () =>
    (horizon ??= store.horizon
      ? store.horizon().then(
          (h) => h.ageSeconds,
          () => 0,
        )
      : Promise.resolve(0));
  return Promise.all(
    projections.map(async (projection): Promise<ProjectionStatus> => {
      const row = byName.get(projection.name);
      const position = rowPosition(row);
      const lagEvents = await store.countAfter(position);
      let lagSeconds = 0;
      if (lagEvents > 0) {
        const [oldest] = await store.readAll({ after: position, maxCount: 1 });
        lagSeconds = oldest ? Math.max(0, (Date.now() - Date.parse(oldest.recordedAt)) / 1000) : await waitingAge();
      }
      const failed = row?.status === 'failed' ? failedEventOf(row) : undefined;
      const hasLeader = led.has(projection.name);
      // A row still saying "running" without a lock holder is a runner that died (kill -9, crash).
      const stored = row?.status ?? 'stopped';
      const status: ProjectionState = !hasLeader && leaderStates.includes(stored) ? 'stopped' : stored;
      return {
        name: projection.name,
        version: row?.version ?? 0,
        codeVersion: projection.version,
        position: formatPosition(position),
        eventsApplied: Number(row?.events_applied ?? 0),
        lagEvents,
        lagSeconds: Math.round(lagSeconds * 10) / 10,
        status,
        hasLeader,
        lastError: row?.last_error ?? (row?.rebuild_error ? `rebuild failed: ${row.rebuild_error}` : null),
        failedEvent: failed
          ? {
              position: formatPosition(failed.position),
              type: failed.type,
              attempts: failed.attempts,
              failedAt: row?.failed_at?.toISOString() ?? null,
            }
          : null,
        rebuildRequested: row?.rebuild_requested_at != null,
        lastEventAt: row?.last_event_at?.toISOString() ?? null,
        updatedAt: row?.updated_at.toISOString() ?? null,
      };
    }),
  );
}
