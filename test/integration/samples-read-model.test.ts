// The samples projection: applying every event twice gives the same rows and statistics
// (idempotent), and a rebuild from the first event gives the same rows as the live run.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import { START } from '../../platform/eventstore/port.ts';
import { samplesProjection } from '../../projections/samples/samples-read-model.ts';
import { createSampleCommands } from '../../modules/samples/commands.ts';
import { fixture, type Fixture } from './projections-fixtures.ts';

let fx: Fixture;
test.before(async () => {
  fx = await fixture();
});
test.after.always(async () => {
  await fx?.teardown();
});

const tables = [
  ['samples', 'sample_id'],
  ['sample_stats', 'owner_id'],
  ['sample_daily_counts', 'owner_id, collection_date'],
  ['sample_actors', 'user_id'],
] as const;

async function snapshot(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of tables)
    out[table] = (await fx.knex.raw<{ rows: unknown[] }>(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
  return out;
}

test.serial('applying every event twice, and rebuilding, give the same rows and statistics', async (t) => {
  const engine = fx.engine(samplesProjection);
  engine.start();
  const commands = createSampleCommands({
    store: fx.store,
    waitForReadModel: (p) => engine.waitForProjections(['samples'], p, { timeoutMs: 10_000 }),
  });
  const owners = [randomUUID(), randomUUID()];
  const cause = (owner: string) => ({ ...systemCause(), actorId: owner, actorType: 'user' as const });
  const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
  await fx.store.append(
    'user-x',
    [
      {
        type: 'UserRegistered',
        data: {
          userId: owners[0]!,
          username: 'owner0',
          email: 'o@lab.example',
          role: 'user',
          passwordHash: '$argon2id$v=19$m=1,t=1,p=1$x$y',
          registeredAt: new Date().toISOString(),
        },
        metadata: eventMetadata(systemCause(), 1),
      },
    ],
    { expectedRevision: 'any' },
  );
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const owner = owners[i % 2]!;
    const s = await commands.register(
      owner,
      { sampleType: i % 3 === 0 ? 'saliva' : 'blood', subjectId: `P${100 + i}`, collectionDate: day(i * 4) },
      cause(owner),
    );
    ids.push(s.id);
  }
  await commands.update(
    owners[0]!,
    ids[0]!,
    { status: 'processing', sampleType: 'blood', collectionDate: day(50), storageLocation: 'shelf-2' },
    undefined,
    cause(owners[0]!),
  );
  await commands.update(owners[1]!, ids[1]!, { status: 'archived' }, undefined, cause(owners[1]!));
  await commands.discard(owners[0]!, ids[2]!, undefined, cause(owners[0]!));
  await commands.discard(owners[1]!, ids[3]!, 1, cause(owners[1]!));

  const live = await snapshot();
  const stats0 = live.sample_stats!.find((r) => (r as { owner_id: string }).owner_id === owners[0]) as Record<
    string,
    number
  >;
  t.like(stats0, { total: 5, processing: 1, saliva: 1 });

  // Every event once more, straight into the live tables: nothing may move.
  const all = await fx.store.readAll({ after: START, maxCount: 10_000 });
  await fx.knex.transaction((trx) =>
    samplesProjection.apply(
      all.filter((e) => samplesProjection.eventTypes.includes(e.type)),
      { trx, table: (name) => name },
    ),
  );
  t.deepEqual(await snapshot(), live);

  await engine.rebuild('samples', { timeoutMs: 30_000 });
  t.deepEqual(await snapshot(), live);
});
