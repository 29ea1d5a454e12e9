// Chooses the event store adapter from configuration: EventStoreDB when EVENTSTORE_URL is set,
// the PostgreSQL event store otherwise.
import type { EventStore } from './port.ts';
import { openPostgresEventStore } from './postgres.ts';
import { openEsdbEventStore } from './esdb.ts';
import type { UpcasterRegistry } from './upcasting.ts';

export interface OpenEventStoreOptions {
  readonly eventStoreUrl: string | undefined;
  readonly databaseUrl: string;
  readonly poolMax: number;
  readonly pollIntervalMs: number;
  /** PostgreSQL: the server ends a session idle inside a transaction for longer (0: never). */
  readonly idleInTransactionTimeoutMs?: number;
  readonly upcasters?: UpcasterRegistry;
  readonly onError?: (error: unknown) => void;
}

export function openEventStore(options: OpenEventStoreOptions): EventStore {
  if (options.eventStoreUrl) {
    return openEsdbEventStore({
      connectionString: options.eventStoreUrl,
      ...(options.upcasters ? { upcasters: options.upcasters } : {}),
    });
  }
  return openPostgresEventStore({
    url: options.databaseUrl,
    poolMax: options.poolMax,
    pollIntervalMs: options.pollIntervalMs,
    ...(options.idleInTransactionTimeoutMs ? { idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs } : {}),
    ...(options.upcasters ? { upcasters: options.upcasters } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}
