// Pure deciders: (command, state) -> Decision. No I/O, no clock, no randomness: `now`, ids,
// argon2 hashes, token digests and the outcome of password verification come in as command
// fields, computed by the commands (commands/*.ts) before the command handler decides.
//
// A Decision may carry events even when it refuses: a failed login or a replayed refresh token is
// refused AND recorded (audit). A decision's events may belong to other streams than the
// aggregate's (streamOf): a login starts a session, a registration reserves its names.
import type { ApiKeyEvent, IdentityEventOf, Role, SessionEvent, SessionRevocationReason, UserEvent } from './events.ts';
import { emailDigest, normalizeUsername, userEventTypes } from './events.ts';
import { digestsEqual } from './digest.ts';
import type { ApiKeyState, RegisteredUser, SessionState, UserState } from './evolve.ts';
import {
  evolveApiKey,
  evolveSession,
  evolveUser,
  initialApiKeyState,
  initialSessionState,
  initialUserState,
  isRegistered,
} from './evolve.ts';
import {
  accept,
  decideByType,
  refuse,
  type Command,
  type Decision,
  type FieldError,
  type Refusal,
} from '../../platform/commands/decision.ts';
import type { Decider } from '../../platform/commands/handler.ts';
import { validatePassword, validateRegistration } from './rules.ts';

// --- refusals -----------------------------------------------------------------------------

const bearer = { 'WWW-Authenticate': 'Bearer' };
/** Same words for unknown user, wrong password and bad token: nothing to learn from the answer. */
export const badCredentials: Refusal = {
  code: 'invalid_credentials',
  message: 'invalid credentials',
  status: 401,
  headers: bearer,
};
const tokenExpired: Refusal = {
  code: 'token_expired',
  message: 'the session has expired',
  status: 401,
  headers: bearer,
};
const accountInactive: Refusal = { code: 'account_inactive', message: 'this account is deactivated', status: 403 };
const notFound = (message: string): Refusal => ({ code: 'not_found', message });
const forbidden = (message: string): Refusal => ({ code: 'forbidden', message });
const invalid = (message: string, errors: readonly FieldError[]): Refusal => ({
  code: 'validation_failed',
  message,
  errors,
});

/** The authenticated caller of an admin or self-service command. */
export interface Actor {
  readonly userId: string;
  readonly role: Role;
}
/** The system acting on behalf of an earlier decision (fan-out) or of the start-up bootstrap. */
export const systemActor = 'system' as const;
export type CommandActor = Actor | typeof systemActor;

const performer = (actor: CommandActor): string | null => (actor === systemActor ? null : actor.userId);
const isAdmin = (actor: CommandActor): boolean => actor !== systemActor && actor.role === 'admin';
const iso = (date: Date): string => date.toISOString();
const before = (a: string, b: string): boolean => Date.parse(a) < Date.parse(b);

/** Request facts for the audit trail; ip and userAgent are cut to what the event schemas keep. */
export interface RequestFacts {
  readonly ip: string | null;
  readonly userAgent: string | null;
}
const userAgentOf = (facts: RequestFacts): string | null =>
  facts.userAgent === null ? null : facts.userAgent.slice(0, 256);
// From X-Forwarded-For behind a proxy, the address is whatever the client wrote there.
const ipOf = (facts: RequestFacts): string | null => (facts.ip === null ? null : facts.ip.slice(0, 45));

// --- user-<id> ---------------------------------------------------------------------------

export interface RegisterUser {
  readonly type: 'RegisterUser';
  readonly data: {
    readonly userId: string;
    readonly username: string;
    readonly email: string;
    /** Only to check the rules; never copied into an event. */
    readonly password: string;
    readonly passwordHash: string;
    /** 'user' from the register route; 'admin' only from the bootstrap (ADMIN_USERNAME) or CLI. */
    readonly role: Role;
    readonly now: Date;
  };
}

export interface LogIn {
  readonly type: 'LogIn';
  readonly data: {
    /** passwords.verify(state.passwordHash, password), computed by the command. */
    readonly passwordVerified: boolean;
    readonly sessionId: string;
    readonly refreshTokenHash: string;
    readonly sessionTtlSeconds: number;
    /** Set when passwords.needsRehash(state.passwordHash): the hash of the same password with today's parameters. */
    readonly upgradedPasswordHash?: string;
    readonly request: RequestFacts;
    readonly now: Date;
  };
}

