// The dialog commands on the command pipeline, asserted on the events they append to the real
// PostgreSQL store: the question before the reply, personal text sealed with the owner's key, the
// reply recorded by the system, and a refused question appending nothing.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createDialogCommands, ReplyFailedError, type DialogCommandDeps } from '../../modules/dialog/commands.ts';
import type { Assistant } from '../../modules/dialog/assistant.ts';
import { conversationStream } from '../../modules/dialog/events.ts';
import { DomainError } from '../../platform/commands/decision.ts';
import { isSealed } from '../../platform/crypto/personal-data.ts';
import { dialogProjection } from '../../projections/dialog/dialog-read-model.ts';
import { createTables } from '../../projections/engine/tables.ts';
import { testDialogLimits } from '../support/dialog.ts';
import { openEventWorld, userCause, type EventWorld } from '../support/event-world.ts';

let world: EventWorld;

test.before(async () => {
  world = await openEventWorld('vialog_dialog_cmd', { knexPoolMax: 3 });
  // The quota and the context are read from the (here empty) dialog read model.
  await createTables(world.knex, dialogProjection(world.vault), (logical) => logical);
});
test.after.always(async () => {
  await world?.close();
});

const answering: Assistant = {
  model: 'fake',
  answer: (request) => Promise.resolve({ content: `re: ${request.question}`, model: 'fake-1', usage: null }),
};

function commandsWith(assistant: Assistant, limits: Partial<DialogCommandDeps['limits']> = {}) {
  return createDialogCommands({
    ...world,
    assistant,
    waitForReadModel: () => Promise.resolve(true),
    limits: { ...testDialogLimits, ...limits },
  });
}

const streamOf = (conversationId: string) => world.store.readStream(conversationStream(conversationId));

test('ask then answer appends the question, then the reply recorded by the system', async (t) => {
  const owner = randomUUID();
  const commands = commandsWith(answering);
  const { id } = await commands.start(owner, 'first', userCause(owner));
  await commands.answer(await commands.ask(owner, id, ' how many? ', userCause(owner)));
  const events = await streamOf(id);
  t.deepEqual(
    events.map((e) => [e.type, e.metadata.actorType]),
    [
      ['ConversationStarted', 'user'],
      ['UserMessagePosted', 'user'],
      ['AssistantReplied', 'system'],
    ],
  );
  t.is(events[2]!.data.replyTo, events[1]!.data.messageId);
});

test("the title, the question and the reply are sealed with the owner's key", async (t) => {
  const owner = randomUUID();
  const commands = commandsWith(answering);
  const { id } = await commands.start(owner, 'private title', userCause(owner));
  await commands.answer(await commands.ask(owner, id, 'how many?', userCause(owner)));
  const [started, posted, replied] = await streamOf(id);
  const texts = [started!.data.title, posted!.data.content, replied!.data.content];
  t.true(texts.every(isSealed));
  t.deepEqual(await Promise.all(texts.map((text) => world.vault.open(owner, String(text)))), [
    'private title',
    'how many?',
    're: how many?',
  ]);
});

test('a question over the daily quota appends nothing and is refused as 429 with the quota headers', async (t) => {
  const owner = randomUUID();
  const commands = commandsWith(answering, { dailyMessages: 0 });
  const { id } = await commands.start(owner, 'first', userCause(owner));
  const error = await t.throwsAsync(commands.ask(owner, id, 'one more?', userCause(owner)), {
    instanceOf: DomainError,
  });
  t.like(error, { code: 'quota_exceeded', status: 429 });
  t.is(error.headers['X-RateLimit-Limit'], '0');
  t.true(Number(error.headers['Retry-After']) > 0);
  t.is((await streamOf(id)).length, 1);
});

test('a failing assistant: the failure is recorded after the stored question, and thrown', async (t) => {
  const owner = randomUUID();
  const failing: Assistant = { model: 'fake', answer: () => Promise.reject(new Error('boom')) };
  const commands = commandsWith(failing);
  const { id } = await commands.start(owner, 'first', userCause(owner));
  const question = await commands.ask(owner, id, 'anyone?', userCause(owner));
  await t.throwsAsync(commands.answer(question), { instanceOf: ReplyFailedError });
  const events = await streamOf(id);
  t.deepEqual(
    events.map((e) => e.type),
    ['ConversationStarted', 'UserMessagePosted', 'AssistantReplyFailed'],
  );
  t.is(events[2]!.data.reason, 'internal: the assistant failed');
});
