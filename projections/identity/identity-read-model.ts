// The identity read model: users, login sessions and API keys, as the routes and the
// authentication middleware query them (modules/identity/queries.ts). One projection, so one
// read-your-writes wait covers a command that touches several of them (a login: user + session).
//
// Text columns take text as PostgreSQL can store it (storableText: an event written before the
// append-time checks, or personal data opened from its seal, may hold U+0000).
// Idempotent: every row carries the revision of its stream and an update only applies when the
// event is newer; inserts ignore rows that exist; "last used" style columns only move forward.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import {
  callerChangingEvents,
  identityChangedChannel,
  identityEvents,
  type IdentityEvent,
} from '../../modules/identity/events.ts';
import { tableDdl, type Projection } from '../engine/index.ts';
import { ERASED, type PersonalData, type PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { storableText } from '../../platform/text.ts';

export const identityProjectionName = 'identity';

const users = tableDdl(
  'user_id',
  `user_id              uuid NOT NULL,
  username             text,
  username_lower       text,
  email                text,
  email_lower          text,
  role                 text NOT NULL,
  status               text NOT NULL,
  sessions_valid_from  timestamptz,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  last_login_at        timestamptz,
  last_failed_login_at timestamptz,
  version              integer NOT NULL`,
  (t) => `CREATE INDEX "${t}_username_lower" ON "${t}" (username_lower)`,
  (t) => `CREATE INDEX "${t}_email_lower" ON "${t}" (email_lower)`,
  (t) => `CREATE INDEX "${t}_created" ON "${t}" (created_at, user_id)`,
);

const sessions = tableDdl(
  'session_id',
  `session_id        uuid NOT NULL,
  user_id           uuid NOT NULL,
  started_at        timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  last_refreshed_at timestamptz,
  revoked_at        timestamptz,
  revoked_reason    text,
  version           integer NOT NULL`,
  (t) => `CREATE INDEX "${t}_open_by_user" ON "${t}" (user_id) WHERE revoked_at IS NULL`,
);

const apiKeys = tableDdl(
  'key_id',
  `key_id       uuid NOT NULL,
  user_id      uuid NOT NULL,
  name         text NOT NULL,
  prefix       text NOT NULL,
  secret_hash  text NOT NULL,
  created_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  version      integer NOT NULL`,
  (t) => `CREATE INDEX "${t}_by_user" ON "${t}" (user_id, created_at, key_id)`,
);

type Trx = Knex.Transaction;

async function applyOne(
  trx: Trx,
  table: (name: string) => string,
  e: IdentityEvent,
  revision: number,
  vault: PersonalData,
): Promise<void> {
  const u = table('identity_users');
  const s = table('identity_sessions');
  const k = table('identity_api_keys');
  /** Updates a row of a stream-owned table only when this event is newer than what it holds. */
  const updateNewer = (t: string, idColumn: string, id: string, set: Record<string, unknown>) =>
    trx(t)
      .where(idColumn, id)
      .andWhere('version', '<', revision)
      .update({ ...set, version: revision });
  /** Inserts the row a stream starts with; a replayed event finds it there and changes nothing. */
  const insertNew = (t: string, idColumn: string, row: Record<string, unknown>) =>
    trx(t)
      .insert({ ...row, version: revision })
      .onConflict(idColumn)
      .ignore();
  const user = (userId: string, set: Record<string, unknown>) => updateNewer(u, 'user_id', userId, set);
  const session = (sessionId: string, set: Record<string, unknown>) => updateNewer(s, 'session_id', sessionId, set);
  const moveForward = (t: string, idColumn: string, id: string, column: string, at: string) =>
    trx.raw(
      `UPDATE "${t}" SET "${column}" = GREATEST(COALESCE("${column}", ?::timestamptz), ?::timestamptz) WHERE "${idColumn}" = ?`,
      [at, at, id],
    );

  switch (e.type) {
    case 'UserRegistered': {
      const d = e.data;
      const opened = await vault.open(d.userId, d.email);
      const email = opened === ERASED ? null : storableText(opened); // erased later: a rebuild keeps it erased
      await insertNew(u, 'user_id', {
        user_id: d.userId,
        username: storableText(d.username),
        username_lower: storableText(d.username).toLowerCase(),
        email,
        email_lower: email?.toLowerCase() ?? null,
        role: d.role,
        status: 'active',
        created_at: d.registeredAt,
        updated_at: d.registeredAt,
      });
      return;
    }
    case 'PasswordChanged':
      await user(e.data.userId, { sessions_valid_from: e.data.changedAt, updated_at: e.data.changedAt });
      return;
    case 'PasswordHashUpgraded':
      await user(e.data.userId, {});
      return;
    case 'UserDeactivated':
      await user(e.data.userId, {
        status: 'inactive',
        sessions_valid_from: e.data.deactivatedAt,
        updated_at: e.data.deactivatedAt,
      });
      return;
    case 'UserActivated':
      await user(e.data.userId, { status: 'active', updated_at: e.data.activatedAt });
      return;
    case 'UserRoleChanged':
      await user(e.data.userId, { role: e.data.role, updated_at: e.data.changedAt });
      return;
    case 'UserErased':
      // The row stays (ids in other read models and the audit trail point at it); personal data goes.
      await user(e.data.userId, {
        status: 'erased',
        username: null,
        username_lower: null,
        email: null,
        email_lower: null,
        sessions_valid_from: e.data.erasedAt,
        updated_at: e.data.erasedAt,
      });
      // Key names are personal data too: a rebuild reads them as "[erased]" (the key is gone), so does this.
      await trx(k).where('user_id', e.data.userId).update({ name: ERASED });
      return;
    case 'UsernameReserved':
    case 'UsernameReleased':
    case 'EmailReserved':
    case 'EmailReleased':
      return; // write-side uniqueness only
    case 'SessionStarted': {
      const d = e.data;
      await insertNew(s, 'session_id', {
        session_id: d.sessionId,
        user_id: d.userId,
        started_at: d.startedAt,
        expires_at: d.expiresAt,
      });
      await moveForward(u, 'user_id', d.userId, 'last_login_at', d.startedAt);
      return;
    }
    case 'SessionRefreshed':
      await session(e.data.sessionId, { last_refreshed_at: e.data.refreshedAt });
      return;
    case 'RefreshTokenReuseDetected':
      await session(e.data.sessionId, {});
      return;
    case 'SessionRevoked':
      await session(e.data.sessionId, { revoked_at: e.data.revokedAt, revoked_reason: e.data.reason });
      return;
    case 'LoginFailed':
      await moveForward(u, 'user_id', e.data.userId, 'last_failed_login_at', e.data.failedAt);
      return;
    case 'ApiKeyCreated': {
      const d = e.data;
      await insertNew(k, 'key_id', {
        key_id: d.keyId,
        user_id: d.userId,
        name: storableText(await vault.open(d.userId, d.name)),
        prefix: storableText(d.prefix),
        secret_hash: d.secretHash,
        created_at: d.createdAt,
      });
      return;
    }
    case 'ApiKeyRevoked':
      await updateNewer(k, 'key_id', e.data.keyId, { revoked_at: e.data.revokedAt });
      return;
    case 'ApiKeyUsed':
      await moveForward(k, 'key_id', e.data.keyId, 'last_used_at', e.data.firstUsedAt);
      return;
  }
}

export const identityProjection = (vault: PersonalDataVault): Projection => ({
  name: identityProjectionName,
  // 2: API key names are sealed in events and dropped on erasure (a rebuild drops those of users erased before).
  version: 2,
  eventTypes: identityEvents.types,
  tables: { identity_users: users, identity_sessions: sessions, identity_api_keys: apiKeys },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    const changedUsers = new Set<string>();
    const keys = vault.scope(); // each user's key read once per batch, never kept beyond it
    for (const event of events) {
      if (!identityEvents.isType(event.type)) continue;
      const parsed = identityEvents.parse(event.type, event.data);
      await applyOne(trx, table, parsed, event.revision, keys);
      if (callerChangingEvents.has(parsed.type)) changedUsers.add(parsed.data.userId);
    }
    // API processes cache callers: tell them, on commit, whose sessions/keys/role/status changed.
    for (const userId of changedUsers) await trx.raw('SELECT pg_notify(?, ?)', [identityChangedChannel, userId]);
  },
});
