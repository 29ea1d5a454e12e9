// A whole identity scenario with real argon2 hashes and real tokens: every event it produces
// matches its schema, lands in the right (short) stream, and holds no password or token.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { Decision } from '../../platform/commands/decision.ts';
import type { UserCommand } from '../../modules/identity/decide.ts';
import {
  apiKeyDecider,
  reservationConflict,
  sessionDecider,
  systemActor,
  userDecider,
} from '../../modules/identity/decide.ts';
import type { ApiKeyEvent, IdentityEvent, SessionEvent, UserEvent } from '../../modules/identity/events.ts';
import {
  identityEvents,
  identityStreams,
  personalDataFields,
  streamOf,
  userEventTypes as userStreamEventTypes,
} from '../../modules/identity/events.ts';
import { createPasswordHasher } from '../../modules/identity/passwords.ts';
import {
  createAccessTokens,
  generateApiKey,
  generateRefreshToken,
  parseApiKey,
  parseRefreshToken,
} from '../../modules/identity/tokens.ts';
import { admin, later } from '../support/identity-fixtures.ts';

const userEventTypes = new Set<string>(userStreamEventTypes);

test('a full scenario: schemas hold, streams stay short, no password or token is ever in an event', async (t) => {
  const hasher = createPasswordHasher();
  const accessTokens = createAccessTokens({
    jwtKeys: [{ kid: 'k1', secret: 'x'.repeat(40) }],
    JWT_ISSUER: 'vialog',
    JWT_AUDIENCE: 'vialog-api',
    ACCESS_TOKEN_TTL_SECONDS: 900,
  });
  const secrets: string[] = [];
  const all: IdentityEvent[] = [];
  const streams = new Map<string, IdentityEvent[]>();
  const record = (decision: Decision<IdentityEvent>) => {
    for (const event of decision.events) streams.set(streamOf(event), [...(streams.get(streamOf(event)) ?? []), event]);
    all.push(...decision.events);
    return decision;
  };
  const userId = randomUUID();
  const userState = () =>
    (streams.get(identityStreams.user(userId)) ?? []).reduce(
      (s, e) => userDecider.evolve(s, e as UserEvent),
      userDecider.initialState(),
    );
  const sessionState = (id: string) =>
    (streams.get(identityStreams.session(id)) ?? []).reduce(
      (s, e) => sessionDecider.evolve(s, e as SessionEvent),
      sessionDecider.initialState(),
    );
  const request = { ip: '198.51.100.4', userAgent: 'scenario' };

  // register
  const password = 'Plaintext-Passphrase-42';
  secrets.push(password);
  t.true(
    record(
      userDecider.decide(
        {
          type: 'RegisterUser',
          data: {
            userId,
            username: 'grace_h',
            email: 'Grace@Example.org',
            password,
            passwordHash: await hasher.hash(password),
            role: 'user',
            now: later(0),
          },
        },
        userState(),
      ),
    ).ok,
  );

  // a wrong password, then three logins (one per day), each its own session
  const loginWith = async (attempt: string, day: number) => {
    const state = userState();
    const sessionId = randomUUID();
    const refresh = generateRefreshToken(sessionId);
    secrets.push(refresh.token);
    const verified = await hasher.verifyOrDummy(state.status === 'active' ? state.passwordHash : undefined, attempt);
    const command: UserCommand = {
      type: 'LogIn',
      data: {
        passwordVerified: verified,
        sessionId,
        refreshTokenHash: refresh.tokenHash,
        sessionTtlSeconds: 30 * 86_400,
        request,
        now: later(day * 86_400),
      },
    };
    const decision = record(userDecider.decide(command, state));
    if (decision.ok)
      secrets.push((await accessTokens.sign({ userId, role: 'user', sessionId }, later(day * 86_400))).token);
    return { decision, sessionId, refreshToken: refresh.token };
  };
  secrets.push('Wrong-Passphrase-99');
  t.like((await loginWith('Wrong-Passphrase-99', 0)).decision, { ok: false, error: { code: 'invalid_credentials' } });
  const first = await loginWith(password, 1);
  await loginWith(password, 2);
  await loginWith(password, 3);

  // refresh rotation, then the old token replayed: the session is revoked
  const rotated = generateRefreshToken(first.sessionId);
  secrets.push(rotated.token);
  const presented = parseRefreshToken(first.refreshToken)!;
  const owner = { isActive: true, sessionsValidFrom: null };
  t.true(
    record(
      sessionDecider.decide(
        {
          type: 'RefreshSession',
          data: {
            presentedTokenHash: presented.tokenHash,
            newRefreshTokenHash: rotated.tokenHash,
            owner,
            request,
            now: later(86_400 + 900),
          },
        },
        sessionState(first.sessionId),
      ),
    ).ok,
  );
  const replay = record(
    sessionDecider.decide(
      {
        type: 'RefreshSession',
        data: {
          presentedTokenHash: presented.tokenHash,
          newRefreshTokenHash: generateRefreshToken(first.sessionId).tokenHash,
          owner,
          request,
          now: later(86_400 + 1000),
        },
      },
      sessionState(first.sessionId),
    ),
  );
  t.like(replay, {
    ok: false,
    events: [{ type: 'RefreshTokenReuseDetected' }, { type: 'SessionRevoked', data: { reason: 'reuse_detected' } }],
  });

  // password change, then the route's fan-out revokes every open session
  const newPassword = 'Another-Long-Passphrase-7';
  secrets.push(newPassword);
  const self = { userId, role: 'user' } as const;
  t.true(
    record(
      userDecider.decide(
        {
          type: 'ChangePassword',
          data: {
            actor: self,
            currentPasswordVerified: true,
            newPassword,
            newPasswordHash: await hasher.hash(newPassword),
            now: later(4 * 86_400),
          },
        },
        userState(),
      ),
    ).ok,
  );
  for (const streamId of streams.keys()) {
    if (!streamId.startsWith('session-')) continue;
    const id = streamId.slice('session-'.length);
    record(
      sessionDecider.decide(
        { type: 'RevokeSession', data: { actor: systemActor, reason: 'password_changed', now: later(4 * 86_400) } },
        sessionState(id),
      ),
    );
  }
  t.true(
    [...streams.keys()]
      .filter((s) => s.startsWith('session-'))
      .every((s) => sessionState(s.slice(8)).status === 'revoked'),
  );

  // an API key: created, used, revoked
  const keyId = randomUUID();
  const apiKey = generateApiKey(keyId);
  secrets.push(apiKey.key, apiKey.key.slice(apiKey.prefix.length + 1));
  const keyEvents = () => (streams.get(identityStreams.apiKey(keyId)) ?? []) as ApiKeyEvent[];
  const keyState = () => keyEvents().reduce(apiKeyDecider.evolve, apiKeyDecider.initialState());
  t.true(
    record(
      apiKeyDecider.decide(
        {
          type: 'CreateApiKey',
          data: {
            keyId,
            owner: { userId, isActive: true },
            name: 'robot',
            prefix: apiKey.prefix,
            secretHash: apiKey.secretHash,
            now: later(5 * 86_400),
          },
        },
        keyState(),
      ),
    ).ok,
  );
  t.true(
    record(
      apiKeyDecider.decide(
        {
          type: 'AuthenticateApiKey',
          data: { presentedKeyHash: parseApiKey(apiKey.key)!.keyHash, ownerIsActive: true, now: later(5 * 86_400 + 5) },
        },
        keyState(),
      ),
    ).ok,
  );
  t.true(
    record(apiKeyDecider.decide({ type: 'RevokeApiKey', data: { actor: self, now: later(6 * 86_400) } }, keyState()))
      .ok,
  );

  // deactivate, erase
  t.true(
    record(userDecider.decide({ type: 'DeactivateUser', data: { actor: admin, now: later(7 * 86_400) } }, userState()))
      .ok,
  );
  t.true(
    record(
      userDecider.decide(
        { type: 'EraseUser', data: { actor: admin, passwordVerified: false, now: later(8 * 86_400) } },
        userState(),
      ),
    ).ok,
  );

  // 1. every event matches its strict schema (no stray fields) and has a schema version
  for (const event of all) {
    t.notThrows(() => identityEvents.parse(event.type, event.data), event.type);
    t.is(identityEvents.schemaVersions[event.type], 1);
  }
  // 2. no secret, in any form, anywhere in the serialized events
  const serialized = JSON.stringify(all);
  t.true(secrets.length >= 12);
  for (const secret of secrets) t.false(serialized.includes(secret), 'an event contains a password or token');
  t.false(/password"\s*:/i.test(serialized), 'no field named password');
  // 3. logins and failures stay out of the user stream; the email is in no stream id
  const userStream = streams.get(identityStreams.user(userId))!;
  t.true(userStream.every((e) => userEventTypes.has(e.type)));
  t.deepEqual(
    userStream.map((e) => e.type),
    ['UserRegistered', 'PasswordChanged', 'UserDeactivated', 'UserErased'],
  );
  t.true(streams.has(identityStreams.loginFailures(userId, later(0))));
  t.true([...streams.keys()].every((s) => !s.toLowerCase().includes('grace@example.org')));
  t.true(streams.has('username-grace_h'));
});

test('events: every type has a schema version, a personal-data entry, and a stream', (t) => {
  t.true(identityEvents.types.length >= 19);
  for (const type of identityEvents.types) {
    t.true(Number.isInteger(identityEvents.schemaVersions[type]), type);
    t.true(Array.isArray(personalDataFields[type]), type);
  }
  t.is(identityStreams.emailReservation('Ada@Example.org '), identityStreams.emailReservation('ada@example.org'));
  t.regex(identityStreams.emailReservation('ada@example.org'), /^email-[0-9a-f]{64}$/);
  t.is(identityStreams.usernameReservation('Ada.Lovelace'), 'username-ada.lovelace');
  t.is(identityStreams.loginFailures('u1', '2025-03-31T23:59:59.999Z'), 'login-failures-u1-2025-03');
});

test('events: a strict schema refuses a stray password field', (t) => {
  t.throws(() =>
    identityEvents.parse('LoginFailed', {
      userId: randomUUID(),
      reason: 'wrong_password',
      failedAt: later(0).toISOString(),
      ip: null,
      userAgent: null,
      password: 'hunter2hunter2',
    }),
  );
});

test('reservation conflicts map to username_taken and email_taken', (t) => {
  t.like(reservationConflict(identityStreams.usernameReservation('ada')), {
    code: 'username_taken',
    errors: [{ path: 'username' }],
  });
  t.like(reservationConflict(identityStreams.emailReservation('ada@example.org')), {
    code: 'email_taken',
    errors: [{ path: 'email' }],
  });
  t.is(reservationConflict(identityStreams.user(randomUUID())), undefined);
  const event = { type: 'UsernameReserved', data: { userId: randomUUID(), username: 'ada' } } as const;
  t.is(streamOf(event), 'username-ada');
});
