// What the identity commands append, stream by stream: a login's session, a password change's
// fan-out, a failed login's record, the bootstrap's promotion.
import test from 'ava';
import { identityStreams } from '../../modules/identity/events.ts';
import { identityCommandsFor } from '../../modules/identity/module.ts';
import { parseRefreshToken } from '../../modules/identity/tokens.ts';
import { loadConfig } from '../../platform/config.ts';
import { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { asUser, eventsOf, eventTypes } from '../support/client.ts';
import { call, newUser, useTestService } from '../support/service.ts';

const svc = useTestService(test);

const sessionStream = (refreshToken: string) => identityStreams.session(parseRefreshToken(refreshToken)!.sessionId);

test('a login starts its session in the session stream and leaves the user stream as it was', async (t) => {
  const user = await newUser(svc.api);
  t.deepEqual(await eventTypes(svc, identityStreams.user(user.id)), ['UserRegistered']);
  t.deepEqual(await eventTypes(svc, sessionStream(user.refreshToken)), ['SessionStarted']);
});

test('a wrong password is recorded as LoginFailed in the month of failures, not in the user stream', async (t) => {
  const user = await newUser(svc.api);
  const refused = await call(svc.api, 'POST', '/auth/login', { body: { login: user.username, password: 'wrong' } });
  t.is(refused.status, 401);
  const failures = identityStreams.loginFailures(user.id, new Date());
  for (let i = 0; i < 50 && (await eventTypes(svc, failures)).length === 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 50)); // recorded after the answer
  t.deepEqual(await eventTypes(svc, failures), ['LoginFailed']);
  t.deepEqual(await eventTypes(svc, identityStreams.user(user.id)), ['UserRegistered']);
});

test('a password change appends PasswordChanged, then revokes the open sessions and the API keys', async (t) => {
  const user = await newUser(svc.api);
  const key = await asUser(svc.api, user).post('/auth/api-keys', { name: 'import' });
  const body = { currentPassword: user.password, newPassword: 'Amber-Lantern-Quarry-73' };
  t.is((await asUser(svc.api, user).post('/auth/password', body)).status, 204);
  t.deepEqual(await eventTypes(svc, identityStreams.user(user.id)), ['UserRegistered', 'PasswordChanged']);
  const session = await eventsOf(svc, sessionStream(user.refreshToken));
  t.like(session.at(-1), { type: 'SessionRevoked', data: { reason: 'password_changed', revokedBy: null } });
  t.deepEqual(await eventTypes(svc, identityStreams.apiKey(String(key.body.id))), ['ApiKeyCreated', 'ApiKeyRevoked']);
});

test('the bootstrap promotes an existing account: UserRoleChanged by nobody in particular', async (t) => {
  const user = await newUser(svc.api);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: svc.db.url,
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
  });
  const { knex, store } = svc.service.infrastructure;
  const commands = identityCommandsFor({
    config,
    knex,
    store,
    vault: new PersonalDataVault(knex, config.personalDataKey),
    waitForProjections: (names, position) =>
      svc.service.engine.waitForProjections(names, position, { timeoutMs: 5000 }),
  });
  const admin = { username: user.username, email: user.email, password: user.password };
  t.is(await commands.ensureAdmin(admin, systemCause('bootstrap')), 'promoted');
  t.is(await commands.ensureAdmin(admin, systemCause('bootstrap')), 'unchanged');
  const events = await eventsOf(svc, identityStreams.user(user.id));
  t.deepEqual(
    events.map((e) => e.type),
    ['UserRegistered', 'UserRoleChanged'],
  );
  t.like(events[1]?.data, { role: 'admin', previousRole: 'user', changedBy: null });
});
