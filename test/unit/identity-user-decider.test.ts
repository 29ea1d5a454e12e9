// given/when/then specs of the user decider (user-<id> stream).
import test from 'ava';
import type { CommandActor, UserCommand } from '../../modules/identity/decide.ts';
import { systemActor, userDecider } from '../../modules/identity/decide.ts';
import { emailDigest, type IdentityEventOf } from '../../modules/identity/events.ts';
import { deciderSpec } from '../support/decider-spec.ts';
import {
  admin,
  adminId,
  deactivated,
  later,
  newPasswordHash,
  now,
  otherUserId,
  passwordHash,
  registered,
  request,
  self,
  sessionId,
  strongPassword,
  stranger,
  tokenHash,
  userId,
} from '../support/identity-fixtures.ts';

const spec = deciderSpec(userDecider);

const register = (overrides: Partial<{ username: string; email: string; password: string }> = {}): UserCommand => ({
  type: 'RegisterUser',
  data: {
    userId,
    username: 'Ada.Lovelace',
    email: 'ada@example.org',
    password: strongPassword,
    passwordHash,
    role: 'user',
    now,
    ...overrides,
  },
});

const logIn = (passwordVerified: boolean, extra: { upgradedPasswordHash?: string } = {}): UserCommand => ({
  type: 'LogIn',
  data: {
    passwordVerified,
    sessionId,
    refreshTokenHash: tokenHash('refresh-1'),
    sessionTtlSeconds: 30 * 86_400,
    request,
    now: later(60),
    ...extra,
  },
});

const loginFailed = (reason: 'wrong_password' | 'account_inactive'): IdentityEventOf<'LoginFailed'> => ({
  type: 'LoginFailed',
  data: { userId, reason, failedAt: later(60).toISOString(), ip: request.ip, userAgent: request.userAgent },
});

// --- register ---------------------------------------------------------------------------

test('register: reserves the lowercased username and the email digest, then registers', (t) => {
  spec(t)
    .given([])
    .when(register({ email: ' ada@example.org ' }))
    .then([
      { type: 'UsernameReserved', data: { userId, username: 'ada.lovelace' } },
      { type: 'EmailReserved', data: { userId, emailHash: emailDigest('ADA@example.org') } },
      registered,
    ]);
});

const invalidRegistrations: [string, Partial<{ username: string; email: string; password: string }>, string, string][] =
  [
    ['username too short', { username: 'ab' }, 'username', 'must be 3 to 32 characters long'],
    ['username too long', { username: 'a'.repeat(33) }, 'username', 'must be 3 to 32 characters long'],
    [
      'username with a space',
      { username: 'ada lovelace' },
      'username',
      'may contain only letters A–Z, digits, "_", "." and "-"',
    ],
    ['username reserved', { username: 'Admin' }, 'username', 'is reserved'],
    ['email invalid', { email: 'ada-at-example.org' }, 'email', 'must be a valid email address'],
    ['password too short', { password: 'Xq7#mP2!z' }, 'password', 'must be at least 10 characters long'],
    ['password contains username', { password: 'I am ada.lovelace!' }, 'password', 'must not contain the username'],
    ['password common', { password: 'qwertyuiop' }, 'password', 'is too common'],
  ];

for (const [name, overrides, path, message] of invalidRegistrations) {
  test(`register: refused, ${name}`, (t) => {
    spec(t)
      .given([])
      .when(register(overrides))
      .thenFails({ code: 'validation_failed', errors: [{ path, message }] });
  });
}

test('register: every broken rule is listed at once', (t) => {
  spec(t)
    .given([])
    .when(register({ username: 'root', email: 'nope', password: 'root' }))
    .thenInvalid(['username', 'email', 'password', 'password', 'password']);
});

test('register: the same user id twice is a conflict (the user stream is appended with "no_stream" anyway)', (t) => {
  spec(t).given([registered]).when(register()).thenFails({ code: 'conflict' });
});

test('register: an admin can be bootstrapped with role admin', (t) => {
  const command = register();
  const outcome = spec(t)
    .given([])
    .when({ ...command, data: { ...command.data, role: 'admin' } } as UserCommand)
    .outcome();
  t.true(outcome.ok);
  t.like(outcome.events[2], { type: 'UserRegistered', data: { role: 'admin' } });
});

// --- login ------------------------------------------------------------------------------

test('login: the right password starts a session (in session-<id>, not in the user stream)', (t) => {
  spec(t)
    .given([registered])
    .when(logIn(true))
    .then([
      {
        type: 'SessionStarted',
        data: {
          sessionId,
          userId,
          refreshTokenHash: tokenHash('refresh-1'),
          startedAt: later(60).toISOString(),
          expiresAt: later(60 + 30 * 86_400).toISOString(),
          ip: request.ip,
          userAgent: request.userAgent,
        },
      },
    ]);
});