export interface ChangePassword {
  readonly type: 'ChangePassword';
  readonly data: {
    readonly actor: Actor;
    readonly currentPasswordVerified: boolean;
    /** Only to check the rules; never copied into an event. */
    readonly newPassword: string;
    readonly newPasswordHash: string;
    readonly now: Date;
  };
}

export type DeactivateUser = Command<'DeactivateUser', { actor: Actor; now: Date }>;
export type ActivateUser = Command<'ActivateUser', { actor: Actor; now: Date }>;
export type ChangeUserRole = Command<'ChangeUserRole', { actor: CommandActor; role: Role; now: Date }>;
export interface EraseUser {
  readonly type: 'EraseUser';
  readonly data: {
    readonly actor: Actor;
    /** Required (true) when users erase themselves (DELETE /auth/me); ignored for an admin erasing someone else. */
    readonly passwordVerified: boolean;
    readonly now: Date;
  };
}

export type UserCommand =
  RegisterUser | LogIn | ChangePassword | DeactivateUser | ActivateUser | ChangeUserRole | EraseUser;
/** Events a user decision may produce: its own, plus the reservations, the session of a login and login failures. */
export type UserDecisionEvent =
  UserEvent | IdentityEventOf<'UsernameReserved' | 'EmailReserved' | 'SessionStarted' | 'LoginFailed'>;

export const decideUser = decideByType<UserCommand, UserState, UserDecisionEvent>({
  RegisterUser: register,
  LogIn: logIn,
  ChangePassword: changePassword,
  DeactivateUser: (c, state) => setActive(false, c, state),
  ActivateUser: (c, state) => setActive(true, c, state),
  ChangeUserRole: changeRole,
  EraseUser: erase,
});

function register(c: RegisterUser['data'], state: UserState): Decision<UserDecisionEvent> {
  if (state.status !== 'unregistered') return refuse({ code: 'conflict', message: 'user already exists' });
  const errors = validateRegistration(c, { allowReserved: c.role === 'admin' });
  if (errors.length > 0) return refuse(invalid('the registration breaks some rules', errors));
  return accept<UserDecisionEvent>(
    { type: 'UsernameReserved', data: { userId: c.userId, username: normalizeUsername(c.username) } },
    { type: 'EmailReserved', data: { userId: c.userId, emailHash: emailDigest(c.email) } },
    {
      type: 'UserRegistered',
      data: {
        userId: c.userId,
        username: c.username,
        email: c.email.trim(),
        role: c.role,
        passwordHash: c.passwordHash,
        registeredAt: iso(c.now),
      },
    },
  );
}

function logIn(c: LogIn['data'], state: UserState): Decision<UserDecisionEvent> {
  // Unknown and erased accounts leave no trace (there is no stream to put it in), and answer
  // exactly like a wrong password.
  if (!isRegistered(state)) return refuse(badCredentials);
  const failure = (reason: 'wrong_password' | 'account_inactive') =>
    ({
      type: 'LoginFailed',
      data: {
        userId: state.userId,
        reason,
        failedAt: iso(c.now),
        ip: ipOf(c.request),
        userAgent: userAgentOf(c.request),
      },
    }) as const;
  // The password is checked first: only its owner learns that an account is inactive.
  if (!c.passwordVerified) return refuse(badCredentials, [failure('wrong_password')]);
  if (state.status === 'inactive') return refuse(accountInactive, [failure('account_inactive')]);
  const events: UserDecisionEvent[] = [
    {
      type: 'SessionStarted',
      data: {
        sessionId: c.sessionId,
        userId: state.userId,
        refreshTokenHash: c.refreshTokenHash,
        startedAt: iso(c.now),
        expiresAt: iso(new Date(c.now.getTime() + c.sessionTtlSeconds * 1000)),
        ip: ipOf(c.request),
        userAgent: userAgentOf(c.request),
      },
    },
  ];
  if (c.upgradedPasswordHash !== undefined) {
    events.push({
      type: 'PasswordHashUpgraded',
      data: { userId: state.userId, passwordHash: c.upgradedPasswordHash, upgradedAt: iso(c.now) },
    });
  }
  return accept(...events);
}

