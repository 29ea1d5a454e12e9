// Shared givens for the identity decider specs: fixed ids, a fixed clock, plausible hashes.
import type { Actor, RequestFacts } from '../../modules/identity/decide.ts';
import { sha256Hex } from '../../modules/identity/digest.ts';
import type { IdentityEventOf } from '../../modules/identity/events.ts';

export const userId = '0b8f3a2e-1c4d-4e5f-8a6b-7c8d9e0f1a2b';
export const adminId = '1c9e4b3f-2d5e-4f60-9b7c-8d9e0f1a2b3c';
export const otherUserId = '2daf5c40-3e6f-4071-8c8d-9e0f1a2b3c4d';
export const sessionId = '3eb06d51-4f70-4182-9d9e-0f1a2b3c4d5e';
export const keyId = '4fc17e62-5081-4293-8eaf-1a2b3c4d5e6f';

export const now = new Date('2025-03-14T09:26:53.589Z');
export const later = (seconds: number): Date => new Date(now.getTime() + seconds * 1000);

export const passwordHash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA';
export const newPasswordHash = '$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2g';
export const strongPassword = 'correct horse battery staple';

export const admin: Actor = { userId: adminId, role: 'admin' };
export const self: Actor = { userId, role: 'user' };
export const stranger: Actor = { userId: otherUserId, role: 'user' };
export const request: RequestFacts = { ip: '203.0.113.7', userAgent: 'ava-test/1.0' };

export const tokenHash = (label: string): string => sha256Hex(label);

export const registered: IdentityEventOf<'UserRegistered'> = {
  type: 'UserRegistered',
  data: {
    userId,
    username: 'Ada.Lovelace',
    email: 'ada@example.org',
    role: 'user',
    passwordHash,
    registeredAt: now.toISOString(),
  },
};

export const deactivated: IdentityEventOf<'UserDeactivated'> = {
  type: 'UserDeactivated',
  data: { userId, deactivatedBy: adminId, deactivatedAt: later(10).toISOString() },
};

export const sessionStarted: IdentityEventOf<'SessionStarted'> = {
  type: 'SessionStarted',
  data: {
    sessionId,
    userId,
    refreshTokenHash: tokenHash('refresh-1'),
    startedAt: now.toISOString(),
    expiresAt: later(30 * 86_400).toISOString(),
    ip: request.ip,
    userAgent: request.userAgent,
  },
};

export const sessionRefreshed = (label: string, at: Date): IdentityEventOf<'SessionRefreshed'> => ({
  type: 'SessionRefreshed',
  data: { sessionId, userId, refreshTokenHash: tokenHash(label), refreshedAt: at.toISOString() },
});
