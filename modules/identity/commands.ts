// The identity command side: load a stream, fold it, ask the pure decider, append what it
// decided (also when it refused: failed logins and replayed refresh tokens are recorded), wait
// for the read model (read-your-writes), answer. Routes, the CLI and the start-up bootstrap all
// come through here; HTTP knows nothing of this file's internals and this file nothing of HTTP.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { eventMetadata } from '../../platform/eventstore/metadata.ts';
import {
  StreamConflictError,
  type ExpectedRevision,
  type EventStore,
  type Position,
  comparePositions,
} from '../../platform/eventstore/port.ts';
import type { ApiKeyEvent, IdentityEvent, Role, SessionEvent, UserEvent } from './events.ts';
import {
  callerChangingEvents,
  identityEventSchemaVersions,
  identityStreams,
  isIdentityEventType,
  normalizeEmail,
  normalizeUsername,
  parseIdentityEvent,
  sealedFields,
  streamOf,
} from './events.ts';
import {
  decideApiKey,
  decideSession,
  decideUser,
  groupByStream,
  IdentityDomainError,
  reservationConflict,
  systemActor,
  type Actor,
  type CommandActor,
  type Decision,
  type RequestFacts,
} from './decide.ts';
import type { ApiKeyState, RegisteredUser, SessionState, UserState } from './evolve.ts';
import {
  evolveApiKey,
  evolveSession,
  evolveUser,
  initialApiKeyState,
  initialSessionState,
  initialUserState,
} from './evolve.ts';
import type { PasswordHasher } from './passwords.ts';
import {
  ERASED,
  sealOrErased,
  type PersonalData,
  type PersonalDataVault,
} from '../../platform/crypto/personal-data.ts';
import { assertStorableEvent } from '../../platform/text.ts';
import * as queries from './queries.ts';
import { validatePassword, validateRegistration } from './rules.ts';
import { generateApiKey, generateRefreshToken, parseRefreshToken, type AccessTokens } from './tokens.ts';

/** One password attempt, counted before the password is checked. */
export interface PasswordAttempt {
  /** The password was right: the account's failures are forgotten. */
  succeeded(): Promise<void>;
  /** Something else than a wrong password ended the attempt: it does not count. */
  release(): Promise<void>;
}

/**
 * Limits password checks (login, password change, erasure) per account, counting each attempt
 * before argon2 runs: throws (429) when the account has none left. A wrong password keeps its
 * attempt counted.
 */
export interface PasswordAttempts {
  reserve(account: string): Promise<PasswordAttempt>;
}

export interface IdentityCommandDeps {
  readonly store: EventStore;
  readonly knex: Knex;
  readonly hasher: PasswordHasher;
  /** Seals the personal data of identity events (sealedFields); erasure destroys the key. */
  readonly vault: PersonalDataVault;
  /** Attempt limits on password checks (the HTTP service's; none from the command line). */
  readonly passwordAttempts?: PasswordAttempts;
  /** After an erasure: forget what else is kept of the user (e.g. kept Idempotency-Key answers). */
  readonly onErased?: (userId: string) => Promise<void>;
  /** Work the answer does not wait for (the record of a failed login) that failed. */
  readonly onBackgroundError?: (error: unknown) => void;
  readonly accessTokens: AccessTokens;
  readonly refreshTokenTtlDays: number;
  /** Read-your-writes: resolves once the identity read model reached the position (bounded). */
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  /** Called once the read model has a change that can refuse or alter a user's callers (cache eviction). */
  readonly onCallerChanged?: (userId: string) => void;
  readonly now?: () => Date;
}

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
}

const isRegistered = (state: UserState): state is RegisteredUser =>
  state.status === 'active' || state.status === 'inactive';
const fail = (code: IdentityDomainError['code'], message: string): never => {
  throw new IdentityDomainError({ code, message });
};

interface Loaded<S> {
  readonly state: S;
  /** What to pass as expectedRevision for the next append to this stream. */
  readonly expected: ExpectedRevision;
}

