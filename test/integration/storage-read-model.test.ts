// The storage projection: paths follow renames and moves down the tree; applying every event
// twice gives the same rows (idempotent), and a rebuild from the first event gives the same rows
// as the live run.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { storageProjection } from '../../projections/storage/storage-read-model.ts';
import { createStorageCommands } from '../../modules/storage/commands.ts';
import { placesOf } from '../../modules/storage/queries.ts';
import { expectReplayAndRebuildKeep, fixture, startReadModel, type Fixture } from './projections-fixtures.ts';

let fx: Fixture;
test.before(async () => {
  fx = await fixture();
});
test.after.always(async () => {
  await fx?.teardown();
});

async function snapshot(): Promise<Record<string, unknown[]>> {
  return {
    storage_units: (await fx.knex.raw<{ rows: unknown[] }>('SELECT * FROM storage_units ORDER BY unit_id')).rows,
    storage_slots: (await fx.knex.raw<{ rows: unknown[] }>('SELECT * FROM storage_slots ORDER BY unit_id, position'))
      .rows,
  };
}

test.serial('paths follow renames and moves; every event twice, and a rebuild, give the same rows', async (t) => {
  const { engine, waitForReadModel } = startReadModel(fx, storageProjection);
  const commands = createStorageCommands({
    store: fx.store,
    waitForReadModel,
    hasChildren: () => Promise.resolve(false),
  });
  const labId = randomUUID();
  const cause = systemCause();
  const freezer = await commands.create({ labId, name: 'Freezer A', kind: 'freezer' }, cause);
  const other = await commands.create({ labId, name: 'Freezer B', kind: 'freezer' }, cause);
  const rack = await commands.create({ labId, name: 'Rack 2', kind: 'rack', parentId: freezer }, cause);
  const box = await commands.create(
    { labId, name: 'Box 7', kind: 'box', parentId: rack, grid: { rows: 8, columns: 12 } },
    cause,
  );
  const gone = await commands.create({ labId, name: 'Shelf', kind: 'shelf', parentId: other }, cause);
  const [s1, s2] = [randomUUID(), randomUUID()];
  await commands.claimSlot(box, 'A1', { id: s1, labId, sampleType: 'blood' }, cause);
  await commands.claimSlot(box, 'A2', { id: s2, labId, sampleType: 'blood' }, cause);
  await commands.claimSlot(box, 'H12', { id: s1, labId, sampleType: 'blood' }, cause);
  await commands.releaseSlot(box, s2, 'final', cause);
  await commands.change(freezer, { name: 'Freezer Z', temperatureC: -80 }, cause);
  await commands.move(rack, other, cause);
  await commands.remove(gone, cause);

  const live = await snapshot();
  const byId = new Map(
    (live.storage_units as { unit_id: string; removed_at: Date | null }[]).map((r) => [r.unit_id, r]),
  );
  t.like(byId.get(box), { path: 'Freezer B / Rack 2 / Box 7', ancestor_ids: [other, rack], occupied: 1 });
  t.like(byId.get(rack), { path: 'Freezer B / Rack 2', parent_id: other });
  t.like(byId.get(freezer), { path: 'Freezer Z', temperature_c: -80 });
  t.not(byId.get(gone)?.removed_at, null);
  t.like(live.storage_slots, [{ unit_id: box, position: 'H12', sample_id: s1 }]);
  t.is(live.storage_slots!.length, 1);
  // Where is it? The box's current path and the position.
  const places = await placesOf(fx.knex, [s1, s2]);
  t.deepEqual(Object.fromEntries(places), {
    [s1]: { unitId: box, position: 'H12', path: 'Freezer B / Rack 2 / Box 7' },
  });

  await expectReplayAndRebuildKeep(t, fx, engine, storageProjection, snapshot, live);
});