test('login: a hash with old parameters is upgraded on success', (t) => {
  const outcome = spec(t)
    .given([registered])
    .when(logIn(true, { upgradedPasswordHash: newPasswordHash }))
    .outcome();
  t.true(outcome.ok);
  t.deepEqual(outcome.events[1], {
    type: 'PasswordHashUpgraded',
    data: { userId, passwordHash: newPasswordHash, upgradedAt: later(60).toISOString() },
  });
});

test('login: a wrong password is invalid_credentials and recorded as LoginFailed (no password in it)', (t) => {
  spec(t)
    .given([registered])
    .when(logIn(false))
    .thenFails({ code: 'invalid_credentials', message: 'invalid credentials' }, [loginFailed('wrong_password')]);
});

test('login: an unknown user gets the same answer as a wrong password and records nothing', (t) => {
  spec(t).given([]).when(logIn(false)).thenFails({ code: 'invalid_credentials', message: 'invalid credentials' }, []);
});

test('login: an inactive account with the right password is account_inactive, recorded', (t) => {
  spec(t)
    .given([registered, deactivated])
    .when(logIn(true))
    .thenFails({ code: 'account_inactive' }, [loginFailed('account_inactive')]);
});

test('login: an inactive account with a wrong password does not reveal it is inactive', (t) => {
  const outcome = spec(t).given([registered, deactivated]).when(logIn(false)).outcome();
  t.like(outcome, { ok: false, error: { code: 'invalid_credentials' } });
});

test('login: an erased account answers like an unknown one', (t) => {
  spec(t)
    .given([registered, { type: 'UserErased', data: { userId, erasedBy: null, erasedAt: later(5).toISOString() } }])
    .when(logIn(true))
    .thenFails({ code: 'invalid_credentials' }, []);
});

test('login: a very long user agent is cut to what the event keeps', (t) => {
  const command = logIn(true);
  const outcome = spec(t)
    .given([registered])
    .when({ ...command, data: { ...command.data, request: { ip: null, userAgent: 'x'.repeat(1000) } } } as UserCommand)
    .outcome();
  t.is((outcome.events[0] as { data: { userAgent: string } }).data.userAgent.length, 256);
});

test('login: an address longer than an IP (from X-Forwarded-For) is cut to what the event keeps', (t) => {
  const command = logIn(true);
  const outcome = spec(t)
    .given([registered])
    .when({ ...command, data: { ...command.data, request: { ip: 'x'.repeat(1000), userAgent: null } } } as UserCommand)
    .outcome();
  t.is((outcome.events[0] as { data: { ip: string } }).data.ip.length, 45);
});

// --- password change --------------------------------------------------------------------

const changePassword = (
  currentPasswordVerified: boolean,
  newPassword = 'an even better passphrase',
  actor = self,
): UserCommand => ({
  type: 'ChangePassword',
  data: { actor, currentPasswordVerified, newPassword, newPasswordHash, now: later(100) },
});

test('password change: records the new hash (the route then revokes every session)', (t) => {
  spec(t)
    .given([registered])
    .when(changePassword(true))
    .then([
      { type: 'PasswordChanged', data: { userId, passwordHash: newPasswordHash, changedAt: later(100).toISOString() } },
    ]);
});

test('password change: a wrong current password is invalid_credentials', (t) => {
  spec(t).given([registered]).when(changePassword(false)).thenFails({ code: 'invalid_credentials' });
});

test('password change: the new password follows the rules, errors on path newPassword', (t) => {
  spec(t)
    .given([registered])
    .when(changePassword(true, 'ada.lovelace'))
    .thenFails({
      code: 'validation_failed',
      errors: [{ path: 'newPassword', message: 'must not contain the username' }],
    });
  spec(t)
    .given([registered])
    .when(changePassword(true, 'password1'))
    .thenFails({
      code: 'validation_failed',
      errors: [
        { path: 'newPassword', message: 'must be at least 10 characters long' },
        { path: 'newPassword', message: 'is too common' },
      ],
    });
});

test('password change: only for oneself, not for an unknown or inactive user', (t) => {
  spec(t)
    .given([registered])
    .when(changePassword(true, undefined, stranger))
    .thenFails({ code: 'forbidden' });
  spec(t).given([]).when(changePassword(true)).thenFails({ code: 'not_found' });
  spec(t).given([registered, deactivated]).when(changePassword(true)).thenFails({ code: 'account_inactive' });
});

// --- admin: (de)activate, role ------------------------------------------------------------

const deactivate = (actor = admin): UserCommand => ({ type: 'DeactivateUser', data: { actor, now: later(10) } });
const activate = (actor = admin): UserCommand => ({ type: 'ActivateUser', data: { actor, now: later(20) } });