export function createIdentityCommands(deps: IdentityCommandDeps) {
  const { store, knex, hasher } = deps;
  const now = deps.now ?? (() => new Date());

  async function load<S, E extends IdentityEvent>(
    streamId: string,
    evolve: (s: S, e: E) => S,
    initial: S,
  ): Promise<Loaded<S>> {
    const recorded = await store.readStream(streamId);
    let state = initial;
    // Sealed fields (the email, request facts, key names) stay sealed: no decision reads them.
    for (const r of recorded) {
      if (isIdentityEventType(r.type)) state = evolve(state, parseIdentityEvent(r.type, r.data) as E);
    }
    const last = recorded.at(-1);
    return { state, expected: last === undefined ? 'no_stream' : last.revision };
  }
  const loadUser = (userId: string) =>
    load<UserState, UserEvent>(identityStreams.user(userId), evolveUser, initialUserState());
  const loadSession = (sessionId: string) =>
    load<SessionState, SessionEvent>(identityStreams.session(sessionId), evolveSession, initialSessionState());
  const loadApiKey = (keyId: string) =>
    load<ApiKeyState, ApiKeyEvent>(identityStreams.apiKey(keyId), evolveApiKey, initialApiKeyState());

  /** Users whose callers changed, with the position of that change, until a settle() reaches it. */
  const changedUsers = new Map<string, Position>();

  /** An event as appended, checked in depth: its schema and storable text, or no append at all. */
  const toNew = (event: IdentityEvent, cause: CommandCause, at: Date) => {
    parseIdentityEvent(event.type, event.data);
    const metadata = eventMetadata(cause, identityEventSchemaVersions[event.type], at);
    assertStorableEvent(event.type, event.data, metadata);
    return { type: event.type, data: event.data, metadata };
  };

  /** The event with its personal data (sealedFields) sealed with its user's key. */
  async function sealed(event: IdentityEvent, keys: PersonalData): Promise<IdentityEvent> {
    const fields = sealedFields[event.type];
    if (fields.length === 0) return event;
    const data: Record<string, unknown> = { ...event.data };
    for (const field of fields) {
      const value = data[field];
      if (typeof value === 'string') data[field] = await sealOrErased(keys, event.data.userId, value);
    }
    return { ...event, data } as IdentityEvent;
  }

  /** Work the answer does not wait for; stop() waits for it. */
  const pending = new Set<Promise<unknown>>();
  function inBackground(work: Promise<unknown>): void {
    const tracked = work
      .catch((error: unknown) => deps.onBackgroundError?.(error))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
  }

  /**
   * Runs a password check under one attempt of the account's (or unknown login name's) budget,
   * reserved before it: a wrong password keeps the attempt counted, the right one clears the
   * failures, anything else gives the attempt back.
   */
  async function withPasswordAttempt<T>(account: string, check: () => Promise<T>): Promise<T> {
    const attempt = await deps.passwordAttempts?.reserve(account);
    try {
      const result = await check();
      await attempt?.succeeded();
      return result;
    } catch (error) {
      if (!(error instanceof IdentityDomainError && error.code === 'invalid_credentials')) await attempt?.release();
      throw error;
    }
  }

  /**
   * Appends a decision's events, stream by stream in decision order, each with the expected
   * revision given for it ('any' otherwise). Returns the position of the last append.
   */
  async function appendEvents(
    events: readonly IdentityEvent[],
    cause: CommandCause,
    expected: ReadonlyMap<string, ExpectedRevision> = new Map(),
  ): Promise<Position | undefined> {
    const at = now();
    const keys = deps.vault.scope();
    let position: Position | undefined;
    for (const [streamId, streamEvents] of groupByStream(events)) {
      const stored = await Promise.all(streamEvents.map(async (e) => toNew(await sealed(e, keys), cause, at)));
      const result = await store.append(streamId, stored, { expectedRevision: expected.get(streamId) ?? 'any' });
      for (const e of streamEvents)
        if (callerChangingEvents.has(e.type)) changedUsers.set(e.data.userId, result.position);
      if (!position || comparePositions(result.position, position) > 0) position = result.position;
    }
    return position;
  }

  /** Waits for the read model to reach the position, then drops what the cache knew of the changed users. */
  async function settle(position: Position | undefined): Promise<void> {
    if (!position) return;
    await deps.waitForReadModel(position);
    for (const [userId, changedAt] of changedUsers) {
      if (comparePositions(changedAt, position) > 0) continue; // another command's, settled by it
      changedUsers.delete(userId);
      deps.onCallerChanged?.(userId);
    }
  }

  /** Appends what the decision produced, waits for the read model, then throws its error if any. */
  async function commit<E extends IdentityEvent>(
    decision: Decision<E>,
    cause: CommandCause,
    expected?: ReadonlyMap<string, ExpectedRevision>,
  ): Promise<Position | undefined> {
    const position = decision.events.length > 0 ? await appendEvents(decision.events, cause, expected) : undefined;
    await settle(position);
    if (!decision.ok) throw new IdentityDomainError(decision.error);
    return position;
  }

  /** Runs load-decide-append again (a few times) when another writer got to the stream first. */
  async function withRetry<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof StreamConflictError) || attempt >= attempts) throw error;
      }
    }
  }

  // --- reservations ---------------------------------------------------------------------------

  /** Expected revision for taking a reservation: free if it never existed or was released last. */
  async function reservationExpected(streamId: string): Promise<ExpectedRevision | 'taken'> {
    const events = await store.readStream(streamId);
    const last = events.at(-1);
    if (!last) return 'no_stream';
    return last.type === 'UsernameReleased' || last.type === 'EmailReleased' ? last.revision : 'taken';
  }

  async function reserve(event: IdentityEvent, cause: CommandCause): Promise<number> {
    const streamId = streamOf(event);
    const expected = await reservationExpected(streamId);
    const taken = reservationConflict(streamId)!;
    if (expected === 'taken') throw new IdentityDomainError(taken);
    try {
      const result = await store.append(streamId, [toNew(event, cause, now())], { expectedRevision: expected });
      return result.nextExpectedRevision;
    } catch (error) {
      if (error instanceof StreamConflictError) throw new IdentityDomainError(taken); // lost the race
      throw error;
    }
  }

  async function release(event: IdentityEvent, revision: number, cause: CommandCause): Promise<void> {
    await store.append(streamOf(event), [toNew(event, cause, now())], { expectedRevision: revision });
  }

  // --- fan-out ----------------------------------------------------------------------------------

  async function revokeOpenSessions(
    userId: string,
    reason: 'password_changed' | 'user_deactivated' | 'user_erased',
    actor: CommandActor,
    cause: CommandCause,
  ): Promise<Position | undefined> {
    let last: Position | undefined;
    for (const sessionId of await queries.openSessionIds(knex, userId)) {
      const position = await withRetry(async () => {
        const session = await loadSession(sessionId);
        const decision = decideSession({ type: 'RevokeSession', data: { actor, reason, now: now() } }, session.state);
        if (!decision.ok) return undefined; // gone already
        return appendEvents(decision.events, cause, new Map([[identityStreams.session(sessionId), session.expected]]));
      });
      if (position) last = position;
    }
    return last;
  }

  /** Revokes every active API key of a user (password change, erasure); the position of the last revocation. */
  async function revokeApiKeys(userId: string, cause: CommandCause): Promise<Position | undefined> {
    let last: Position | undefined;
    for (const keyId of await queries.activeApiKeyIds(knex, userId)) {
      const position = await withRetry(async () => {
        const key = await loadApiKey(keyId);
        const decision = decideApiKey({ type: 'RevokeApiKey', data: { actor: systemActor, now: now() } }, key.state);
        if (!decision.ok || decision.events.length === 0) return undefined; // revoked already
        return appendEvents(decision.events, cause, new Map([[identityStreams.apiKey(keyId), key.expected]]));
      });
      if (position) last = position;
    }
    return last;
  }

  async function issueTokens(userId: string, role: Role, sessionId: string, refreshToken: string): Promise<TokenPair> {
    const access = await deps.accessTokens.sign({ userId, role, sessionId }, now());
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn };
  }

  async function register(
    input: { username: string; email: string; password: string; role?: Role },
    cause: CommandCause,
  ): Promise<queries.UserView> {
    // Cheap rules first: no argon2 work for a request that breaks them.
    const errors = validateRegistration(input, { allowReserved: input.role === 'admin' });
    if (errors.length > 0)
      throw new IdentityDomainError({
        code: 'validation_failed',
        message: 'the registration breaks some rules',
        errors,
      });
    const userId = randomUUID();
    const passwordHash = await hasher.hash(input.password);
    const decision = decideUser(
      { type: 'RegisterUser', data: { ...input, userId, passwordHash, role: input.role ?? 'user', now: now() } },
      initialUserState(),
    );
    if (!decision.ok) throw new IdentityDomainError(decision.error);
    const [usernameReserved, emailReserved, registered] = decision.events as [
      IdentityEvent,
      IdentityEvent,
      IdentityEvent,
    ];
    if (usernameReserved.type !== 'UsernameReserved' || emailReserved.type !== 'EmailReserved')
      throw new Error('unexpected registration decision');
    // Reservations are appended with "no stream" (or at their released revision): of two
    // parallel registrations of one name exactly one gets it. What a later step fails to take
    // is released again, so a failed registration holds nothing.
    const usernameRevision = await reserve(usernameReserved, cause);
    let emailRevision: number | undefined;
    try {
      emailRevision = await reserve(emailReserved, cause);
      if (registered.type !== 'UserRegistered') throw new Error('unexpected registration decision');
      const sealed: IdentityEvent = {
        ...registered,
        data: { ...registered.data, email: await deps.vault.seal(userId, registered.data.email) },
      };
      const result = await store.append(identityStreams.user(userId), [toNew(sealed, cause, now())], {
        expectedRevision: 'no_stream',
      });
      await settle(result.position);
    } catch (error) {
      const released = { ...cause, reason: 'registration did not complete' };
      await release({ type: 'UsernameReleased', data: usernameReserved.data }, usernameRevision, released).catch(
        () => undefined,
      );
      if (emailRevision !== undefined)
        await release({ type: 'EmailReleased', data: emailReserved.data }, emailRevision, released).catch(
          () => undefined,
        );
      throw error;
    }
    const view = await queries.getUser(knex, userId);
    if (view) return view;
    // The read model is late (wait timed out): answer from the event itself.
    const d = registered.type === 'UserRegistered' ? registered.data : fail('conflict', 'unexpected event');
    return {
      id: userId,
      username: d.username,
      email: d.email,
      role: d.role,
      isActive: true,
      createdAt: d.registeredAt,
    };
  }

  return {
    loadUser,

    register,

    /** Waits for work the answers did not wait for (stop() of the module). */
    async drain(): Promise<void> {
      await Promise.all(pending);
    },

    async logIn(login: string, password: string, request: RequestFacts, cause: CommandCause): Promise<TokenPair> {
      const userId = await queries.findUserIdByLogin(knex, login);
      // Attempts count per account (its username and email are one budget), per name when unknown.
      const name = login.includes('@') ? normalizeEmail(login) : normalizeUsername(login);
      const account = userId ? `account:${userId}` : `name:${name}`;
      return withPasswordAttempt(account, async () => {
        // An unknown name does the same work as a wrong password on an account: it reads a stream
        // (one that does not exist), verifies against a dummy hash and answers alike; recording
        // the failure of an account is not waited for.
        const user = await loadUser(userId ?? randomUUID());
        const passwordHash = isRegistered(user.state) ? user.state.passwordHash : undefined;
        const passwordVerified = await hasher.verifyOrDummy(passwordHash, password);
        if (!isRegistered(user.state) || passwordHash === undefined) {
          return fail('invalid_credentials', 'invalid credentials');
        }
        const sessionId = randomUUID();
        const refresh = generateRefreshToken(sessionId);
        const rehash = passwordVerified && hasher.needsRehash(passwordHash);
        const upgradedPasswordHash = rehash ? await hasher.hash(password) : undefined;
        const decision = decideUser(
          {
            type: 'LogIn',
            data: {
              passwordVerified,
              sessionId,
              refreshTokenHash: refresh.tokenHash,
              sessionTtlSeconds: deps.refreshTokenTtlDays * 86_400,
              request,
              now: now(),
              ...(upgradedPasswordHash ? { upgradedPasswordHash } : {}),
            },
          },
          user.state,
        );
        const actor = { ...cause, actorId: user.state.userId, actorType: 'user' as const };
        if (!passwordVerified) {
          inBackground(withRetry(() => appendEvents(decision.events, actor))); // LoginFailed, for the audit trail
          return fail('invalid_credentials', 'invalid credentials');
        }
        const expected = new Map<string, ExpectedRevision>([
          [identityStreams.session(sessionId), 'no_stream'],
          [identityStreams.user(user.state.userId), user.expected],
        ]);
        await commit(decision, actor, expected);
        return issueTokens(user.state.userId, user.state.role, sessionId, refresh.token);
      });
    },

    async refresh(refreshToken: string, request: RequestFacts, cause: CommandCause): Promise<TokenPair> {
      const presented = parseRefreshToken(refreshToken) ?? fail('invalid_credentials', 'invalid credentials');
      const fresh = generateRefreshToken(presented.sessionId);
      let role: Role = 'user';
      let userId = '';
      await withRetry(async () => {
        const session = await loadSession(presented.sessionId);
        if (session.state.status === 'none') return fail('invalid_credentials', 'invalid credentials');
        userId = session.state.userId;
        const owner = await loadUser(userId);
        role = isRegistered(owner.state) ? owner.state.role : 'user';
        const decision = decideSession(
          {
            type: 'RefreshSession',
            data: {
              presentedTokenHash: presented.tokenHash,
              newRefreshTokenHash: fresh.tokenHash,
              owner: {
                isActive: owner.state.status === 'active',
                sessionsValidFrom: isRegistered(owner.state)
                  ? owner.state.sessionsValidFrom
                  : owner.state.status === 'erased'
                    ? new Date(8.64e15).toISOString()
                    : null,
              },
              request,
              now: now(),
            },
          },
          session.state,
        );
        // Two refreshes with one token race on the session's revision: the loser reloads and is reuse.
        return commit(
          decision,
          { ...cause, actorId: userId, actorType: 'user' },
          new Map([[identityStreams.session(presented.sessionId), session.expected]]),
        );
      });
      return issueTokens(userId, role, presented.sessionId, fresh.token);
    },

    async logOut(refreshToken: string, request: RequestFacts, cause: CommandCause): Promise<void> {
      const presented = parseRefreshToken(refreshToken) ?? fail('invalid_credentials', 'invalid credentials');
      await withRetry(async () => {
        const session = await loadSession(presented.sessionId);
        const actorId = session.state.status === 'none' ? null : session.state.userId;
        const decision = decideSession(
          { type: 'LogOut', data: { presentedTokenHash: presented.tokenHash, request, now: now() } },
          session.state,
        );
        return commit(
          decision,
          { ...cause, actorId, actorType: 'user' },
          new Map([[identityStreams.session(presented.sessionId), session.expected]]),
        );
      });
    },

    /** Ends every session and revokes every API key: whoever held the old password may have made them. */
    async changePassword(
      actor: Actor,
      currentPassword: string,
      newPassword: string,
      cause: CommandCause,
    ): Promise<void> {
      await withPasswordAttempt(`account:${actor.userId}`, () =>
        withRetry(async () => {
          const user = await loadUser(actor.userId);
          if (!isRegistered(user.state)) return fail('not_found', 'user not found');
          const currentPasswordVerified = await hasher.verify(user.state.passwordHash, currentPassword);
          // Hash only a password the decider will accept; otherwise it refuses before using the hash.
          const rules = validatePassword(newPassword, user.state.username, 'newPassword');
          const newPasswordHash = currentPasswordVerified && rules.length === 0 ? await hasher.hash(newPassword) : '';
          const data = { actor, currentPasswordVerified, newPassword, newPasswordHash, now: now() };
          const decision = decideUser({ type: 'ChangePassword', data }, user.state);
          return commit(decision, cause, new Map([[identityStreams.user(actor.userId), user.expected]]));
        }),
      );
      const sessions = await revokeOpenSessions(actor.userId, 'password_changed', systemActor, cause);
      const keys = await revokeApiKeys(actor.userId, cause);
      await settle(keys ?? sessions);
    },

    async setActive(actor: Actor, userId: string, active: boolean, cause: CommandCause): Promise<void> {
      await withRetry(async () => {
        const user = await loadUser(userId);
        const decision = decideUser(
          { type: active ? 'ActivateUser' : 'DeactivateUser', data: { actor, now: now() } },
          user.state,
        );
        return commit(decision, cause, new Map([[identityStreams.user(userId), user.expected]]));
      });
      if (!active) await settle(await revokeOpenSessions(userId, 'user_deactivated', systemActor, cause));
    },

    async changeRole(actor: Actor, userId: string, role: Role, cause: CommandCause): Promise<void> {
      await withRetry(async () => {
        const user = await loadUser(userId);
        const decision = decideUser({ type: 'ChangeUserRole', data: { actor, role, now: now() } }, user.state);
        return commit(decision, cause, new Map([[identityStreams.user(userId), user.expected]]));
      });
    },

    /** DELETE /auth/me (password required) or an admin's erasure: the account's personal data goes, its sessions and keys stop. */
    async erase(actor: Actor, userId: string, password: string | undefined, cause: CommandCause): Promise<void> {
      let sealedEmail: string | undefined;
      const run = () =>
        withRetry(async () => {
          const user = await loadUser(userId);
          const self = user.state.status !== 'unregistered' && user.state.userId === actor.userId;
          const checked = self && isRegistered(user.state) && password !== undefined;
          const passwordVerified = checked ? await hasher.verify(user.state.passwordHash, password) : false;
          if (isRegistered(user.state)) sealedEmail = user.state.email;
          const decision = decideUser({ type: 'EraseUser', data: { actor, passwordVerified, now: now() } }, user.state);
          return commit(decision, cause, new Map([[identityStreams.user(userId), user.expected]]));
        });
      // Only a password check counts as an attempt (users erasing themselves).
      await (password !== undefined && actor.userId === userId ? withPasswordAttempt(`account:${userId}`, run) : run());
      // The email is needed once more, to free its reservation: opened before the key goes.
      const email = sealedEmail === undefined ? undefined : await deps.vault.open(userId, sealedEmail);
      // Crypto-shredding: everything sealed with this user's key is unreadable from now on, in
      // every process (none keeps a key beyond one unit of work).
      await deps.vault.destroy(userId);
      await deps.onErased?.(userId);
      const sessions = await revokeOpenSessions(userId, 'user_erased', systemActor, cause);
      const keys = await revokeApiKeys(userId, cause);
      // The email may be used again; the username stays reserved so nobody can pose as the erased user.
      if (email !== undefined && email !== ERASED) {
        const streamId = identityStreams.emailReservation(email);
        const reservation = await store.readStream(streamId);
        const lastEvent = reservation.at(-1);
        if (lastEvent?.type === 'EmailReserved') {
          const emailHash = streamId.slice('email-'.length);
          await release({ type: 'EmailReleased', data: { userId, emailHash } }, lastEvent.revision, cause).catch(
            () => undefined,
          );
        }
      }
      await settle(keys ?? sessions);
    },

    async createApiKey(
      actor: Actor,
      name: string,
      cause: CommandCause,
    ): Promise<{ id: string; name: string; key: string; createdAt: string }> {
      const keyId = randomUUID();
      const generated = generateApiKey(keyId);
      const owner = await queries.getUser(knex, actor.userId);
      const decision = decideApiKey(
        {
          type: 'CreateApiKey',
          data: {
            keyId,
            owner: { userId: actor.userId, isActive: owner?.isActive ?? false },
            name,
            prefix: generated.prefix,
            secretHash: generated.secretHash,
            now: now(),
          },
        },
        initialApiKeyState(),
      );
      await commit(decision, cause, new Map([[identityStreams.apiKey(keyId), 'no_stream']]));
      const created = decision.events[0];
      if (created?.type !== 'ApiKeyCreated') return fail('conflict', 'unexpected decision');
      return { id: keyId, name: created.data.name, key: generated.key, createdAt: created.data.createdAt };
    },

    /** Owner-only: another user's key is not found, whatever the caller's role. */
    async revokeApiKey(actor: Actor, keyId: string, cause: CommandCause): Promise<void> {
      await withRetry(async () => {
        const key = await loadApiKey(keyId);
        const decision = decideApiKey(
          { type: 'RevokeApiKey', data: { actor: { userId: actor.userId, role: 'user' }, now: now() } },
          key.state,
        );
        return commit(decision, cause, new Map([[identityStreams.apiKey(keyId), key.expected]]));
      });
    },

    /** The day's first use of a key, recorded once ("no stream" append; a conflict means already recorded). */
    async recordApiKeyUse(keyId: string, userId: string, cause: CommandCause): Promise<void> {
      const at = now();
      const event: IdentityEvent = {
        type: 'ApiKeyUsed',
        data: { keyId, userId, day: at.toISOString().slice(0, 10), firstUsedAt: at.toISOString() },
      };
      try {
        await store.append(streamOf(event), [toNew(event, cause, at)], { expectedRevision: 'no_stream' });
      } catch (error) {
        if (!(error instanceof StreamConflictError)) throw error;
      }
    },

    /**
     * The first admin (ADMIN_USERNAME / ADMIN_PASSWORD at start-up, or `vialog users create --admin`):
     * registers the account, or promotes an existing one. Idempotent.
     */
    async ensureAdmin(
      input: { username: string; email: string; password: string },
      cause: CommandCause,
    ): Promise<'created' | 'promoted' | 'unchanged'> {
      const existing = await store.readStream(identityStreams.usernameReservation(input.username));
      const holder = existing.at(-1);
      if (holder?.type === 'UsernameReserved') {
        const userId = (holder.data as { userId: string }).userId;
        const user = await loadUser(userId);
        if (!isRegistered(user.state))
          return fail('conflict', `the username ${input.username} is held by an account that is not active`);
        if (user.state.role === 'admin') return 'unchanged';
        const system: Actor = { userId: randomUUID(), role: 'admin' }; // the bootstrap acts with admin rights, as nobody in particular
        const decision = decideUser(
          { type: 'ChangeUserRole', data: { actor: system, role: 'admin', now: now() } },
          user.state,
        );
        const events = decision.events.map((e) =>
          e.type === 'UserRoleChanged' ? { ...e, data: { ...e.data, changedBy: null } } : e,
        );
        await commit({ ...decision, events }, cause, new Map([[identityStreams.user(userId), user.expected]]));
        return 'promoted';
      }
      await register({ ...input, role: 'admin' }, cause);
      return 'created';
    },
  };
}

export type IdentityCommands = ReturnType<typeof createIdentityCommands>;
