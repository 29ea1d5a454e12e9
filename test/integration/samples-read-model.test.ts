// The samples projection: applying every event twice gives the same rows and statistics
// (idempotent), and a rebuild from the first event gives the same rows as the live run.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import { samplesProjection } from '../../projections/samples/samples-read-model.ts';
import { createSampleCommands } from '../../modules/samples/commands.ts';
import { expectReplayAndRebuildKeep, fixture, startReadModel, type Fixture } from './projections-fixtures.ts';

let fx: Fixture;
test.before(async () => {
  fx = await fixture();
});
test.after.always(async () => {
  await fx?.teardown();
});

const tables = [
  ['samples', 'sample_id'],
  ['sample_stats', 'lab_id'],
  ['sample_daily_counts', 'lab_id, collection_date'],
  ['sample_actors', 'user_id'],
] as const;

async function snapshot(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of tables)
    out[table] = (await fx.knex.raw<{ rows: unknown[] }>(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
  return out;
}

test.serial('applying every event twice, and rebuilding, give the same rows and statistics', async (t) => {
  const { engine, waitForReadModel } = startReadModel(fx, samplesProjection);
  const commands = createSampleCommands({
    store: fx.store,
    waitForReadModel,
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
      owner,
      'manager',
      { sampleType: i % 3 === 0 ? 'saliva' : 'blood', subjectId: `P${100 + i}`, collectionDate: day(i * 4) },
      cause(owner),
    );
    ids.push(s.id);
  }
  // Both owners are technicians of both personal labs here: the projection is under test, not access.
  const anyLab = () => Promise.resolve('technician' as const);
  await commands.update(
    ids[0]!,
    { status: 'processing', sampleType: 'blood', collectionDate: day(50), storageLocation: 'shelf-2' },
    undefined,
    anyLab,
    cause(owners[0]!),
  );
  await commands.update(ids[1]!, { status: 'archived' }, undefined, anyLab, cause(owners[1]!));
  await commands.discard(ids[2]!, undefined, anyLab, cause(owners[0]!));
  await commands.discard(ids[3]!, 1, anyLab, cause(owners[1]!));
  await commands.transfer(ids[5]!, owners[0]!, undefined, anyLab, { ...cause(owners[1]!), reason: 'shared' });

  const live = await snapshot();
  const stats0 = live.sample_stats!.find((r) => (r as { lab_id: string }).lab_id === owners[0]) as Record<
    string,
    number
  >;
  t.like(stats0, { total: 6, processing: 1, saliva: 1 });

  await expectReplayAndRebuildKeep(t, fx, engine, samplesProjection, snapshot, live);
});

test.serial(
  'events from before labs are upcast on read into the personal lab of their owner, never rewritten',
  async (t) => {
    const engine = fx.engine(samplesProjection);
    engine.start();
    const owner = randomUUID();
    const sampleId = randomUUID();
    const at = new Date().toISOString();
    const v1 = {
      sampleId,
      ownerId: owner,
      sampleType: 'tissue',
      subjectId: 'P900',
      collectionDate: at.slice(0, 10),
      status: 'collected',
      storageLocation: 'freezer-1-rowA',
      notes: null,
      registeredAt: at,
    };
    const appended = await fx.store.append(
      `sample-${sampleId}`,
      [
        { type: 'SampleRegistered', data: v1, metadata: eventMetadata(systemCause(), 1) },
        {
          type: 'SampleStatusChanged',
          data: { sampleId, ownerId: owner, from: 'collected', to: 'processing', reason: null, changedAt: at },
          metadata: eventMetadata(systemCause(), 1),
        },
      ],
      { expectedRevision: 'no_stream' },
    );
    await engine.waitForProjections(['samples'], appended.position, { timeoutMs: 10_000 });
    const read = await fx.store.readStream(`sample-${sampleId}`);
    t.is(read[0]!.data.labId, owner);
    t.is(read[0]!.metadata.schemaVersion, 2);
    const stored = await fx.knex.raw<{ rows: { data: Record<string, unknown> }[] }>(
      'SELECT data FROM events WHERE stream_id = ? ORDER BY revision',
      [`sample-${sampleId}`],
    );
    t.false('labId' in stored.rows[0]!.data, 'the stored event is as it was written');
    const row = async () =>
      (await fx.knex.raw<{ rows: unknown[] }>('SELECT * FROM samples WHERE sample_id = ?', [sampleId])).rows[0];
    const live = await row();
    t.like(live, { lab_id: owner, owner_id: owner, status: 'processing' });
    await engine.rebuild('samples', { timeoutMs: 30_000 });
    t.deepEqual(await row(), live);
  },
);
