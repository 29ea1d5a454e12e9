// Operator decisions about a projection, recorded in the log like any other fact: skipping one
// event that the projection cannot apply. The skip names the event by position AND type, so a
// typo cannot skip another event, and carries who decided it and why (the event's metadata and
// data). Every run of the projection — live, a rebuild, the consistency check — passes over the
// skipped events, so the read model stays reproducible from the log.
import { z } from 'zod';
import { eventMetadata, type CommandCause } from '../../platform/eventstore/metadata.ts';
import { formatPosition, type AppendResult, type EventStore, type Position } from '../../platform/eventstore/port.ts';

export const PROJECTION_EVENT_SKIPPED = 'ProjectionEventSkipped';
/** The event types of projection operations (the audit trail shows them). */
export const projectionOperationEventTypes: readonly string[] = [PROJECTION_EVENT_SKIPPED];

export const projectionEventSkippedSchema = z.strictObject({
  projection: z.string(),
  /** "<commit>/<prepare>" */
  position: z.string(),
  type: z.string(),
  reason: z.string(),
});
export type ProjectionEventSkipped = z.infer<typeof projectionEventSkippedSchema>;

/** The stream of one projection's operations. */
export const projectionOperationsStream = (projection: string): string => `projection-${projection}`;

/** The events an operator skipped for one projection. */
export class SkippedEvents {
  static readonly none = new SkippedEvents([]);
  readonly #keys: ReadonlySet<string>;

  constructor(skips: readonly Pick<ProjectionEventSkipped, 'position' | 'type'>[]) {
    this.#keys = new Set(skips.map((s) => `${s.position} ${s.type}`));
  }

  get size(): number {
    return this.#keys.size;
  }

  has(event: { readonly position: Position; readonly type: string }): boolean {
    return this.#keys.size > 0 && this.#keys.has(`${formatPosition(event.position)} ${event.type}`);
  }

  /** The events without the skipped ones (the same array when none is skipped). */
  filter<E extends { readonly position: Position; readonly type: string }>(events: readonly E[]): readonly E[] {
    return this.#keys.size === 0 ? events : events.filter((e) => !this.has(e));
  }
}

export async function readSkippedEvents(store: EventStore, projection: string): Promise<SkippedEvents> {
  const events = await store.readStream(projectionOperationsStream(projection));
  const skips = events
    .filter((e) => e.type === PROJECTION_EVENT_SKIPPED)
    .map((e) => projectionEventSkippedSchema.parse(e.data))
    .filter((s) => s.projection === projection);
  return new SkippedEvents(skips);
}

export async function recordSkip(
  store: EventStore,
  projection: string,
  skip: { position: Position; type: string; reason: string },
  cause: CommandCause,
): Promise<AppendResult> {
  const data: ProjectionEventSkipped = {
    projection,
    position: formatPosition(skip.position),
    type: skip.type,
    reason: skip.reason,
  };
  return store.append(
    projectionOperationsStream(projection),
    [{ type: PROJECTION_EVENT_SKIPPED, data, metadata: eventMetadata({ ...cause, reason: skip.reason }, 1) }],
    { expectedRevision: 'any' },
  );
}
