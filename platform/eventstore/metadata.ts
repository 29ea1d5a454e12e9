// Builds the metadata every appended event carries (DESIGN.md): who caused it, through which
// request and trace, and the user's change reason. One place, so no command forgets a field.
import { randomUUID } from 'node:crypto';
import type { EventMetadata } from './port.ts';

/** What a command knows about its cause; the same for every event it appends. */
export interface CommandCause {
  readonly actorId: string | null;
  readonly actorType: EventMetadata['actorType'];
  readonly requestId: string | null;
  readonly correlationId: string | null;
  readonly causationId: string | null;
  readonly traceparent: string | null;
  readonly reason: string | null;
}

/** A cause for work the service does on its own (start-up bootstrap, CLI, fan-out without a request). */
export function systemCause(reason: string | null = null, correlationId: string | null = null): CommandCause {
  return {
    actorId: null,
    actorType: 'system',
    requestId: null,
    correlationId,
    causationId: null,
    traceparent: null,
    reason,
  };
}

export function eventMetadata(cause: CommandCause, schemaVersion: number, now: Date = new Date()): EventMetadata {
  return {
    eventId: randomUUID(),
    schemaVersion,
    occurredAt: now.toISOString(),
    actorId: cause.actorId,
    actorType: cause.actorType,
    requestId: cause.requestId,
    correlationId: cause.correlationId,
    causationId: cause.causationId,
    traceparent: cause.traceparent,
    reason: cause.reason,
  };
}
