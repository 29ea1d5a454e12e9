// A sample's history, read from its events (not from a read model): who changed what, when, why
// and through which request. Still readable after the sample was discarded.
import type { Knex } from 'knex';
import type { EventStore } from '../../platform/eventstore/port.ts';
import type { RoleLookup } from './commands.ts';
import { isSampleEventType, parseSampleEvent, sampleStream } from './events.ts';
import { actorNames } from './queries.ts';

export interface HistoryItem {
  readonly version: number;
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: { readonly id: string | null; readonly username: string | null };
  readonly requestId: string | null;
  readonly reason: string | null;
  readonly changes: Record<string, { from: unknown; to: unknown }>;
}

/**
 * The history, or undefined when the sample does not exist or the caller is a member of none of
 * the labs it has belonged to (chain of custody: both sides of a transfer keep reading it).
 */
export async function sampleHistory(
  store: EventStore,
  knex: Knex,
  userId: string,
  sampleId: string,
  roleIn: RoleLookup,
): Promise<HistoryItem[] | undefined> {
  const recorded = await store.readStream(sampleStream(sampleId));
  const events = recorded
    .filter((r) => isSampleEventType(r.type))
    .map((r) => ({ r, e: parseSampleEvent(r.type as never, r.data) }));
  const first = events[0];
  if (!first || first.e.type !== 'SampleRegistered') return undefined;
  const labs = [...new Set(events.map(({ e }) => e.data.labId))];
  const roles = await Promise.all(labs.map((labId) => roleIn(labId)));
  if (roles.every((role) => role === undefined)) return undefined;
  const names = await actorNames(knex, userId, events.map(({ r }) => r.metadata.actorId ?? '').filter(Boolean));
  return events.map(({ r, e }) => {
    let changes: Record<string, { from: unknown; to: unknown }> = {};
    let eventReason: string | null = null;
    switch (e.type) {
      case 'SampleRegistered': {
        const { sampleType, subjectId, collectionDate, status, storageLocation, notes } = e.data;
        changes = Object.fromEntries(
          Object.entries({ sampleType, subjectId, collectionDate, status, storageLocation, notes }).map(([k, v]) => [
            k,
            { from: null, to: v },
          ]),
        );
        break;
      }
      case 'SampleDetailsCorrected':
        changes = { ...e.data.changes };
        break;
      case 'SampleStatusChanged':
        changes = { status: { from: e.data.from, to: e.data.to } };
        eventReason = e.data.reason;
        break;
      case 'SampleMoved':
        changes = { storageLocation: { from: e.data.from, to: e.data.to } };
        break;
      case 'SampleDiscarded':
        changes = { discarded: { from: false, to: true } };
        eventReason = e.data.reason;
        break;
      case 'SampleTransferred':
        changes = {
          labId: { from: e.data.fromLabId, to: e.data.labId },
          ...(e.data.fromStorage !== null ? { storageLocation: { from: e.data.fromStorage, to: null } } : {}),
        };
        eventReason = e.data.reason;
        break;
      case 'SamplePlaced':
        changes = { location: { from: e.data.from, to: { unitId: e.data.unitId, position: e.data.position } } };
        break;
      case 'SampleUnplaced':
        changes = { location: { from: { unitId: e.data.unitId, position: e.data.position }, to: null } };
        eventReason = e.data.reason;
        break;
    }
    const actorId = r.metadata.actorId;
    return {
      version: r.revision + 1,
      type: e.type,
      occurredAt: r.metadata.occurredAt,
      actor: { id: actorId, username: actorId ? (names.get(actorId) ?? null) : null },
      requestId: r.metadata.requestId,
      reason: r.metadata.reason ?? eventReason,
      changes,
    };
  });
}