function changePassword(c: ChangePassword['data'], state: UserState): Decision<UserDecisionEvent> {
  if (!isRegistered(state)) return refuse(notFound('user not found'));
  if (c.actor.userId !== state.userId) return refuse(forbidden('only the user can change their password'));
  if (state.status === 'inactive') return refuse(accountInactive);
  if (!c.currentPasswordVerified) return refuse(badCredentials);
  const errors = validatePassword(c.newPassword, state.username, 'newPassword');
  if (errors.length > 0) return refuse(invalid('the new password breaks some rules', errors));
  return accept<UserDecisionEvent>({
    type: 'PasswordChanged',
    data: { userId: state.userId, passwordHash: c.newPasswordHash, changedAt: iso(c.now) },
  });
}

/** The system (the admin bootstrap) acts with admin rights, as nobody in particular. */
function adminGuard(actor: CommandActor, state: UserState): Refusal | RegisteredUser {
  if (actor !== systemActor && actor.role !== 'admin') return forbidden('admin role required');
  if (!isRegistered(state)) return notFound('user not found');
  return state;
}

function setActive(
  active: boolean,
  { actor, now }: ActivateUser['data'],
  state: UserState,
): Decision<UserDecisionEvent> {
  const user = adminGuard(actor, state);
  if ('code' in user) return refuse(user);
  if (!active) {
    // An admin locking themselves out would leave nobody to undo it.
    if (user.userId === actor.userId) return refuse(forbidden('admins cannot deactivate themselves'));
    if (user.status === 'inactive') return accept();
    return accept<UserDecisionEvent>({
      type: 'UserDeactivated',
      data: { userId: user.userId, deactivatedBy: actor.userId, deactivatedAt: iso(now) },
    });
  }
  if (user.status === 'active') return accept();
  return accept<UserDecisionEvent>({
    type: 'UserActivated',
    data: { userId: user.userId, activatedBy: actor.userId, activatedAt: iso(now) },
  });
}

function changeRole(c: ChangeUserRole['data'], state: UserState): Decision<UserDecisionEvent> {
  const user = adminGuard(c.actor, state);
  if ('code' in user) return refuse(user);
  if (c.actor !== systemActor && user.userId === c.actor.userId && c.role !== 'admin')
    return refuse(forbidden('admins cannot demote themselves'));
  if (user.role === c.role) return accept();
  return accept<UserDecisionEvent>({
    type: 'UserRoleChanged',
    data: {
      userId: user.userId,
      role: c.role,
      previousRole: user.role,
      changedBy: performer(c.actor),
      changedAt: iso(c.now),
    },
  });
}

function erase(c: EraseUser['data'], state: UserState): Decision<UserDecisionEvent> {
  const self = state.status !== 'unregistered' && state.userId === c.actor.userId;
  if (!self && c.actor.role !== 'admin') return refuse(notFound('user not found'));
  if (state.status === 'erased') return accept();
  if (!isRegistered(state)) return refuse(notFound('user not found'));
  if (self && !c.passwordVerified) return refuse(badCredentials);
  return accept<UserDecisionEvent>({
    type: 'UserErased',
    data: { userId: state.userId, erasedBy: self ? null : c.actor.userId, erasedAt: iso(c.now) },
  });
}

// --- session-<id> ------------------------------------------------------------------------

/** What the session decider needs to know of its user (from the user stream or read model). */
export interface SessionOwner {
  readonly isActive: boolean;
  readonly sessionsValidFrom: string | null;
}

export interface RefreshSession {
  readonly type: 'RefreshSession';
  readonly data: {
    /** sha256Hex of the presented refresh token. */
    readonly presentedTokenHash: string;
    readonly newRefreshTokenHash: string;
    readonly owner: SessionOwner;
    readonly request: RequestFacts;
    readonly now: Date;
  };
}

export type LogOut = Command<'LogOut', { presentedTokenHash: string; request: RequestFacts; now: Date }>;

/** Revocation by the system (fan-out after a password change, deactivation, erasure) or an admin. */
export interface RevokeSession {
  readonly type: 'RevokeSession';
  readonly data: {
    readonly actor: CommandActor;
    readonly reason: Exclude<SessionRevocationReason, 'logout' | 'reuse_detected'>;
    readonly now: Date;
  };
}

export type SessionCommand = RefreshSession | LogOut | RevokeSession;

