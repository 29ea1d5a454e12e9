// The audit trail and projection operations over HTTP: visibility per role, redaction, filters,
// export (NDJSON, CSV), tamper detection at the exact position, admin projection routes.
import test from 'ava';
import pg from 'pg';
import { call, loginToken, newUser, useTestService, type TestUser } from '../support/service.ts';
import { eventually } from '../support/eventually.ts';

let alice: TestUser;
let bob: TestUser;
let adminToken: string;
const admin = { username: 'auditor', password: 'Granite-Pelican-Orbit-51' };

const svc = useTestService(test, { ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password });
test.before(async () => {
  adminToken = await loginToken(svc.api, admin);
  alice = await newUser(svc.api, 'alice');
  bob = await newUser(svc.api, 'bob');
  await call(svc.api, 'POST', '/samples', {
    token: alice.accessToken,
    body: {
      sampleType: 'blood',
      subjectId: 'P001',
      collectionDate: new Date().toISOString().slice(0, 10),
      notes: '=HYPERLINK("http://x")',
    },
  });
  await call(svc.api, 'POST', '/samples', {
    token: bob.accessToken,
    body: { sampleType: 'saliva', subjectId: 'B001', collectionDate: new Date().toISOString().slice(0, 10) },
  });
});

async function auditAll(
  token: string,
  query = '',
): Promise<
  { position: string; streamId: string; type: string; data: Record<string, unknown>; actor: { id: string } }[]
> {
  const items: {
    position: string;
    streamId: string;
    type: string;
    data: Record<string, unknown>;
    actor: { id: string };
  }[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: { items: never[]; nextCursor: string | null } } = await call(
      svc.api,
      'GET',
      `/audit?limit=100${query}${cursor ? `&cursor=${cursor}` : ''}`,
      { token },
    );
    if (r.status !== 200) throw new Error(`audit ${r.status}`);
    items.push(...r.body.items);
    cursor = r.body.nextCursor;
  } while (cursor);
  return items;
}

test.serial("a user sees the events of their own streams only; an admin sees everyone's", async (t) => {
  const mine = await eventually(
    () => auditAll(alice.accessToken),
    (items) => items.some((i) => i.type === 'SampleRegistered'),
  );
  t.true(mine.length >= 4);
  t.true(mine.every((i) => (i.data.userId ?? i.data.ownerId) === alice.id));
  t.false(mine.some((i) => i.streamId.includes(bob.id)));
  const all = await eventually(
    () => auditAll(adminToken),
    (items) => items.some((i) => i.data.ownerId === bob.id),
  );
  t.true(all.some((i) => i.data.userId === alice.id));
  t.true(all.some((i) => i.data.ownerId === bob.id));
  t.true(all.length > mine.length);
});

test.serial('secrets never appear: hashes of passwords, tokens and keys are redacted', async (t) => {
  const all = await auditAll(adminToken);
  const registered = all.find((i) => i.type === 'UserRegistered' && i.data.userId === alice.id)!;
  t.is(registered.data.passwordHash, '[redacted]');
  const session = all.find((i) => i.type === 'SessionStarted' && i.data.userId === alice.id)!;
  t.is(session.data.refreshTokenHash, '[redacted]');
  const text = JSON.stringify(all);
  t.false(text.includes('$argon2id$'));
  t.false(text.includes(alice.password));
});

test.serial('filters by type, stream and actor, and pages without repeats', async (t) => {
  const samples = await auditAll(adminToken, '&type=SampleRegistered');
  t.true(samples.length >= 2);
  t.true(samples.every((i) => i.type === 'SampleRegistered'));
  const stream = samples[0]!.streamId;
  t.true((await auditAll(adminToken, `&streamId=${stream}`)).every((i) => i.streamId === stream));
  t.true((await auditAll(adminToken, `&actorId=${bob.id}`)).every((i) => i.actor.id === bob.id));
  const all = await auditAll(adminToken);
  t.is(new Set(all.map((i) => i.position)).size, all.length);
  t.is((await call(svc.api, 'GET', '/audit?from=yesterday', { token: adminToken })).status, 400);
  t.is((await call(svc.api, 'GET', '/audit')).status, 401);
});

