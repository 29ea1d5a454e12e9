// The audit module as the composition root sees it: the audit API over the audit read model.
import type { Knex } from 'knex';
import type { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import type { OpenApiRegistry } from '../../platform/http/openapi.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { auditRouters } from './routes.ts';

export function auditModule(context: { knex: Knex; openapi: OpenApiRegistry; vault: PersonalDataVault }): { routers: AppRouter[] } {
  return { routers: auditRouters(context) };
}
