// Erasure leaves no personal data readable (issue 16 §4): the IP address and user agent of
// logins and failed logins, API key names and conversation titles are sealed with the person's
// key in new events, so after DELETE /auth/me the admin's audit export shows "[erased]" for them;
// events stored before those fields were sealed show "[erased]" too once their owner is erased.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { eventMetadata } from '../../platform/eventstore/metadata.ts';
import { call, loginToken, newUser, bootstrapAdmin, useTestService } from '../support/service.ts';
import { userCause } from '../support/event-world.ts';
import { eventually } from '../support/eventually.ts';

const admin = { username: 'auditor', password: 'Granite-Pelican-Orbit-51' };
let adminToken: string;

const svc = useTestService(test, {
  ...bootstrapAdmin(admin),
  TRUST_PROXY_HOPS: '1',
});
test.before(async () => {
  adminToken = await loginToken(svc.api, admin);
});

const exportText = async () =>
  (await fetch(`${svc.api}/audit/export`, { headers: { authorization: `Bearer ${adminToken}` } })).text();

test('request facts, API key names and conversation titles are sealed in the events and unreadable after erasure, old plain ones too', async (t) => {
  const user = await newUser(svc.api, 'leaving');
  const tag = Math.random().toString(36).slice(2, 8);
  const facts = { 'user-agent': `Distinctive-Agent/${tag}`, 'x-forwarded-for': '192.0.2.201' };
  const personal = {
    userAgent: `Distinctive-Agent/${tag}`,
    ip: '192.0.2.201',
    keyName: `Key of ${tag}`,
    title: `Biopsy of patient ${tag}`,
    legacyAgent: `Legacy-Agent/${tag}`,
    legacyIp: '192.0.2.202',
  };
  const session = await call(svc.api, 'POST', '/auth/login', {
    headers: facts,
    body: { login: user.username, password: user.password },
  });
  t.is(session.status, 200);
  t.is(
    (
      await call(svc.api, 'POST', '/auth/login', {
        headers: facts,
        body: { login: user.username, password: 'wrong-and-recorded' },
      })
    ).status,
    401,
  );
  t.is(
    (
      await call(svc.api, 'POST', '/auth/api-keys', {
        token: session.body.accessToken,
        body: { name: personal.keyName },
      })
    ).status,
    201,
  );
  t.is(
    (
      await call(svc.api, 'POST', '/dialog/conversations', {
        token: session.body.accessToken,
        body: { title: personal.title },
      })
    ).status,
    201,
  );
  // An event from before these fields were sealed: stored in plain text, and events are never rewritten.
  const legacySession = randomUUID();
  const now = new Date();
  await svc.service.infrastructure.store.append(
    `session-${legacySession}`,
    [
      {
        type: 'SessionStarted',
        data: {
          sessionId: legacySession,
          userId: user.id,
          refreshTokenHash: 'a'.repeat(64),
          startedAt: now.toISOString(),
          expiresAt: new Date(now.getTime() + 86_400_000).toISOString(),
          ip: personal.legacyIp,
          userAgent: personal.legacyAgent,
        },
        metadata: eventMetadata(userCause(user.id), 1),
      },
    ],
    { expectedRevision: 'no_stream' },
  );

  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    const rawEvents = JSON.stringify(
      (await client.query('SELECT data FROM events WHERE stream_id <> $1', [`session-${legacySession}`])).rows,
    );
    for (const [what, value] of Object.entries(personal).filter(([k]) => !k.startsWith('legacy')))
      t.false(rawEvents.includes(value), `${what} is sealed in the events`);
    const before = await eventually(exportText, (text) => Object.values(personal).every((v) => text.includes(v)));
    for (const [what, value] of Object.entries(personal))
      t.true(before.includes(value), `before erasure the admin sees the ${what}`);
    t.is(
      (await call(svc.api, 'GET', '/auth/api-keys', { token: session.body.accessToken })).body.items[0].name,
      personal.keyName,
      'the owner sees the name',
    );

    t.is(
      (
        await call(svc.api, 'DELETE', '/auth/me', {
          token: session.body.accessToken,
          body: { password: user.password },
        })
      ).status,
      204,
    );

    const after = await eventually(exportText, (text) => text.includes('"UserErased"') && text.includes(user.id));
    for (const [what, value] of Object.entries(personal))
      t.false(after.includes(value), `after erasure the export shows no ${what}`);
    const trail = after
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const theirs = (type: string) =>
      trail.filter((e) => e.type === type && (e.data.userId ?? e.data.ownerId) === user.id);
    t.true(theirs('SessionStarted').length >= 3);
    for (const e of theirs('SessionStarted')) t.like(e.data, { ip: '[erased]', userAgent: '[erased]' });
    t.like(theirs('LoginFailed')[0]?.data, { ip: '[erased]', userAgent: '[erased]' });
    t.like(theirs('ApiKeyCreated')[0]?.data, { name: '[erased]' });
    t.like(theirs('ConversationStarted')[0]?.data, { title: '[erased]' });
    const keyRows = JSON.stringify(
      (await client.query('SELECT name FROM identity_api_keys WHERE user_id = $1', [user.id])).rows,
    );
    t.false(keyRows.includes(personal.keyName), 'the read model dropped the key name');
  } finally {
    await client.end();
  }
});