test('deactivate: an admin deactivates a user', (t) => {
  spec(t).given([registered]).when(deactivate()).then([deactivated]);
});

test('deactivate: twice changes nothing', (t) => {
  spec(t).given([registered, deactivated]).when(deactivate()).then([]);
});

test('deactivate: a non-admin is forbidden, even on themself', (t) => {
  spec(t).given([registered]).when(deactivate(self)).thenFails({ code: 'forbidden' });
  spec(t).given([registered]).when(deactivate(stranger)).thenFails({ code: 'forbidden' });
});

test('deactivate: an admin cannot deactivate themself; an unknown user is not_found', (t) => {
  spec(t)
    .given([{ ...registered, data: { ...registered.data, userId: adminId, role: 'admin' } }])
    .when(deactivate())
    .thenFails({ code: 'forbidden' });
  spec(t).given([]).when(deactivate()).thenFails({ code: 'not_found' });
});

test('activate: an admin reactivates; an active user stays as is; a non-admin is forbidden', (t) => {
  spec(t)
    .given([registered, deactivated])
    .when(activate())
    .then([{ type: 'UserActivated', data: { userId, activatedBy: adminId, activatedAt: later(20).toISOString() } }]);
  spec(t).given([registered]).when(activate()).then([]);
  spec(t).given([registered, deactivated]).when(activate(self)).thenFails({ code: 'forbidden' });
});

test('activate: after reactivation the user can log in again', (t) => {
  const outcome = spec(t)
    .given([
      registered,
      deactivated,
      { type: 'UserActivated', data: { userId, activatedBy: adminId, activatedAt: later(20).toISOString() } },
    ])
    .when(logIn(true))
    .outcome();
  t.like(outcome, { ok: true, events: [{ type: 'SessionStarted' }] });
});

const changeRole = (actor: CommandActor, role: 'admin' | 'user'): UserCommand => ({
  type: 'ChangeUserRole',
  data: { actor, role, now },
});
const promotedBy = (changedBy: string | null): IdentityEventOf<'UserRoleChanged'> => ({
  type: 'UserRoleChanged',
  data: { userId, role: 'admin', previousRole: 'user', changedBy, changedAt: now.toISOString() },
});

test('role: an admin promotes a user', (t) => {
  spec(t)
    .given([registered])
    .when(changeRole(admin, 'admin'))
    .then([promotedBy(adminId)]);
});

test('role: the same role again changes nothing', (t) => {
  spec(t).given([registered]).when(changeRole(admin, 'user')).then([]);
});

test('role: a user cannot change a role', (t) => {
  spec(t).given([registered]).when(changeRole(self, 'admin')).thenFails({ code: 'forbidden' });
});

test('role: an admin cannot demote themself', (t) => {
  spec(t)
    .given([{ ...registered, data: { ...registered.data, userId: adminId, role: 'admin' } }])
    .when(changeRole(admin, 'user'))
    .thenFails({ code: 'forbidden' });
});

test('role: the system (the admin bootstrap) promotes a user as nobody in particular', (t) => {
  spec(t)
    .given([registered])
    .when(changeRole(systemActor, 'admin'))
    .then([promotedBy(null)]);
});

// --- erase ------------------------------------------------------------------------------

const erase = (actor = self, passwordVerified = true): UserCommand => ({
  type: 'EraseUser',
  data: { actor, passwordVerified, now: later(30) },
});

test('erase: a user erases themself with their password', (t) => {
  spec(t)
    .given([registered])
    .when(erase())
    .then([{ type: 'UserErased', data: { userId, erasedBy: null, erasedAt: later(30).toISOString() } }]);
  spec(t).given([registered]).when(erase(self, false)).thenFails({ code: 'invalid_credentials' });
});

test('erase: an admin erases someone else without their password; another user cannot (not_found)', (t) => {
  spec(t)
    .given([registered])
    .when(erase(admin, false))
    .then([{ type: 'UserErased', data: { userId, erasedBy: adminId, erasedAt: later(30).toISOString() } }]);
  spec(t).given([registered]).when(erase(stranger)).thenFails({ code: 'not_found' });
});

test('erase: twice changes nothing; afterwards the user is gone for other commands', (t) => {
  const erased = { type: 'UserErased', data: { userId, erasedBy: null, erasedAt: later(30).toISOString() } } as const;
  spec(t).given([registered, erased]).when(erase()).then([]);
  spec(t).given([registered, erased]).when(deactivate()).thenFails({ code: 'not_found' });
  spec(t).given([registered, erased]).when(changePassword(true)).thenFails({ code: 'not_found' });
});

test('user decider never looks at other users: an unknown target id is not_found for an admin', (t) => {
  spec(t)
    .given([])
    .when(erase({ userId: otherUserId, role: 'admin' }))
    .thenFails({ code: 'not_found' });
});
