// PostgreSQL drops the service's connections mid-work (pg_terminate_backend, as a failover or an
// operator would): the projections recover, nothing acknowledged is lost, and every read model
// still equals a replay of the log.
import test from 'ava';
import pg from 'pg';
import { checkProjection } from '../../projections/engine/consistency.ts';
import { call, newUser, useTestService } from '../support/service.ts';

const svc = useTestService(test);

test('connections terminated mid-batch: projections recover and match a replay', async (t) => {
  const user = await newUser(svc.api, 'terminated');
  const acknowledged: string[] = [];
  let stop = false;
  const writer = async (n: number) => {
    for (let i = 0; !stop; i++) {
      const r = await call(svc.api, 'POST', '/samples', {
        token: user.accessToken,
        body: { sampleType: 'saliva', subjectId: `T${100 + n}`, collectionDate: new Date().toISOString().slice(0, 10) },
      }).catch(() => undefined);
      if (r?.status === 201) acknowledged.push(String(r.body.id));
    }
  };
  const writers = Array.from({ length: 8 }, (_, n) => writer(n));
  const admin = new pg.Client({ connectionString: svc.db.url });
  await admin.connect();
  let terminated = 0;
  try {
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 400));
      const killed = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) k`,
      );
      terminated += killed.rows[0]!.n;
    }
  } finally {
    await admin.end();
  }
  await new Promise((r) => setTimeout(r, 400));
  stop = true;
  await Promise.all(writers);
  t.true(terminated > 0, 'connections were terminated');
  t.true(acknowledged.length > 0);

  // The service answers again, and every acknowledged sample is in the read model once it caught up.
  const deadline = Date.now() + 30_000;
  let total = -1;
  while (Date.now() < deadline) {
    const r = await call(svc.api, 'GET', '/samples?limit=1', { token: user.accessToken });
    if (r.status === 200 && r.body.total >= acknowledged.length) {
      total = r.body.total;
      break;
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
  t.true(total >= acknowledged.length, `read model has ${total} of ${acknowledged.length} acknowledged samples`);
  const { knex, store } = svc.service.infrastructure;
  for (const projection of svc.service.engine.projections) {
    const report = await checkProjection(knex, store, projection);
    t.true(report.consistent, `${projection.name}: ${JSON.stringify(report.tables.filter((x) => x.differences > 0))}`);
  }
});
