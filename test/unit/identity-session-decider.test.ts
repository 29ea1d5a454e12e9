// given/when/then specs of the session decider (session-<id>: one stream per login).
import test, { type ExecutionContext } from 'ava';
import type { CommandActor, SessionCommand, SessionOwner } from '../../modules/identity/decide.ts';
import { sessionDecider, systemActor } from '../../modules/identity/decide.ts';
import type { IdentityEventOf } from '../../modules/identity/events.ts';
import { deciderSpec } from '../support/decider-spec.ts';
import {
  admin,
  adminId,
  later,
  request,
  sessionId,
  sessionRefreshed,
  sessionStarted,
  self,
  stranger,
  tokenHash,
  userId,
} from '../support/identity-fixtures.ts';

const spec = deciderSpec(sessionDecider);
const activeOwner: SessionOwner = { isActive: true, sessionsValidFrom: null };

const refresh = (presented: string, next: string, at = later(900), owner = activeOwner): SessionCommand => ({
  type: 'RefreshSession',
  data: { presentedTokenHash: tokenHash(presented), newRefreshTokenHash: tokenHash(next), owner, request, now: at },
});
const logOut = (presented: string, at = later(1000)): SessionCommand => ({
  type: 'LogOut',
  data: { presentedTokenHash: tokenHash(presented), request, now: at },
});
const revokedEvent = (
  reason: IdentityEventOf<'SessionRevoked'>['data']['reason'],
  at: Date,
  revokedBy: string | null = null,
) => ({ type: 'SessionRevoked', data: { sessionId, userId, reason, revokedBy, revokedAt: at.toISOString() } }) as const;

test('refresh: the current token rotates to a new one', (t) => {
  spec(t)
    .given([sessionStarted])
    .when(refresh('refresh-1', 'refresh-2'))
    .then([sessionRefreshed('refresh-2', later(900))]);
});

test('refresh: rotation chains, each new token works once', (t) => {
  spec(t)
    .given([sessionStarted, sessionRefreshed('refresh-2', later(900))])
    .when(refresh('refresh-2', 'refresh-3', later(1800)))
    .then([sessionRefreshed('refresh-3', later(1800))]);
});

test('refresh: a token used twice (already rotated) revokes the whole session', (t) => {
  spec(t)
    .given([sessionStarted, sessionRefreshed('refresh-2', later(900))])
    .when(refresh('refresh-1', 'refresh-x', later(1000)))
    .thenFails({ code: 'invalid_credentials' }, [
      {
        type: 'RefreshTokenReuseDetected',
        data: {
          sessionId,
          userId,
          reusedTokenHash: tokenHash('refresh-1'),
          detectedAt: later(1000).toISOString(),
          ip: request.ip,
        },
      },
      revokedEvent('reuse_detected', later(1000)),
    ]);
});

test('refresh: after reuse detection even the latest token is refused', (t) => {
  spec(t)
    .given([sessionStarted, sessionRefreshed('refresh-2', later(900)), revokedEvent('reuse_detected', later(1000))])
    .when(refresh('refresh-2', 'refresh-3', later(1100)))
    .thenFails({ code: 'invalid_credentials' }, []);
});

test('refresh: an unknown token (never issued for this session) is refused and revokes nothing', (t) => {
  spec(t).given([sessionStarted]).when(refresh('forged', 'refresh-2')).thenFails({ code: 'invalid_credentials' }, []);
});

test('refresh: an unknown session is refused', (t) => {
  spec(t).given([]).when(refresh('refresh-1', 'refresh-2')).thenFails({ code: 'invalid_credentials' }, []);
});

test('refresh: past the session end is token_expired (refreshes never extend a session)', (t) => {
  spec(t)
    .given([sessionStarted, sessionRefreshed('refresh-2', later(29 * 86_400))])
    .when(refresh('refresh-2', 'refresh-3', later(30 * 86_400)))
    .thenFails({ code: 'token_expired' }, []);
});

