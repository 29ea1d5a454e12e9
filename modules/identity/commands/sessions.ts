// Sessions: a login starts one (decided on the user's stream), a refresh rotates its token, a
// logout ends it; a password change, deactivation or erasure revokes every open one.
import { randomUUID } from 'node:crypto';
import { fail } from '../../../platform/commands/decision.ts';
import type { CommandCause } from '../../../platform/eventstore/metadata.ts';
import type { Position } from '../../../platform/eventstore/port.ts';
import {
  badCredentials,
  type CommandActor,
  type RefreshSession,
  type RequestFacts,
  type SessionOwner,
  type UserCommand,
} from '../decide.ts';
import { isRegistered, type RegisteredUser, type UserState } from '../evolve.ts';
import { identityStreams, normalizeEmail, normalizeUsername, type Role } from '../events.ts';
import * as queries from '../queries.ts';
import { generateRefreshToken, parseRefreshToken } from '../tokens.ts';
import type { IdentityPipeline } from './pipeline.ts';

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
}

/** The refusal of a bad password or token: the same whatever was wrong. */
const invalidCredentials = (): never => fail(badCredentials);

/** An erased owner's sessions are void whenever they started. */
function ownerOf(state: UserState): SessionOwner {
  if (isRegistered(state)) return { isActive: state.status === 'active', sessionsValidFrom: state.sessionsValidFrom };
  return { isActive: false, sessionsValidFrom: state.status === 'erased' ? new Date(8.64e15).toISOString() : null };
}

export function sessionCommands(pipeline: IdentityPipeline) {
  const { deps, now, users, sessions } = pipeline;

  async function issueTokens(userId: string, role: Role, sessionId: string, refreshToken: string): Promise<TokenPair> {
    const access = await deps.accessTokens.sign({ userId, role, sessionId }, now());
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn };
  }

  /** The login command once the password is verified (or not) against the user's hash. */
  async function logInCommand(user: RegisteredUser, password: string, request: RequestFacts, sessionId: string) {
    const refresh = generateRefreshToken(sessionId);
    const passwordVerified = await deps.hasher.verifyOrDummy(user.passwordHash, password);
    const rehash = passwordVerified && deps.hasher.needsRehash(user.passwordHash);
    const upgradedPasswordHash = rehash ? await deps.hasher.hash(password) : undefined;
    const command: UserCommand = {
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
    };
    return { command, passwordVerified, refreshToken: refresh.token };
  }

  async function logIn(login: string, password: string, request: RequestFacts, cause: CommandCause) {
    const userId = await queries.findUserIdByLogin(deps.knex, login);
    // Attempts count per account (its username and email are one budget), per name when unknown.
    const name = login.includes('@') ? normalizeEmail(login) : normalizeUsername(login);
    return pipeline.withPasswordAttempt(userId ? `account:${userId}` : `name:${name}`, async () => {
      // An unknown name does the same work as a wrong password on an account: it reads a stream
      // (one that does not exist), verifies against a dummy hash and answers alike; recording
      // the failure of an account is not waited for.
      const streamId = identityStreams.user(userId ?? randomUUID());
      const user = await users.load(streamId);
      if (!isRegistered(user.state)) {
        await deps.hasher.verifyOrDummy(undefined, password);
        return invalidCredentials();
      }
      const sessionId = randomUUID();
      const attempt = await logInCommand(user.state, password, request, sessionId);
      const actor = { ...cause, actorId: user.state.userId, actorType: 'user' as const };
      if (!attempt.passwordVerified) {
        pipeline.inBackground(users.handle(streamId, attempt.command, actor, { known: user, wait: false }));
        return invalidCredentials();
      }
      await users.handle(streamId, attempt.command, actor, { known: user });
      return issueTokens(user.state.userId, user.state.role, sessionId, attempt.refreshToken);
    });
  }

  async function refresh(refreshToken: string, request: RequestFacts, cause: CommandCause): Promise<TokenPair> {
    const presented = parseRefreshToken(refreshToken) ?? invalidCredentials();
    const fresh = generateRefreshToken(presented.sessionId);
    const streamId = identityStreams.session(presented.sessionId);
    const session = await sessions.load(streamId);
    if (session.state.status === 'none') return invalidCredentials();
    const userId = session.state.userId;
    let role: Role = 'user';
    // Two refreshes with one token race on the session's revision: the loser reloads and is reuse.
    const command = async (): Promise<RefreshSession> => {
      const owner = await users.load(identityStreams.user(userId));
      role = isRegistered(owner.state) ? owner.state.role : 'user';
      const data = { presentedTokenHash: presented.tokenHash, newRefreshTokenHash: fresh.tokenHash, request };
      return { type: 'RefreshSession', data: { ...data, owner: ownerOf(owner.state), now: now() } };
    };
    await sessions.handle(streamId, command, { ...cause, actorId: userId, actorType: 'user' }, { known: session });
    return issueTokens(userId, role, presented.sessionId, fresh.token);
  }

  async function logOut(refreshToken: string, request: RequestFacts, cause: CommandCause): Promise<void> {
    const presented = parseRefreshToken(refreshToken) ?? invalidCredentials();
    const streamId = identityStreams.session(presented.sessionId);
    const session = await sessions.load(streamId);
    const actorId = session.state.status === 'none' ? null : session.state.userId;
    const command = { type: 'LogOut', data: { presentedTokenHash: presented.tokenHash, request, now: now() } } as const;
    await sessions.handle(streamId, command, { ...cause, actorId, actorType: 'user' }, { known: session });
  }

  /** Revokes every open session of a user; the position of the last revocation (not yet waited for). */
  async function revokeOpenSessions(
    userId: string,
    reason: 'password_changed' | 'user_deactivated' | 'user_erased',
    actor: CommandActor,
    cause: CommandCause,
  ): Promise<Position | undefined> {
    const streamIds = (await queries.openSessionIds(deps.knex, userId)).map(identityStreams.session);
    return sessions.handleEach(streamIds, { type: 'RevokeSession', data: { actor, reason, now: now() } }, cause);
  }

  return { logIn, refresh, logOut, revokeOpenSessions };
}

/** Revocations that follow a password change, deactivation or erasure; each gives the position of its last event. */
export interface FanOut {
  readonly revokeOpenSessions: ReturnType<typeof sessionCommands>['revokeOpenSessions'];
  readonly revokeAllApiKeys: (userId: string, cause: CommandCause) => Promise<Position | undefined>;
}
