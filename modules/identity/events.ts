// The identity module's public contract: every event it appends, as zod schemas and TS types,
// with each type's schema version and the stream it belongs to.
//
// Secrets never enter these events: passwords only as argon2id hashes, refresh tokens and API
// keys only as SHA-256 hex digests. Schemas are strict, so a stray field (say, `password`) is
// rejected instead of silently stored.
//
// Streams (all short-lived or bounded, see streamOf):
//   user-<userId>                             registration, password, role, (de)activation, erasure
//   username-<lowercased username>            reservation, appended with expectedRevision "no_stream"
//   email-<sha256 hex of lowercased email>    reservation; the raw email never appears in a stream id
//   session-<sessionId>                       one stream per login: start, refreshes, revocation
//   login-failures-<userId>-<yyyy-mm>         failed logins of existing accounts, bucketed per UTC month
//   apikey-<keyId>                            creation and revocation
//   apikey-usage-<keyId>-<yyyy-mm-dd>         at most one ApiKeyUsed per key per UTC day ("no_stream" append)
import { z } from 'zod';
import { sealedLength } from '../../platform/crypto/personal-data.ts';
import { eventCatalog, type EventsOf } from '../../platform/eventstore/catalog.ts';
import { sha256Hex } from './digest.ts';

export const roles = ['user', 'admin'] as const;
export type Role = (typeof roles)[number];

export const sessionRevocationReasons = [
  'logout',
  'reuse_detected',
  'password_changed',
  'user_deactivated',
  'user_erased',
  'admin',
] as const;
export type SessionRevocationReason = (typeof sessionRevocationReasons)[number];

export const loginFailureReasons = ['wrong_password', 'account_inactive'] as const;
export type LoginFailureReason = (typeof loginFailureReasons)[number];

const id = z.uuid();
const timestamp = z.iso.datetime();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hex digest');
const argon2idHash = z.string().regex(/^\$argon2id\$/, 'must be an argon2id hash');
const role = z.enum(roles);
/** Who did it, when it is not the user themself (admin id, or null for the system). */
const performedBy = z.uuid().nullable();
/**
 * Request facts kept for the audit trail; personal data (see personalDataFields), sealed with the
 * user's key (crypto-shredding) in new events, plain in events from before: room for either.
 */
const ip = z.string().max(sealedLength(45)).nullable();
const userAgent = z.string().max(sealedLength(256)).nullable();

