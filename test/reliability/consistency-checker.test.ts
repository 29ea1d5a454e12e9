// The consistency checker: a replay of the log equals the live read models; a row changed behind
// the projections' back is found, and `vialog verify-read-models` exits 1 for it.
import test from 'ava';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { checkProjection } from '../../projections/engine/consistency.ts';
import { call, newUser, useTestService } from '../support/service.ts';

const svc = useTestService(test);
test.before(async () => {
  const user = await newUser(svc.api, 'checked');
  for (let i = 0; i < 5; i++) {
    const s = await call(svc.api, 'POST', '/samples', {
      token: user.accessToken,
      body: { sampleType: 'blood', subjectId: `K00${i}`, collectionDate: new Date().toISOString().slice(0, 10) },
    });
    await call(svc.api, 'PATCH', `/samples/${s.body.id}`, {
      token: user.accessToken,
      body: { status: 'processing', notes: `n${i}` },
    });
  }
  const conversation = (await call(svc.api, 'POST', '/dialog/conversations', { token: user.accessToken, body: {} }))
    .body.id as string;
  await call(svc.api, 'POST', `/dialog/conversations/${conversation}/messages`, {
    token: user.accessToken,
    body: { content: 'how many samples?' },
  });
});

function cli(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['app/cli.ts', ...args], {
      env: {
        ...process.env,
        DATABASE_URL: svc.db.url,
        DATA_DIR: '.data/test-service',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
      },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}

test.serial('every live read model equals a fresh replay of the log', async (t) => {
  const { knex, store } = svc.service.infrastructure;
  for (const projection of svc.service.engine.projections) {
    const report = await checkProjection(knex, store, projection);
    t.true(report.consistent, `${projection.name}: ${JSON.stringify(report.tables)}`);
  }
  const run = await cli(['verify-read-models']);
  t.is(run.code, 0, run.output);
  t.regex(run.output, /samples: consistent/);
});

test.serial('a row changed behind the projection is found, with the row, and the command exits 1', async (t) => {
  const client = new pg.Client({ connectionString: svc.db.url });
  await client.connect();
  try {
    await client.query(`UPDATE samples SET notes = 'changed by hand' WHERE subject_id = 'K003'`);
  } finally {
    await client.end();
  }
  const samples = svc.service.engine.projections.find((p) => p.name === 'samples')!;
  const report = await checkProjection(svc.service.infrastructure.knex, svc.service.infrastructure.store, samples);
  t.false(report.consistent);
  const table = report.tables.find((x) => x.table === 'samples')!;
  t.is(table.differences, 2, 'one row live only, its replayed version replay only');
  t.true(table.examples.some((e) => e.side === 'live only' && e.row.notes === 'changed by hand'));
  t.true(table.examples.some((e) => e.side === 'replay only' && e.row.notes === 'n3'));
  const run = await cli(['verify-read-models']);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /samples: samples 2 rows differ/);
});
