// What the composition root hands the modules: the platform's services. A module's context takes
// the ones it uses (Pick) and adds what only the app can wire (another module's facts, settings).
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { PersonalDataVault } from './crypto/personal-data.ts';
import type { EventStore, Position } from './eventstore/port.ts';
import type { FailureLimit, FailureLimitOptions } from './http/failure-limit.ts';
import type { OpenApiRegistry } from './http/openapi.ts';
import type { RateLimitFactory } from './http/rate-limit.ts';

export interface PlatformServices {
  readonly config: Config;
  /** Crypto-shredding of personal data in events. */
  readonly vault: PersonalDataVault;
  /** For LISTEN connections (notifications across processes). */
  readonly databaseUrl: string;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  readonly logger: Logger;
  readonly rateLimit: RateLimitFactory;
  readonly failureLimit: (options: FailureLimitOptions) => FailureLimit;
  /** Read-your-writes: resolves once the named projections reached the position (bounded). */
  readonly waitForProjections: (names: readonly string[], position: Position) => Promise<boolean>;
}
