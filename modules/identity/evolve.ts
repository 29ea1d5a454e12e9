// Pure evolvers: (state, event) -> state, one per aggregate, with its initial state.
// States are discriminated unions on `status`, so a decider cannot read a field that the
// current status does not have.
import type { ApiKeyEvent, Role, SessionEvent, SessionRevocationReason, UserEvent } from './events.ts';

// --- user-<id> ---------------------------------------------------------------------------

export interface RegisteredUser {
  readonly status: 'active' | 'inactive';
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly role: Role;
  readonly passwordHash: string;
  readonly registeredAt: string;
  /** Sessions started before this instant are void (set by a password change or deactivation). */
  readonly sessionsValidFrom: string | null;
}

export type UserState =
  { readonly status: 'unregistered' } | RegisteredUser | { readonly status: 'erased'; readonly userId: string };

export const initialUserState = (): UserState => ({ status: 'unregistered' });

export const isRegistered = (state: UserState): state is RegisteredUser =>
  state.status === 'active' || state.status === 'inactive';

export function evolveUser(state: UserState, event: UserEvent): UserState {
  if (event.type === 'UserRegistered') {
    const { userId, username, email, role, passwordHash, registeredAt } = event.data;
    return { status: 'active', userId, username, email, role, passwordHash, registeredAt, sessionsValidFrom: null };
  }
  if (state.status !== 'active' && state.status !== 'inactive') return state;
  switch (event.type) {
    case 'PasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash, sessionsValidFrom: event.data.changedAt };
    case 'PasswordHashUpgraded':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'UserDeactivated':
      return { ...state, status: 'inactive', sessionsValidFrom: event.data.deactivatedAt };
    case 'UserActivated':
      return { ...state, status: 'active' };
    case 'UserRoleChanged':
      return { ...state, role: event.data.role };
    case 'UserErased':
      return { status: 'erased', userId: state.userId };
  }
}

// --- session-<id> ------------------------------------------------------------------------

export interface SessionDetails {
  readonly sessionId: string;
  readonly userId: string;
  readonly currentTokenHash: string;
  /** Digests of rotated-out tokens: presenting one again is reuse (theft), not a typo. */
  readonly previousTokenHashes: readonly string[];
  readonly startedAt: string;
  readonly expiresAt: string;
  readonly lastRefreshedAt: string | null;
}

export type SessionState =
  | { readonly status: 'none' }
  | ({ readonly status: 'active' } & SessionDetails)
  | ({
      readonly status: 'revoked';
      readonly revokedReason: SessionRevocationReason;
      readonly revokedAt: string;
    } & SessionDetails);

export const initialSessionState = (): SessionState => ({ status: 'none' });

export function evolveSession(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'SessionStarted': {
      const { sessionId, userId, refreshTokenHash, startedAt, expiresAt } = event.data;
      const tokens = { currentTokenHash: refreshTokenHash, previousTokenHashes: [] };
      return { status: 'active', sessionId, userId, ...tokens, startedAt, expiresAt, lastRefreshedAt: null };
    }
    case 'SessionRefreshed':
      if (state.status !== 'active') return state;
      return {
        ...state,
        previousTokenHashes: [...state.previousTokenHashes, state.currentTokenHash],
        currentTokenHash: event.data.refreshTokenHash,
        lastRefreshedAt: event.data.refreshedAt,
      };
    case 'RefreshTokenReuseDetected':
      return state; // an audit fact; the SessionRevoked that follows it changes the state
    case 'SessionRevoked':
      if (state.status !== 'active') return state;
      return { ...state, status: 'revoked', revokedReason: event.data.reason, revokedAt: event.data.revokedAt };
  }
}

// --- apikey-<id> -------------------------------------------------------------------------

export interface ApiKeyDetails {
  readonly keyId: string;
  readonly userId: string;
  readonly name: string;
  readonly prefix: string;
  readonly secretHash: string;
  readonly createdAt: string;
}

export type ApiKeyState =
  | { readonly status: 'none' }
  | ({ readonly status: 'active' } & ApiKeyDetails)
  | ({ readonly status: 'revoked'; readonly revokedAt: string } & ApiKeyDetails);

export const initialApiKeyState = (): ApiKeyState => ({ status: 'none' });

export function evolveApiKey(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const { keyId, userId, name, prefix, secretHash, createdAt } = event.data;
      return { status: 'active', keyId, userId, name, prefix, secretHash, createdAt };
    }
    case 'ApiKeyRevoked':
      if (state.status !== 'active') return state;
      return { ...state, status: 'revoked', revokedAt: event.data.revokedAt };
  }
}
