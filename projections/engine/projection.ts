// What a read model is to the engine: the events it handles, the tables it owns and how an
// event batch changes them. The engine runs `apply` inside the transaction that also advances
// the projection's checkpoint, so a batch is applied exactly once or not at all.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';

export interface ProjectionContext {
  readonly trx: Knex.Transaction;
  /** Physical name of one of the projection's tables: the live one, or its fresh copy during a rebuild. */
  readonly table: (logicalName: string) => string;
}

export interface Projection {
  /** Unique, [a-z0-9_]. */
  readonly name: string;
  /** Bump when apply or the tables change: the engine then rebuilds the read model at start-up. */
  readonly version: number;
  readonly eventTypes: readonly string[];
  /**
   * The projection's tables, by logical name, each with its DDL for a given physical name.
   * Name indexes and constraints `${table}_...` so a rebuilt copy can be renamed into place.
   */
  readonly tables: Readonly<Record<string, (table: string) => string>>;
  /**
   * Applies a batch (in global order). Must give the same rows when an event is applied twice
   * (write with upserts keyed by stream and revision, or guard on the stored revision).
   */
  apply(events: readonly RecordedEvent[], ctx: ProjectionContext): Promise<void>;
}

export function assertValidProjection(projection: Projection): void {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(projection.name))
    throw new Error(`projection name ${projection.name} must match [a-z][a-z0-9_]{0,40}`);
  for (const table of Object.keys(projection.tables)) {
    if (!/^[a-z][a-z0-9_]{0,40}$/.test(table)) throw new Error(`table name ${table} must match [a-z][a-z0-9_]{0,40}`);
  }
  if (!Number.isInteger(projection.version) || projection.version < 1)
    throw new Error(`projection ${projection.name}: version must be a positive integer`);
}

/** The `table()` of a ProjectionContext: logical name → physical name; refuses names the projection does not own. */
export function tableNamer(
  projection: Projection,
  physical: (logical: string) => string,
): (logicalName: string) => string {
  return (logicalName) => {
    if (!Object.hasOwn(projection.tables, logicalName))
      throw new Error(`projection ${projection.name} has no table ${logicalName}`);
    return physical(logicalName);
  };
}
