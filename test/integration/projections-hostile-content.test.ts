// Every projection stores whatever a valid event holds: events at the edges of their schemas
// (longest strings, control characters, astral characters, dates at 1900 and 9999, token counts
// at the integer limit) and sealed personal data whose plain text PostgreSQL cannot hold (U+0000,
// lone surrogates: what the dialog once let in), appended straight to the store. Every read model
// applies them and stays running.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { allProjections } from '../../app/modules.ts';
import { createDialogCommands } from '../../modules/dialog/commands.ts';
import { createSampleCommands } from '../../modules/samples/commands.ts';
import type { PersonalDataVault } from '../../platform/crypto/personal-data.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import type { EventMetadata, NewEvent, Position } from '../../platform/eventstore/port.ts';
import type { PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { ProjectionEngine } from '../../projections/engine/index.ts';
import { testDialogLimits } from '../support/dialog.ts';
import { openEventWorld, type EventWorld } from '../support/event-world.ts';

let world: EventWorld;
let knex: Knex;
let store: PostgresEventStore;
let vault: PersonalDataVault;
let engine: ProjectionEngine;

test.before(async () => {
  world = await openEventWorld('vialog_hostile_rm', { knexPoolMax: 5 });
  ({ knex, store, vault } = world);
  const projections = allProjections(vault);
  const databaseUrl = world.db.url;
  engine = new ProjectionEngine({ projections, store, knex, databaseUrl, batchSize: 100, pollIntervalMs: 100 });
  engine.start();
});
test.after.always(async () => {
  await engine?.stop();
  await world?.close();
});

/** Every C0 control but U+0000 (which no PostgreSQL text holds), astral and unusual characters. */
const CONTROLS = Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('');
const odd = (length: number) => ('🧪' + CONTROLS + '\u202e\uffff"\\\'é' + 'x'.repeat(length)).slice(0, length);
const INT_MAX = 2 ** 31 - 1;
const now = '2026-11-02T10:00:00.000Z';

const metadata = (): EventMetadata => ({
  eventId: randomUUID(),
  schemaVersion: 1,
  occurredAt: now,
  actorId: odd(40),
  actorType: 'user',
  requestId: odd(128),
  correlationId: odd(128),
  causationId: null,
  traceparent: null,
  reason: odd(500),
});
const event = (type: string, data: Record<string, unknown>): NewEvent => ({ type, data, metadata: metadata() });

async function append(streamId: string, events: NewEvent[]): Promise<Position> {
  return (await store.append(streamId, events, { expectedRevision: 'no_stream' })).position;
}

const userId = randomUUID();
const sampleIds = [randomUUID(), randomUUID()];
const conversationId = randomUUID();
const keyId = randomUUID();
const [freezerId, rackId, boxId] = [randomUUID(), randomUUID(), randomUUID()];

/** Appends the edge cases; answers where each projection's last event of them lies. */
async function appendEdgeCases(): Promise<Record<string, Position>> {
  await append(`user-${userId}`, [
    event('UserRegistered', {
      userId,
      username: odd(32),
      // Sealed: its plain text was never checked by the store (jsonb would refuse U+0000 there).
      email: await vault.seal(userId, 'a\u0000b\ud800@lab.example'),
      role: 'user',
      passwordHash: '$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA',
      registeredAt: now,
    }),
  ]);
  await append(`session-${randomUUID()}`, [
    event('SessionStarted', {
      sessionId: randomUUID(),
      userId,
      refreshTokenHash: 'a'.repeat(64),
      startedAt: now,
      expiresAt: now,
      ip: odd(45),
      userAgent: odd(256),
    }),
  ]);
  const key = { keyId, userId, name: odd(100), prefix: odd(64), secretHash: 'b'.repeat(64), createdAt: now };
  const identity = await append(`apikey-${keyId}`, [event('ApiKeyCreated', key)]);
  let samples = identity;
  for (const [i, sampleId] of sampleIds.entries()) {
    const owned = { sampleId, ownerId: userId };
    const notesChange = { from: odd(2000), to: odd(1999) };
    samples = await append(`sample-${sampleId}`, [
      event('SampleRegistered', {
        sampleId,
        ownerId: userId,
        sampleType: 'tissue',
        subjectId: odd(32),
        collectionDate: i === 0 ? '1900-01-01' : '9999-12-31',
        status: 'collected',
        storageLocation: odd(64),
        notes: odd(2000),
        registeredAt: now,
      }),
      event('SampleDetailsCorrected', { ...owned, changes: { notes: notesChange }, correctedAt: now }),
      event('SampleStatusChanged', { ...owned, from: 'collected', to: 'processing', reason: odd(500), changedAt: now }),
      event('SampleMoved', { ...owned, from: odd(64), to: odd(63), movedAt: now }),
    ]);
  }
  const labId = randomUUID();
  const member = { labId, userId };
  const labs = await append(`lab-${labId}`, [
    event('LabCreated', { labId, name: odd(100), personal: false, createdBy: userId, createdAt: now }),
    event('MemberAdded', { ...member, role: 'manager', addedAt: now }),
    event('LabRenamed', { labId, from: odd(100), to: odd(99), renamedAt: now }),
    event('MemberRoleChanged', { ...member, from: 'manager', to: 'viewer', changedAt: now }),
    event('MemberRemoved', { ...member, role: 'viewer', cause: 'erased', removedAt: now }),
  ]);
  const [q1, q2, q3] = [randomUUID(), randomUUID(), randomUUID()];
  const conversation = { conversationId, ownerId: userId };
  const question = async (messageId: string, text: string) =>
    event('UserMessagePosted', { ...conversation, messageId, content: await vault.seal(userId, text), postedAt: now });
  const reply = async (replyTo: string) =>
    event('AssistantReplied', {
      conversationId,
      ownerId: userId,
      messageId: randomUUID(),
      replyTo,
      content: await vault.seal(userId, odd(50_000)),
      model: odd(200),
      usage: { promptTokens: INT_MAX, completionTokens: INT_MAX },
      latencyMs: INT_MAX,
      partial: false,
      repliedAt: now,
    });
  const dialog = await append(`conversation-${conversationId}`, [
    event('ConversationStarted', { conversationId, ownerId: userId, title: odd(200), startedAt: now }),
    // The poison of old: a message whose plain text holds U+0000 and a lone surrogate.
    await question(q1, 'how\u0000 many\ud800?'),
    await reply(q1),
    await question(q2, odd(100_000)),
    await reply(q2), // a second reply at the integer limit: the day's sums must not overflow
    await question(q3, 'x'),
    event('AssistantReplyFailed', { conversationId, ownerId: userId, replyTo: q3, reason: odd(500), failedAt: now }),
  ]);
  const lab = { labId: userId };
  const created = (unitId: string, kind: string, parentId: string | null, grid: unknown, temperatureC: number) =>
    event('StorageUnitCreated', { unitId, ...lab, name: odd(100), kind, parentId, grid, temperatureC, createdAt: now });
  await append(`unit-${freezerId}`, [created(freezerId, 'freezer', null, null, -273)]);
  await append(`unit-${rackId}`, [created(rackId, 'rack', freezerId, null, 100)]);
  const slot = { unitId: boxId, ...lab, position: 'Z30', sampleId: sampleIds[0] };
  const storage = await append(`unit-${boxId}`, [
    created(boxId, 'box', rackId, { rows: 26, columns: 30 }, -273),
    event('BoxSlotClaimed', { ...slot, claimedAt: now }),
    event('BoxSlotReleased', { ...slot, reason: 'abandoned', releasedAt: now }),
    event('BoxSlotClaimed', { ...slot, position: 'A1', claimedAt: now }),
    event('StorageUnitRenamed', { unitId: boxId, ...lab, from: odd(100), to: odd(99), renamedAt: now }),
    event('StorageUnitTemperatureSet', { unitId: boxId, ...lab, from: -273, to: 100, setAt: now }),
    event('StorageUnitMoved', { unitId: boxId, ...lab, fromParentId: rackId, toParentId: freezerId, movedAt: now }),
  ]);
  const importId = randomUUID();
  const imports = await append(`import-${importId}`, [
    event('ImportSubmitted', {
      importId,
      ...lab,
      sha256: 'f'.repeat(64),
      bytes: INT_MAX,
      mode: 'best-effort',
      dryRun: false,
      allowDuplicate: true,
      submittedAt: now,
    }),
    event('ImportValidated', {
      importId,
      rows: INT_MAX,
      validRows: INT_MAX,
      invalidRows: 0,
      errors: [{ row: 2, column: 'notes', code: 'invalid_text', message: odd(500) }],
      validatedAt: now,
    }),
    event('ImportStarted', { importId, startedAt: now }),
    event('ImportProgressed', {
      importId,
      processed: INT_MAX,
      created: INT_MAX,
      refused: 0,
      lastRow: INT_MAX,
      at: now,
    }),
    event('ImportCompleted', { importId, created: INT_MAX, refused: 0, completedAt: now }),
  ]);
  return { identity, samples, labs, dialog, storage, imports, audit: imports };
}

test.serial('every projection applies events at the edges of their schemas and keeps running', async (t) => {
  const last = await appendEdgeCases();
  const wait = (name: string) => engine.waitForProjections([name], last[name]!, { timeoutMs: 30_000 });
  const reached = await Promise.all(engine.projections.map((p) => wait(p.name)));
  const statuses = await engine.status();
  t.deepEqual(
    statuses.filter((s) => s.status === 'failed' || s.lastError !== null).map((s) => s.name),
    [],
    `no projection failed: ${JSON.stringify(statuses.map((s) => [s.name, s.lastError]))}`,
  );
  t.deepEqual(
    reached,
    engine.projections.map(() => true),
    'every projection applied the last of its events',
  );
});

test.serial('the read models hold text as the events do, made storable only where it could not be', async (t) => {
  const sample = await knex('samples').where('sample_id', sampleIds[1]).first();
  t.is(sample.notes, odd(1999), 'control and astral characters kept as they are');
  t.is(sample.subject_id, odd(32));
  t.is(sample.storage_location, odd(63));
  const dates = await knex.raw<{ rows: { d: string }[] }>('SELECT collection_date::text AS d FROM samples ORDER BY 1');
  t.deepEqual(
    dates.rows.map((r) => r.d),
    ['1900-01-01', '9999-12-31'],
  );

  const messages = await knex('dialog_messages').where('conversation_id', conversationId).orderBy('seq');
  t.is(messages[0].content, 'how\ufffd many\ufffd?', 'U+0000 and the lone surrogate became U+FFFD');
  t.is(messages[2].content, odd(100_000));
  const usage = await knex('dialog_usage').where('owner_id', userId).first();
  t.is(usage.prompt_tokens, INT_MAX, "the day's token sum stops at the integer limit");
  t.is((await knex('dialog_conversations').where('conversation_id', conversationId).first()).title, odd(200));

  const user = await knex('identity_users').where('user_id', userId).first();
  t.is(user.email, 'a\ufffdb\ufffd@lab.example');
  t.is(user.username, odd(32));
  t.is((await knex('identity_api_keys').where('key_id', keyId).first()).name, odd(100));

  const box = await knex('storage_units').where('unit_id', boxId).first();
  t.like(box, { name: odd(99), path: `${odd(100)} / ${odd(99)}`, capacity: 780, occupied: 1, temperature_c: 100 });

  const audit = await knex.raw<{ rows: { n: number }[] }>('SELECT count(*)::int AS n FROM audit_events');
  const events = await knex.raw<{ rows: { n: number }[] }>('SELECT count(*)::int AS n FROM events');
  t.is(audit.rows[0]!.n, events.rows[0]!.n, 'the audit trail holds every event');
});

const eventCount = async () =>
  (await knex.raw<{ rows: { n: number }[] }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;

test.serial('in depth: the samples commands append nothing that holds U+0000 or a lone surrogate', async (t) => {
  const commands = createSampleCommands({ store, waitForReadModel: () => Promise.resolve(true) });
  const before = await eventCount();
  const today = new Date().toISOString().slice(0, 10);
  const fields = { sampleType: 'blood', subjectId: 'P001', collectionDate: today } as const;
  const lab = randomUUID();
  const register = (notes: string) => commands.register(lab, lab, 'manager', { ...fields, notes }, systemCause());
  const error = await t.throwsAsync(register('fasting\u0000'));
  t.regex(error.message, /SampleRegistered not appended: data\.notes/);
  t.false(error.message.includes('fasting'), 'the error names the field, never its content');
  await t.throwsAsync(register('fasting\udc00'));
  const badReason = commands.register(lab, lab, 'manager', fields, systemCause('why\u0000'));
  await t.throwsAsync(badReason, { message: /metadata\.reason/ });
  t.is(await eventCount(), before);
});

test.serial('in depth: the dialog commands append nothing that holds U+0000, even in text they seal', async (t) => {
  const commands = createDialogCommands({
    store,
    knex,
    vault,
    assistant: { model: 'none', answer: () => Promise.reject(new Error('not asked')) },
    waitForReadModel: () => Promise.resolve(true),
    limits: testDialogLimits,
  });
  const before = await eventCount();
  const badTitle = commands.start(randomUUID(), 'title\u0000', systemCause());
  await t.throwsAsync(badTitle, { message: /ConversationStarted not appended: data\.title/ });
  const owner = randomUUID();
  const started = await commands.start(owner, 'fine', systemCause());
  const badQuestion = commands.ask(owner, started.id, 'how\ud800 many?', systemCause());
  await t.throwsAsync(badQuestion, { message: /UserMessagePosted not appended: data\.content/ });
  t.is(await eventCount(), before + 1, 'only the conversation with a fine title');
});