/** The identity events by type, grouped by the stream they go to (see streamOf). */
export const identityEventSchemas = {
  // --- user-<id> -------------------------------------------------------------------------
  UserRegistered: z.strictObject({
    userId: id,
    username: z.string().min(1).max(32),
    /** Sealed (crypto-shredding, platform/crypto/personal-data.ts); plain in events from before. */
    email: z.string().min(3).max(1024),
    role,
    passwordHash: argon2idHash,
    registeredAt: timestamp,
  }),
  PasswordChanged: z.strictObject({ userId: id, passwordHash: argon2idHash, changedAt: timestamp }),
  /** Same password, stronger parameters (needsRehash at login). Unlike PasswordChanged it revokes nothing. */
  PasswordHashUpgraded: z.strictObject({ userId: id, passwordHash: argon2idHash, upgradedAt: timestamp }),
  UserDeactivated: z.strictObject({ userId: id, deactivatedBy: performedBy, deactivatedAt: timestamp }),
  UserActivated: z.strictObject({ userId: id, activatedBy: performedBy, activatedAt: timestamp }),
  UserRoleChanged: z.strictObject({
    userId: id,
    role,
    previousRole: role,
    changedBy: performedBy,
    changedAt: timestamp,
  }),
  /**
   * The user asked to be forgotten (or an admin recorded such a request). Crypto-shredding
   * deletes the user's data key with this event, which makes every field listed in
   * personalDataFields unreadable; this event itself carries no personal data.
   */
  UserErased: z.strictObject({ userId: id, erasedBy: performedBy, erasedAt: timestamp }),

  // --- reservations: username-<lowercased>, email-<sha256> ---------------------------------
  UsernameReserved: z.strictObject({ userId: id, username: z.string().min(1).max(32) }),
  /** Frees a reservation (compensation after a failed registration). The next reservation appends at the released revision. */
  UsernameReleased: z.strictObject({ userId: id, username: z.string().min(1).max(32) }),
  EmailReserved: z.strictObject({ userId: id, emailHash: sha256 }),
  EmailReleased: z.strictObject({ userId: id, emailHash: sha256 }),

  // --- session-<id> (one per login) -------------------------------------------------------
  SessionStarted: z.strictObject({
    sessionId: id,
    userId: id,
    refreshTokenHash: sha256,
    startedAt: timestamp,
    /** Absolute end of the session: refreshes rotate the token but never extend it, which bounds the stream. */
    expiresAt: timestamp,
    ip,
    userAgent,
  }),
  SessionRefreshed: z.strictObject({ sessionId: id, userId: id, refreshTokenHash: sha256, refreshedAt: timestamp }),
  RefreshTokenReuseDetected: z.strictObject({
    sessionId: id,
    userId: id,
    /** Digest of the replayed (already rotated) token: identifies which generation leaked. */
    reusedTokenHash: sha256,
    detectedAt: timestamp,
    ip,
  }),
  SessionRevoked: z.strictObject({
    sessionId: id,
    userId: id,
    reason: z.enum(sessionRevocationReasons),
    revokedBy: performedBy,
    revokedAt: timestamp,
  }),

  // --- login-failures-<userId>-<yyyy-mm> --------------------------------------------------
  LoginFailed: z.strictObject({ userId: id, reason: z.enum(loginFailureReasons), failedAt: timestamp, ip, userAgent }),

  // --- apikey-<id>, apikey-usage-<id>-<day> -----------------------------------------------
  ApiKeyCreated: z.strictObject({
    keyId: id,
    userId: id,
    /** 1–100 characters; sealed with the owner's key in new events (see sealedFields). */
    name: z.string().min(1).max(sealedLength(100)),
    /** The non-secret head of the key (`vlg_<keyId hex>`), shown in lists to recognise a key. */
    prefix: z.string().min(1).max(64),
    secretHash: sha256,
    createdAt: timestamp,
  }),
  ApiKeyRevoked: z.strictObject({ keyId: id, userId: id, revokedBy: performedBy, revokedAt: timestamp }),
  /** First use of a key on a UTC day: enough for "last used" and audit without one event per request. */
  ApiKeyUsed: z.strictObject({ keyId: id, userId: id, day: z.iso.date(), firstUsedAt: timestamp }),
} as const;

/** The identity events' codec: type names, guard, validating parse, schema versions. */
export const identityEvents = eventCatalog(identityEventSchemas);
export type IdentityEventType = keyof typeof identityEventSchemas;
/** Other modules' projections read identity events (an erasure) with it. */
export const parseIdentityEvent = identityEvents.parse;

/**
 * Fields holding personal data, per event type: what crypto-shredding must encrypt with the
 * user's key (UserErased makes them unreadable). Reservation stream ids are not covered: the
 * username is in `username-<name>` by design (uniqueness), the email only as a digest.
 */
export const personalDataFields: Readonly<Record<IdentityEventType, readonly string[]>> = {
  UserRegistered: ['username', 'email'],
  PasswordChanged: [],
  PasswordHashUpgraded: [],
  UserDeactivated: [],
  UserActivated: [],
  UserRoleChanged: [],
  UserErased: [],
  UsernameReserved: ['username'],
  UsernameReleased: ['username'],
  EmailReserved: [],
  EmailReleased: [],
  SessionStarted: ['ip', 'userAgent'],
  SessionRefreshed: [],
  RefreshTokenReuseDetected: ['ip'],
  SessionRevoked: [],
  LoginFailed: ['ip', 'userAgent'],
  ApiKeyCreated: ['name'],
  ApiKeyRevoked: [],
  ApiKeyUsed: [],
};

/**
 * The personal data new events carry sealed with the user's key (data.userId): every declared
 * field except the username, which stays readable by design (it is the id of its reservation
 * stream, so that nobody can take an erased user's name). After erasure the audit trail shows
 * these fields as "[erased]", also in events stored before they were sealed.
 */
export const sealedFields: Readonly<Record<IdentityEventType, readonly string[]>> = {
  ...personalDataFields,
  UserRegistered: ['email'],
  UsernameReserved: [],
  UsernameReleased: [],
};