/** The first token refreshed at later(900), the owner as the user stream says then. */
const refreshWithOwner = (t: ExecutionContext, isActive: boolean, sessionsValidFromSeconds: number) =>
  spec(t)
    .given([sessionStarted])
    .when(
      refresh('refresh-1', 'refresh-2', later(900), {
        isActive,
        sessionsValidFrom: later(sessionsValidFromSeconds).toISOString(),
      }),
    );

test('refresh: a deactivated owner is refused and the session revoked (fan-out may lag)', (t) => {
  refreshWithOwner(t, false, 800).thenFails({ code: 'account_inactive' }, [
    revokedEvent('user_deactivated', later(900)),
  ]);
});

test('refresh: a session started before a password change is refused and revoked', (t) => {
  refreshWithOwner(t, true, 500).thenFails({ code: 'invalid_credentials' }, [
    revokedEvent('password_changed', later(900)),
  ]);
});

test('refresh: a session started after the password change works', (t) => {
  t.true(refreshWithOwner(t, true, -10).outcome().ok);
});

test('logout: the current token revokes the session', (t) => {
  spec(t)
    .given([sessionStarted])
    .when(logOut('refresh-1'))
    .then([revokedEvent('logout', later(1000), userId)]);
});

test('logout: afterwards the refresh token no longer works', (t) => {
  spec(t)
    .given([sessionStarted, revokedEvent('logout', later(1000), userId)])
    .when(refresh('refresh-1', 'refresh-2', later(1100)))
    .thenFails({ code: 'invalid_credentials' }, []);
});

test('logout: twice is fine and records nothing more', (t) => {
  spec(t)
    .given([sessionStarted, revokedEvent('logout', later(1000), userId)])
    .when(logOut('refresh-1', later(1100)))
    .then([]);
});

test('logout: with a rotated token is reuse: detected and revoked', (t) => {
  const outcome = spec(t)
    .given([sessionStarted, sessionRefreshed('refresh-2', later(900))])
    .when(logOut('refresh-1'))
    .outcome();
  t.like(outcome, {
    ok: false,
    error: { code: 'invalid_credentials' },
    events: [{ type: 'RefreshTokenReuseDetected' }, { type: 'SessionRevoked', data: { reason: 'reuse_detected' } }],
  });
});

test('logout: an unknown token or session is refused', (t) => {
  spec(t).given([sessionStarted]).when(logOut('forged')).thenFails({ code: 'invalid_credentials' }, []);
  spec(t).given([]).when(logOut('refresh-1')).thenFails({ code: 'invalid_credentials' }, []);
});

const revoke = (
  actor: CommandActor,
  reason: 'password_changed' | 'user_deactivated' | 'user_erased' | 'admin',
): SessionCommand => ({
  type: 'RevokeSession',
  data: { actor, reason, now: later(2000) },
});

test('revoke (fan-out): password change, deactivation, erasure revoke with their reason', (t) => {
  for (const reason of ['password_changed', 'user_deactivated', 'user_erased'] as const) {
    spec(t)
      .given([sessionStarted])
      .when(revoke(systemActor, reason))
      .then([revokedEvent(reason, later(2000))]);
  }
});

test('revoke: an admin may, the owner may, another user gets not_found', (t) => {
  spec(t)
    .given([sessionStarted])
    .when(revoke(admin, 'admin'))
    .then([revokedEvent('admin', later(2000), adminId)]);
  spec(t)
    .given([sessionStarted])
    .when(revoke(self, 'admin'))
    .then([revokedEvent('admin', later(2000), userId)]);
  spec(t).given([sessionStarted]).when(revoke(stranger, 'admin')).thenFails({ code: 'not_found' });
});

test('revoke: an already revoked session stays as is; an unknown one is not_found', (t) => {
  spec(t)
    .given([sessionStarted, revokedEvent('logout', later(1000), userId)])
    .when(revoke(systemActor, 'password_changed'))
    .then([]);
  spec(t).given([]).when(revoke(systemActor, 'password_changed')).thenFails({ code: 'not_found' });
});