test.serial('export: NDJSON and CSV carry the same events; CSV defuses formulas', async (t) => {
  const list = await auditAll(alice.accessToken);
  const ndjson = await fetch(`${svc.api}/audit/export?format=ndjson`, {
    headers: { authorization: `Bearer ${alice.accessToken}` },
  });
  t.is(ndjson.status, 200);
  t.regex(ndjson.headers.get('content-type') ?? '', /ndjson/);
  const lines = (await ndjson.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { position: string });
  t.deepEqual(
    lines.map((l) => l.position),
    list.map((i) => i.position),
  );
  const csv = await fetch(`${svc.api}/audit/export?format=csv`, {
    headers: { authorization: `Bearer ${alice.accessToken}` },
  });
  const rows = (await csv.text()).trim().split('\r\n');
  t.is(rows[0], 'position,streamId,type,occurredAt,actorId,actorType,requestId,correlationId,reason,data');
  t.is(rows.length, list.length + 1);
  t.false(rows.some((r) => r.includes(',=HYPERLINK')));
});

test.serial(
  'erasure by crypto-shredding: the email and dialog text leave every read model, export and log; the events and their chains stay',
  async (t) => {
    const carol = await newUser(svc.api, 'carol');
    const secretQuestion = `where is my biopsy ${Math.random().toString(36).slice(2)}?`;
    const sample = (
      await call(svc.api, 'POST', '/samples', {
        token: carol.accessToken,
        body: { sampleType: 'blood', subjectId: 'C001', collectionDate: new Date().toISOString().slice(0, 10) },
      })
    ).body.id as string;
    const conversation = (await call(svc.api, 'POST', '/dialog/conversations', { token: carol.accessToken, body: {} }))
      .body.id as string;
    t.is(
      (
        await call(svc.api, 'POST', `/dialog/conversations/${conversation}/messages`, {
          token: carol.accessToken,
          body: { content: secretQuestion },
        })
      ).status,
      201,
    );
    const client = new pg.Client({ connectionString: svc.db.url });
    await client.connect();
    try {
      const rawEvents = async () => JSON.stringify((await client.query('SELECT data FROM events')).rows);
      t.false((await rawEvents()).includes(carol.email), 'the email is sealed inside the events');
      t.false((await rawEvents()).includes(secretQuestion), 'so is the dialog text');
      const exportText = async () =>
        (await fetch(`${svc.api}/audit/export`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      // The audit projection is not awaited by commands: wait until it has carol's events.
      const before = await eventually(
        exportText,
        (text) => text.includes(carol.email) && text.includes('UserMessagePosted') && text.includes(conversation),
      );
      t.true(before.includes(carol.email), 'before erasure the trail shows it to an admin');

      t.is(
        (await call(svc.api, 'DELETE', '/auth/me', { token: carol.accessToken, body: { password: carol.password } }))
          .status,
        204,
      );

      // Erasure waits for the identity read model; the other projections follow: wait for them.
      const remaining = async () =>
        (await client.query<{ n: number }>('SELECT count(*) AS n FROM dialog_messages WHERE owner_id = $1', [carol.id]))
          .rows[0]!.n;
      t.is(Number(await eventually(remaining, (n) => Number(n) === 0)), 0);
      const readModels = ['identity_users', 'samples', 'dialog_messages', 'dialog_conversations', 'audit_events'];
      for (const table of readModels) {
        const text = JSON.stringify((await client.query(`SELECT * FROM ${table}`)).rows);
        t.false(text.includes(carol.email), `${table} has no email`);
        t.false(text.includes(secretQuestion), `${table} has no dialog text`);
      }
      // The lab's samples stay: they belong to the lab, not to the person who registered them.
      t.is((await client.query('SELECT count(*)::int AS n FROM samples WHERE owner_id = $1', [carol.id])).rows[0].n, 1);
      const after = await eventually(exportText, (text) => text.includes('"UserErased"') && text.includes(carol.id));
      t.false(after.includes(carol.email));
      t.false(after.includes(secretQuestion));
      const trail = after
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; streamId: string; data: Record<string, unknown> });
      const registered = trail.find((e) => e.type === 'UserRegistered' && e.data.userId === carol.id)!;
      t.is(registered.data.email, '[erased]');
      t.true(
        trail.some((e) => e.streamId === `sample-${sample}` && e.type === 'SampleRegistered'),
        'the history is still there',
      );
      t.true(trail.some((e) => e.type === 'UserMessagePosted' && e.data.content === '[erased]'));
      t.false(svc.logLines.some((l) => l.includes(carol.email) || l.includes(secretQuestion)));
      t.like(
        (await call(svc.api, 'GET', '/audit/verify', { token: adminToken })).body,
        { ok: true },
        'the chains still hold',
      );
    } finally {
      await client.end();
    }
  },
);

