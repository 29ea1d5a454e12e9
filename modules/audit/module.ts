// The audit module as the composition root sees it: the audit API over the audit read model, and
// the signed digests over the event log itself.
import type { Knex } from 'knex';
import type { AuditDigester } from '../../platform/audit/digester.ts';
import type { AuditKeyRing } from '../../platform/audit/keys.ts';
import type { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import type { EventStore } from '../../platform/eventstore/port.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { digestRouter } from './digest-routes.ts';
import { auditRouters } from './routes.ts';

export interface AuditModuleContext {
  readonly knex: Knex;
  readonly store: EventStore;
  readonly openapi: OpenApiRegistry;
  readonly vault: PersonalDataVault;
  readonly config: { readonly auditKeys: AuditKeyRing };
  readonly auditDigester: AuditDigester;
}

export function auditModule(context: AuditModuleContext): { routers: AppRouter[] } {
  const digests = digestRouter({ ...context, auditKeys: context.config.auditKeys, digester: context.auditDigester });
  return { routers: [...auditRouters(context), digests] };
}
