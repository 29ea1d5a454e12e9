// The composition root's list of what the service is made of: each module's routers, its
// OpenAPI operations and the projections that build its read models. Modules are added here as
// they are built (identity, samples, dialog); the platform never imports them.
import type Router from '@koa/router';
import type { Knex } from 'knex';
import type { EventStore } from '../platform/eventstore/port.ts';
import type { OpenApiRegistry } from '../platform/http/openapi.ts';
import type { Config } from '../platform/config.ts';
import type { Projection } from '../projections/engine/index.ts';

export interface ModuleContext {
  readonly config: Config;
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  /** Read-your-writes: resolves once the named projections reached the position (bounded). */
  readonly waitForProjections: (names: readonly string[], position: { commit: bigint; prepare: bigint }) => Promise<boolean>;
}

export interface ComposedModules {
  readonly routers: Router[];
  readonly projections: Projection[];
}

/** Every projection of every module (the projector runs these even without the API). */
export function allProjections(): Projection[] {
  return [];
}

export function composeModules(_context: ModuleContext): ComposedModules {
  return { routers: [], projections: allProjections() };
}