test.serial('verify passes, then finds an event edited in the database at exactly its position', async (t) => {
  const before = await call(svc.api, 'GET', '/audit/verify', { token: adminToken });
  t.like(before.body, { ok: true, firstBrokenPosition: null });
  t.true(before.body.checkedEvents > 5);
  t.like((await call(svc.api, 'GET', '/audit/verify', { token: alice.accessToken })).body, { ok: true });

  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  let tampered: string;
  try {
    const target = await client.query<{ commit: string; position: string }>(
      `SELECT transaction_id::text AS commit, position::text AS position FROM events WHERE type = 'SampleRegistered' AND data->>'ownerId' = $1`,
      [alice.id],
    );
    tampered = `${target.rows[0]!.commit}/${target.rows[0]!.position}`;
    // As a DBA would: the table's owner disables the append-only trigger around the edit.
    await client.query('BEGIN');
    await client.query('ALTER TABLE events DISABLE TRIGGER USER');
    await client.query(`UPDATE events SET data = jsonb_set(data, '{subjectId}', '"P999"') WHERE position = $1`, [
      target.rows[0]!.position,
    ]);
    await client.query('ALTER TABLE events ENABLE TRIGGER USER');
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
  const after = await call(svc.api, 'GET', '/audit/verify', { token: adminToken });
  t.like(after.body, { ok: false, firstBrokenPosition: tampered });
  const own = await call(svc.api, 'GET', '/audit/verify', { token: alice.accessToken });
  t.like(own.body, { ok: false, firstBrokenPosition: tampered });
  t.like(
    (await call(svc.api, 'GET', '/audit/verify', { token: bob.accessToken })).body,
    { ok: true },
    "bob's streams are untouched",
  );
});

test('admin projection routes: status list, rebuild 202 (admin only), unknown 404', async (t) => {
  t.is((await call(svc.api, 'GET', '/admin/projections', { token: alice.accessToken })).status, 403);
  const list = await call(svc.api, 'GET', '/admin/projections', { token: adminToken });
  t.is(list.status, 200);
  t.deepEqual(list.body.map((p: { name: string }) => p.name).sort(), [
    'audit',
    'dialog',
    'identity',
    'imports',
    'lab_reactions',
    'labs',
    'samples',
    'storage',
  ]);
  t.true(
    list.body.every(
      (p: { position: string; lagEvents: number }) => /^-?\d+\/-?\d+$/.test(p.position) && p.lagEvents >= 0,
    ),
  );
  t.is((await call(svc.api, 'POST', '/admin/projections/nope/rebuild', { token: adminToken })).status, 404);
  t.is((await call(svc.api, 'POST', '/admin/projections/samples/rebuild', { token: alice.accessToken })).status, 403);
  const requested = await call(svc.api, 'POST', '/admin/projections/samples/rebuild', { token: adminToken });
  t.is(requested.status, 202);
  const done = await eventually(
    () => call(svc.api, 'GET', '/admin/projections', { token: adminToken }),
    (r) =>
      r.body.some(
        (p: { name: string; rebuildRequested: boolean; status: string }) =>
          p.name === 'samples' && !p.rebuildRequested && p.status === 'running',
      ),
    20_000,
  );
  t.true(
    done.body.some((p: { name: string; rebuildRequested: boolean }) => p.name === 'samples' && !p.rebuildRequested),
  );
  t.is((await call(svc.api, 'GET', '/samples', { token: alice.accessToken })).body.total, 1);
});