export const decideSession = decideByType<SessionCommand, SessionState, SessionEvent>({
  RefreshSession: refresh,
  LogOut: logOut,
  RevokeSession: revokeSession,
});

type PresentedToken = 'current' | 'rotated' | 'unknown';

function classify(state: SessionState & { status: 'active' | 'revoked' }, presentedTokenHash: string): PresentedToken {
  if (digestsEqual(state.currentTokenHash, presentedTokenHash)) return 'current';
  return state.previousTokenHashes.some((h) => digestsEqual(h, presentedTokenHash)) ? 'rotated' : 'unknown';
}

const revoked = (
  state: SessionState & { status: 'active' },
  reason: SessionRevocationReason,
  revokedBy: string | null,
  now: Date,
): SessionEvent => ({
  type: 'SessionRevoked',
  data: { sessionId: state.sessionId, userId: state.userId, reason, revokedBy, revokedAt: iso(now) },
});

/** A rotated token came back: either the thief or the user holds a copy, so the whole session goes. */
function reuseDetected(
  state: SessionState & { status: 'active' },
  presentedTokenHash: string,
  request: RequestFacts,
  now: Date,
): Decision<SessionEvent> {
  return refuse(badCredentials, [
    {
      type: 'RefreshTokenReuseDetected',
      data: {
        sessionId: state.sessionId,
        userId: state.userId,
        reusedTokenHash: presentedTokenHash,
        detectedAt: iso(now),
        ip: ipOf(request),
      },
    },
    revoked(state, 'reuse_detected', null, now),
  ]);
}

function refresh(c: RefreshSession['data'], state: SessionState): Decision<SessionEvent> {
  // A revoked session answers like an unknown one, whatever token comes: it is over either way.
  if (state.status !== 'active') return refuse(badCredentials);
  const presented = classify(state, c.presentedTokenHash);
  if (presented === 'unknown') return refuse(badCredentials);
  if (presented === 'rotated') return reuseDetected(state, c.presentedTokenHash, c.request, c.now);
  if (!before(iso(c.now), state.expiresAt)) return refuse(tokenExpired);
  // The fan-out after deactivation or a password change may not have reached this session yet.
  if (!c.owner.isActive) return refuse(accountInactive, [revoked(state, 'user_deactivated', null, c.now)]);
  if (c.owner.sessionsValidFrom !== null && before(state.startedAt, c.owner.sessionsValidFrom)) {
    return refuse(badCredentials, [revoked(state, 'password_changed', null, c.now)]);
  }
  return accept<SessionEvent>({
    type: 'SessionRefreshed',
    data: {
      sessionId: state.sessionId,
      userId: state.userId,
      refreshTokenHash: c.newRefreshTokenHash,
      refreshedAt: iso(c.now),
    },
  });
}

function logOut(c: LogOut['data'], state: SessionState): Decision<SessionEvent> {
  if (state.status === 'none') return refuse(badCredentials);
  const presented = classify(state, c.presentedTokenHash);
  if (presented === 'unknown') return refuse(badCredentials);
  if (state.status === 'revoked') return accept(); // logging out twice is fine
  if (presented === 'rotated') return reuseDetected(state, c.presentedTokenHash, c.request, c.now);
  return accept(revoked(state, 'logout', state.userId, c.now));
}

function revokeSession(c: RevokeSession['data'], state: SessionState): Decision<SessionEvent> {
  if (state.status === 'none') return refuse(notFound('session not found'));
  const allowed = c.actor === systemActor || isAdmin(c.actor) || c.actor.userId === state.userId;
  if (!allowed) return refuse(notFound('session not found'));
  if (state.status === 'revoked') return accept();
  return accept(revoked(state, c.reason, performer(c.actor), c.now));
}

// --- apikey-<id> -------------------------------------------------------------------------

export interface CreateApiKey {
  readonly type: 'CreateApiKey';
  readonly data: {
    readonly keyId: string;
    readonly owner: { readonly userId: string; readonly isActive: boolean };
    readonly name: string;
    /** From tokens.generateApiKey: the non-secret head and the SHA-256 of the whole key. */
    readonly prefix: string;
    readonly secretHash: string;
    readonly now: Date;
  };
}

export type RevokeApiKey = Command<'RevokeApiKey', { actor: CommandActor; now: Date }>;

