// Reads of the identity read model (built by projections/identity/identity-read-model.ts):
// tables identity_users, identity_sessions, identity_api_keys. Every function takes the caller's
// scope explicitly; nothing here decides, it only looks up.
import type { Knex } from 'knex';
import { countRows, pageByKeyset, type KeysetPage } from '../../platform/database/keyset.ts';
import type { Role } from './events.ts';
import { normalizeEmail, normalizeUsername } from './events.ts';

export interface UserView {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly role: Role;
  readonly isActive: boolean;
  readonly createdAt: string;
}

export interface AdminUserView extends UserView {
  readonly status: 'active' | 'inactive' | 'erased';
  readonly lastLoginAt: string | null;
}

interface UserRow {
  user_id: string;
  username: string | null;
  email: string | null;
  role: Role;
  status: 'active' | 'inactive' | 'erased';
  created_at: Date;
  last_login_at: Date | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function userView(row: UserRow): UserView {
  return {
    id: row.user_id,
    username: row.username ?? '',
    email: row.email ?? '',
    role: row.role,
    isActive: row.status === 'active',
    createdAt: row.created_at.toISOString(),
  };
}

function adminUserView(row: UserRow): AdminUserView {
  return { ...userView(row), status: row.status, lastLoginAt: iso(row.last_login_at) };
}

const userColumns = ['user_id', 'username', 'email', 'role', 'status', 'created_at', 'last_login_at'] as const;

/** The account a login name (username or email, any case) belongs to; erased accounts have no name. */
export async function findUserIdByLogin(knex: Knex, login: string): Promise<string | undefined> {
  const byEmail = login.includes('@');
  const row = await knex('identity_users')
    .where(byEmail ? 'email_lower' : 'username_lower', byEmail ? normalizeEmail(login) : normalizeUsername(login))
    .whereNot('status', 'erased')
    .first<{ user_id: string } | undefined>('user_id');
  return row?.user_id;
}

export async function getUser(knex: Knex, userId: string): Promise<UserView | undefined> {
  const row = await knex('identity_users')
    .where('user_id', userId)
    .whereNot('status', 'erased')
    .first<UserRow | undefined>(userColumns);
  return row ? userView(row) : undefined;
}

/** Oldest first, keyset-paginated; erased accounts are listed (without personal data) for the admin. */
export async function listUsers(knex: Knex, page: KeysetPage): Promise<{ rows: AdminUserView[]; total: number }> {
  const users = knex('identity_users').select<UserRow[]>(userColumns);
  const [rows, total] = await Promise.all([
    pageByKeyset(users, ['created_at', 'user_id'], page),
    countRows(knex('identity_users')),
  ]);
  return { rows: rows.map(adminUserView), total };
}

/** Sessions of a user that are not revoked (for the fan-out after a password change, deactivation, erasure). */
export const openSessionIds = (knex: Knex, userId: string): Promise<string[]> =>
  unrevokedIds(knex, 'identity_sessions', 'session_id', userId);

/** Ids of a user's rows not revoked yet: what a fan-out revokes. */
async function unrevokedIds(knex: Knex, table: string, idColumn: string, userId: string): Promise<string[]> {
  const rows = await knex(table)
    .where('user_id', userId)
    .whereNull('revoked_at')
    .select<Record<string, string>[]>(idColumn);
  return rows.map((r) => r[idColumn]!);
}

export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

interface ApiKeyRow {
  key_id: string;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** The owner's keys, newest first (revoked ones too, marked), never with a secret or its hash. */
export async function listApiKeys(
  knex: Knex,
  userId: string,
  page: KeysetPage,
): Promise<{ rows: ApiKeyView[]; total: number }> {
  const keys = knex('identity_api_keys')
    .where('user_id', userId)
    .select<ApiKeyRow[]>('key_id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at');
  const [rows, total] = await Promise.all([
    pageByKeyset(keys, ['created_at', 'key_id'], page, 'desc'),
    countRows(knex('identity_api_keys').where('user_id', userId)),
  ]);
  return {
    rows: rows.map((r) => ({
      id: r.key_id,
      name: r.name,
      prefix: r.prefix,
      createdAt: r.created_at.toISOString(),
      lastUsedAt: iso(r.last_used_at),
      revokedAt: iso(r.revoked_at),
    })),
    total,
  };
}

export const activeApiKeyIds = (knex: Knex, userId: string): Promise<string[]> =>
  unrevokedIds(knex, 'identity_api_keys', 'key_id', userId);

// --- per-request authentication: one indexed query each, on the hot path ---------------------

export interface CallerRow {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly role: Role;
  readonly status: 'active' | 'inactive' | 'erased';
  readonly createdAt: string;
  /** Session (bearer) or key (API key) no longer valid. */
  readonly revoked: boolean;
  /** API keys only: SHA-256 of the whole key, compared in constant time by the caller. */
  readonly secretHash?: string;
}

interface CallerQueryRow {
  user_id: string;
  username: string | null;
  email: string | null;
  role: Role;
  status: CallerRow['status'];
  created_at: Date;
  revoked: boolean;
  secret_hash?: string;
}

const callerRow = (row: CallerQueryRow): CallerRow => ({
  userId: row.user_id,
  username: row.username ?? '',
  email: row.email ?? '',
  role: row.role,
  status: row.status,
  createdAt: row.created_at.toISOString(),
  revoked: row.revoked,
  ...(row.secret_hash !== undefined ? { secretHash: row.secret_hash } : {}),
});

/** The caller behind an access token: its user and whether its session still holds. */
export async function callerBySession(knex: Knex, userId: string, sessionId: string): Promise<CallerRow | undefined> {
  const result = await knex.raw<{ rows: CallerQueryRow[] }>(
    `SELECT u.user_id, u.username, u.email, u.role, u.status, u.created_at,
            (s.revoked_at IS NOT NULL OR (u.sessions_valid_from IS NOT NULL AND s.started_at < u.sessions_valid_from)) AS revoked
       FROM identity_sessions s JOIN identity_users u ON u.user_id = s.user_id
      WHERE s.session_id = ? AND s.user_id = ?`,
    [sessionId, userId],
  );
  const row = result.rows[0];
  return row ? callerRow(row) : undefined;
}

export async function callerByApiKey(knex: Knex, keyId: string): Promise<CallerRow | undefined> {
  const result = await knex.raw<{ rows: CallerQueryRow[] }>(
    `SELECT k.user_id, u.username, u.email, u.role, u.status, u.created_at, (k.revoked_at IS NOT NULL) AS revoked, k.secret_hash
       FROM identity_api_keys k JOIN identity_users u ON u.user_id = k.user_id
      WHERE k.key_id = ?`,
    [keyId],
  );
  const row = result.rows[0];
  return row ? callerRow(row) : undefined;
}
