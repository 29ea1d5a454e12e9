// Reads of the audit read model (projections/audit/audit-read-model.ts). A user reads as
// themself under row-level security (their own streams' events); an admin reads everything.
import type { Knex } from 'knex';
import { queryAsOwner, queryUnscoped, type SqlParam } from '../../platform/database/owner-scope.ts';

export interface AuditFilter {
  readonly streamId?: string | undefined;
  readonly type?: string | undefined;
  readonly actorId?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

export interface AuditCursor {
  readonly commit: string;
  readonly prepare: string;
}

export interface AuditItem {
  readonly position: string;
  readonly streamId: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: { readonly id: string | null; readonly type: string };
  readonly requestId: string | null;
  readonly correlationId: string | null;
  readonly reason: string | null;
  readonly data: Record<string, unknown>;
}

interface Row {
  position_commit: string;
  position_prepare: string;
  stream_id: string;
  type: string;
  occurred_at: Date;
  actor_id: string | null;
  actor_type: string;
  request_id: string | null;
  correlation_id: string | null;
  reason: string | null;
  data: Record<string, unknown>;
}

const toItem = (r: Row): AuditItem => ({
  position: `${r.position_commit}/${r.position_prepare}`,
  streamId: r.stream_id,
  type: r.type,
  occurredAt: r.occurred_at.toISOString(),
  actor: { id: r.actor_id, type: r.actor_type },
  requestId: r.request_id,
  correlationId: r.correlation_id,
  reason: r.reason,
  data: r.data,
});

export type AuditScope =
  | { readonly kind: 'admin' }
  | { readonly kind: 'owner'; readonly ownerId: string }
  /** A lab's trail: its own stream and every event that names it (its samples', both sides of a transfer). */
  | { readonly kind: 'lab'; readonly labId: string };

/** The caller's role in a lab, from the labs read model (their personal lab has their id). */
export async function labRoleOf(knex: Knex, labId: string, userId: string): Promise<string | undefined> {
  if (labId === userId) return 'manager';
  const row = await knex('lab_members')
    .where({ lab_id: labId, user_id: userId })
    .first<{ role: string } | undefined>('role');
  return row?.role;
}

function statements(
  scope: AuditScope,
  filter: AuditFilter,
  page: { limit: number; after?: AuditCursor | undefined },
  withCount: boolean,
) {
  const params: SqlParam[] = [];
  const where: string[] = [];
  const add = (condition: (p: string) => string, value: SqlParam) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (scope.kind === 'owner') add((p) => `owner_id = ${p}::uuid`, scope.ownerId);
  if (scope.kind === 'lab')
    add((p) => `(stream_id = 'lab-' || ${p} OR data->>'labId' = ${p} OR data->>'fromLabId' = ${p})`, scope.labId);
  if (filter.streamId) add((p) => `stream_id = ${p}`, filter.streamId);
  if (filter.type) add((p) => `type = ${p}`, filter.type);
  if (filter.actorId) add((p) => `actor_id = ${p}`, filter.actorId);
  if (filter.from) add((p) => `occurred_at >= ${p}::timestamptz`, filter.from);
  if (filter.to) add((p) => `occurred_at <= ${p}::timestamptz`, filter.to);
  const filtered = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const pageParams = [...params];
  let keyset = '';
  if (page.after) {
    pageParams.push(page.after.commit, page.after.prepare);
    keyset = `${filtered ? ' AND' : 'WHERE'} (position_commit, position_prepare) > ($${pageParams.length - 1}::numeric, $${pageParams.length}::bigint)`;
  }
  pageParams.push(page.limit + 1);
  const list = {
    sql: `SELECT position_commit::text, position_prepare::text, stream_id, type, occurred_at, actor_id, actor_type, request_id, correlation_id, reason, data
            FROM audit_events ${filtered}${keyset} ORDER BY audit_events.position_commit, audit_events.position_prepare LIMIT $${pageParams.length}`,
    params: pageParams,
  };
  const count = { sql: `SELECT count(*)::int AS total FROM audit_events ${filtered}`, params };
  return withCount ? [list, count] : [list];
}

/** Oldest first (the log's order), keyset-paginated on the position. */
export async function listAudit(
  knex: Knex,
  scope: AuditScope,
  filter: AuditFilter,
  page: { limit: number; after?: AuditCursor | undefined; withTotal?: boolean },
): Promise<{ rows: AuditItem[]; total: number }> {
  const withTotal = page.withTotal ?? true;
  const queries = statements(scope, filter, page, withTotal);
  const results: unknown[][] =
    scope.kind === 'owner' ? await queryAsOwner(knex, scope.ownerId, queries) : await queryUnscoped(knex, queries);
  const rows = results[0] as Row[];
  const total = withTotal ? ((results[1] as { total: number }[])[0]?.total ?? 0) : -1;
  return { rows: rows.map(toItem), total };
}
