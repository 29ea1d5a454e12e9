// The samples command side: load sample-<id>, decide, append with the stream's revision, wait for
// the read model (read-your-writes), answer from the new state. Without If-Match a concurrent
// writer's conflict is retried on fresh state, so no update is ever lost; with If-Match the
// decider compares versions and a stale one appends nothing.
import { randomUUID } from 'node:crypto';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { eventMetadata } from '../../platform/eventstore/metadata.ts';
import { StreamConflictError, type EventStore, type ExpectedRevision, type Position, type RecordedEvent } from '../../platform/eventstore/port.ts';
import type { SampleChanges } from './decide.ts';
import { decideSample, SampleDomainError, type Decision } from './decide.ts';
import { isSampleEventType, parseSampleEvent, sampleEventSchemaVersions, sampleStream, type SampleEvent, type SampleStatus, type SampleType } from './events.ts';
import { evolveSample, initialSampleState, isRegistered, type SampleState } from './evolve.ts';
import type { SampleView } from './queries.ts';
import { assertStorableEvent } from '../../platform/text.ts';

export interface SampleCommandDeps {
  readonly store: EventStore;
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  readonly now?: () => Date;
  /** Attempts for an update without If-Match that keeps losing races (default 50). */
  readonly maxAttempts?: number;
}

interface Loaded {
  readonly state: SampleState;
  readonly expected: ExpectedRevision;
  readonly events: readonly RecordedEvent[];
}

export function viewOf(state: SampleState): SampleView {
  if (!isRegistered(state)) throw new Error('no sample');
  return {
    id: state.sampleId,
    sampleType: state.sampleType,
    subjectId: state.subjectId,
    collectionDate: state.collectionDate,
    status: state.status,
    storageLocation: state.storageLocation,
    notes: state.notes,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    version: state.version,
  };
}

/**
 * An event as it is appended, checked in depth: it matches its own schema and holds only text a
 * read model can store, or it is not appended at all (the edge should have refused it already).
 */
function appendable(e: SampleEvent, cause: CommandCause, at: Date) {
  parseSampleEvent(e.type, e.data);
  const metadata = eventMetadata(cause, sampleEventSchemaVersions[e.type], at);
  assertStorableEvent(e.type, e.data, metadata);
  return { type: e.type, data: e.data, metadata };
}

export function createSampleCommands(deps: SampleCommandDeps) {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const maxAttempts = deps.maxAttempts ?? 50;

  async function load(sampleId: string): Promise<Loaded> {
    const events = await store.readStream(sampleStream(sampleId));
    let state = initialSampleState();
    for (const e of events) if (isSampleEventType(e.type)) state = evolveSample(state, parseSampleEvent(e.type, e.data));
    const last = events.at(-1);
    return { state, expected: last === undefined ? 'no_stream' : last.revision, events };
  }

  /** Appends the decision (all its events in one atomic append) and waits for the read model. */
  async function commit(sampleId: string, decision: Decision, state: SampleState, expected: ExpectedRevision, cause: CommandCause): Promise<SampleState> {
    if (!decision.ok) throw new SampleDomainError(decision.error);
    if (decision.events.length === 0) return state;
    const at = now();
    const events = decision.events.map((e) => appendable(e, cause, at));
    const result = await store.append(sampleStream(sampleId), events, { expectedRevision: expected });
    await deps.waitForReadModel(result.position);
    return decision.events.reduce<SampleState>((s, e: SampleEvent) => evolveSample(s, e), state);
  }

  /** Load → decide → append; on a conflict, again on fresh state (with a little jitter so racers spread out). */
  async function retrying(sampleId: string, decide: (state: SampleState) => Decision, cause: CommandCause): Promise<SampleState> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await load(sampleId);
      try {
        return await commit(sampleId, decide(loaded.state), loaded.state, loaded.expected, cause);
      } catch (error) {
        if (!(error instanceof StreamConflictError) || attempt >= maxAttempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)));
      }
    }
  }

  return {
    load,

    async register(
      ownerId: string,
      input: { sampleType: SampleType; subjectId: string; collectionDate: string; status?: SampleStatus | undefined; storageLocation?: string | null | undefined; notes?: string | null | undefined },
      cause: CommandCause,
    ): Promise<SampleView> {
      const sampleId = randomUUID();
      const state = initialSampleState();
      const decision = decideSample({ type: 'RegisterSample', data: { ...input, sampleId, ownerId, now: now() } }, state);
      return viewOf(await commit(sampleId, decision, state, 'no_stream', cause));
    },

    /** PATCH (some fields) and PUT (all editable fields). */
    async update(ownerId: string, sampleId: string, changes: SampleChanges, expectedVersion: number | undefined, cause: CommandCause): Promise<SampleView> {
      const state = await retrying(
        sampleId,
        (s) => decideSample({ type: 'UpdateSample', data: { actorId: ownerId, changes, reason: cause.reason, expectedVersion, now: now() } }, s),
        cause,
      );
      return viewOf(state);
    },

    async discard(ownerId: string, sampleId: string, expectedVersion: number | undefined, cause: CommandCause): Promise<void> {
      await retrying(sampleId, (s) => decideSample({ type: 'DiscardSample', data: { actorId: ownerId, reason: cause.reason, expectedVersion, now: now() } }, s), cause);
    },
  };
}

export type SampleCommands = ReturnType<typeof createSampleCommands>;