export type IdentityEventData<T extends IdentityEventType> = z.infer<(typeof identityEventSchemas)[T]>;
export type IdentityEvent = EventsOf<typeof identityEventSchemas>;
export type IdentityEventOf<T extends IdentityEventType> = Extract<IdentityEvent, { type: T }>;

/** The events of a user-<id> stream: what a user's state is folded from. */
export const userEventTypes = [
  'UserRegistered',
  'PasswordChanged',
  'PasswordHashUpgraded',
  'UserDeactivated',
  'UserActivated',
  'UserRoleChanged',
  'UserErased',
] as const satisfies readonly IdentityEventType[];
export type UserEvent = IdentityEventOf<(typeof userEventTypes)[number]>;
export type ReservationEvent = IdentityEventOf<
  'UsernameReserved' | 'UsernameReleased' | 'EmailReserved' | 'EmailReleased'
>;
export type SessionEvent = IdentityEventOf<
  'SessionStarted' | 'SessionRefreshed' | 'RefreshTokenReuseDetected' | 'SessionRevoked'
>;
export type ApiKeyEvent = IdentityEventOf<'ApiKeyCreated' | 'ApiKeyRevoked'>;

// --- stream ids ---------------------------------------------------------------------------

export const normalizeUsername = (username: string): string => username.toLowerCase();
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();
export const emailDigest = (email: string): string => sha256Hex(normalizeEmail(email));

export const identityStreams = {
  user: (userId: string) => `user-${userId}`,
  session: (sessionId: string) => `session-${sessionId}`,
  apiKey: (keyId: string) => `apikey-${keyId}`,
  usernameReservation: (username: string) => `username-${normalizeUsername(username)}`,
  /** Takes the raw email or its digest (64 hex chars, as stored in EmailReserved). */
  emailReservation: (emailOrDigest: string) =>
    `email-${/^[0-9a-f]{64}$/.test(emailOrDigest) ? emailOrDigest : emailDigest(emailOrDigest)}`,
  /** Monthly bucket (UTC): the user stream never grows with failed logins, and a bucket stays small. */
  loginFailures: (userId: string, at: string | Date) => `login-failures-${userId}-${isoOf(at).slice(0, 7)}`,
  /** One stream per key and UTC day, appended with "no_stream": a conflict means "already recorded today". */
  apiKeyUsage: (keyId: string, day: string) => `apikey-usage-${keyId}-${day}`,
} as const;

function isoOf(at: string | Date): string {
  return typeof at === 'string' ? at : at.toISOString();
}

/** The stream an identity event is appended to. */
export function streamOf(event: IdentityEvent): string {
  switch (event.type) {
    case 'UserRegistered':
    case 'PasswordChanged':
    case 'PasswordHashUpgraded':
    case 'UserDeactivated':
    case 'UserActivated':
    case 'UserRoleChanged':
    case 'UserErased':
      return identityStreams.user(event.data.userId);
    case 'UsernameReserved':
    case 'UsernameReleased':
      return identityStreams.usernameReservation(event.data.username);
    case 'EmailReserved':
    case 'EmailReleased':
      return identityStreams.emailReservation(event.data.emailHash);
    case 'SessionStarted':
    case 'SessionRefreshed':
    case 'RefreshTokenReuseDetected':
    case 'SessionRevoked':
      return identityStreams.session(event.data.sessionId);
    case 'LoginFailed':
      return identityStreams.loginFailures(event.data.userId, event.data.failedAt);
    case 'ApiKeyCreated':
    case 'ApiKeyRevoked':
      return identityStreams.apiKey(event.data.keyId);
    case 'ApiKeyUsed':
      return identityStreams.apiKeyUsage(event.data.keyId, event.data.day);
  }
}

// --- for the authentication cache (modules/identity/caller-cache.ts) --------------------------

/** The NOTIFY channel the identity projection signals changed users on (payload: user id). */
export const identityChangedChannel = 'vialog_identity_changed';

/** Events after which a user's cached callers must be looked up again. */
export const callerChangingEvents: ReadonlySet<string> = new Set([
  'SessionRevoked',
  'PasswordChanged',
  'UserDeactivated',
  'UserActivated',
  'UserRoleChanged',
  'UserErased',
  'ApiKeyRevoked',
]);
