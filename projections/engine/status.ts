// Where every projection stands: position, lag in events and seconds, state.
import type { Knex } from 'knex';
import { formatPosition, type EventStore } from '../../platform/eventstore/port.ts';
import { readAllCheckpoints, rowPosition, type ProjectionState } from './checkpoints.ts';
import type { Projection } from './projection.ts';

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  readonly codeVersion: number;
  readonly position: string;
  readonly eventsApplied: number;
  readonly lagEvents: number;
  readonly lagSeconds: number;
  readonly status: ProjectionState | 'not_started';
  readonly lastError: string | null;
  readonly rebuildRequested: boolean;
}

export async function projectionStatuses(knex: Knex, store: EventStore, projections: readonly Projection[]): Promise<ProjectionStatus[]> {
  const rows = new Map((await readAllCheckpoints(knex)).map((row) => [row.name, row]));
  return Promise.all(
    projections.map(async (projection): Promise<ProjectionStatus> => {
      const row = rows.get(projection.name);
      const position = rowPosition(row);
      // Lag counts every event after the checkpoint, including types this projection ignores.
      const lagEvents = await store.countAfter(position);
      let lagSeconds = 0;
      if (lagEvents > 0) {
        const [oldest] = await store.readAll({ after: position, maxCount: 1 });
        if (oldest) lagSeconds = Math.max(0, (Date.now() - Date.parse(oldest.recordedAt)) / 1000);
      }
      return {
        name: projection.name,
        version: row?.version ?? 0,
        codeVersion: projection.version,
        position: formatPosition(position),
        eventsApplied: Number(row?.events_applied ?? 0),
        lagEvents,
        lagSeconds: Math.round(lagSeconds * 10) / 10,
        status: row?.status ?? 'not_started',
        lastError: row?.last_error ?? null,
        rebuildRequested: row?.rebuild_requested_at != null,
      };
    }),
  );
}