/** Checks a presented key (route: parseApiKey -> read apikey-<id> -> this) and records the day's first use. */
export type AuthenticateApiKey = Command<
  'AuthenticateApiKey',
  { presentedKeyHash: string; ownerIsActive: boolean; now: Date }
>;

export type ApiKeyCommand = CreateApiKey | RevokeApiKey | AuthenticateApiKey;
export type ApiKeyDecisionEvent = ApiKeyEvent | IdentityEventOf<'ApiKeyUsed'>;

export const apiKeyNameLength = { min: 1, max: 100 } as const;

export function decideApiKey(command: ApiKeyCommand, state: ApiKeyState): Decision<ApiKeyDecisionEvent> {
  switch (command.type) {
    case 'CreateApiKey': {
      const c = command.data;
      if (state.status !== 'none') return refuse({ code: 'conflict', message: 'api key already exists' });
      if (!c.owner.isActive) return refuse(accountInactive);
      const name = c.name.trim();
      if (name.length < apiKeyNameLength.min || name.length > apiKeyNameLength.max) {
        return refuse(
          invalid('the api key breaks some rules', [
            { path: 'name', message: `must be ${apiKeyNameLength.min} to ${apiKeyNameLength.max} characters long` },
          ]),
        );
      }
      return accept<ApiKeyDecisionEvent>({
        type: 'ApiKeyCreated',
        data: {
          keyId: c.keyId,
          userId: c.owner.userId,
          name,
          prefix: c.prefix,
          secretHash: c.secretHash,
          createdAt: iso(c.now),
        },
      });
    }
    case 'RevokeApiKey': {
      const { actor, now } = command.data;
      // Someone else's key is "not found", never "forbidden": its existence stays secret.
      if (state.status === 'none') return refuse(notFound('api key not found'));
      if (actor !== systemActor && !isAdmin(actor) && actor.userId !== state.userId)
        return refuse(notFound('api key not found'));
      if (state.status === 'revoked') return accept();
      return accept<ApiKeyDecisionEvent>({
        type: 'ApiKeyRevoked',
        data: { keyId: state.keyId, userId: state.userId, revokedBy: performer(actor), revokedAt: iso(now) },
      });
    }
    case 'AuthenticateApiKey': {
      const c = command.data;
      if (state.status !== 'active' || !digestsEqual(state.secretHash, c.presentedKeyHash))
        return refuse(badCredentials);
      if (!c.ownerIsActive) return refuse(accountInactive);
      const firstUsedAt = iso(c.now);
      // Appended to apikey-usage-<id>-<day> with "no_stream": a conflict means already recorded today.
      return accept<ApiKeyDecisionEvent>({
        type: 'ApiKeyUsed',
        data: { keyId: state.keyId, userId: state.userId, day: firstUsedAt.slice(0, 10), firstUsedAt },
      });
    }
  }
}

// --- deciders: what the command handlers run ----------------------------------------------

/** The events a user decision folds into the user's state; the others belong to other streams. */
const isUserEvent = (event: UserDecisionEvent): event is UserEvent =>
  (userEventTypes as readonly string[]).includes(event.type);

export const userDecider: Decider<UserCommand, UserState, UserDecisionEvent> = {
  decide: decideUser,
  evolve: (state, event) => (isUserEvent(event) ? evolveUser(state, event) : state),
  initialState: initialUserState,
};
export const sessionDecider: Decider<SessionCommand, SessionState, SessionEvent> = {
  decide: decideSession,
  evolve: evolveSession,
  initialState: initialSessionState,
};
export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyState, ApiKeyDecisionEvent> = {
  decide: decideApiKey,
  evolve: (state, event) => (event.type === 'ApiKeyUsed' ? state : evolveApiKey(state, event)),
  initialState: initialApiKeyState,
};

/** The domain error for a reservation stream that already existed on a "no_stream" append. */
export function reservationConflict(streamId: string): Refusal | undefined {
  if (streamId.startsWith('username-'))
    return {
      code: 'username_taken',
      message: 'this username is taken',
      status: 409,
      errors: [{ path: 'username', message: 'is taken' }],
    };
  if (streamId.startsWith('email-'))
    return {
      code: 'email_taken',
      message: 'this email is taken',
      status: 409,
      errors: [{ path: 'email', message: 'is taken' }],
    };
  return undefined;
}
