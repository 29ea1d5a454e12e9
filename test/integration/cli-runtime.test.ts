// The CLI as an operator runs it: a bad configuration stops start-up with every problem listed;
// `serve` answers, and SIGTERM shuts it down gracefully (HTTP, projections, pools) with exit 0.
import test from 'ava';
import { startCli } from '../support/cli.ts';
import { createTestDatabase } from '../support/database.ts';

test('a bad configuration stops start-up with one message listing every problem', async (t) => {
  const { exited, output } = startCli(['serve'], { PORT: 'eighty', LOG_LEVEL: 'loud' });
  t.is(await exited, 1);
  t.regex(output(), /Invalid configuration/);
  t.regex(output(), /PORT/);
  t.regex(output(), /LOG_LEVEL/);
  t.notRegex(output(), /\n\s+at /, 'no stack trace');
});

test('unknown command: usage and exit 2', async (t) => {
  const { exited, output } = startCli(['frobnicate'], {});
  t.is(await exited, 2);
  t.regex(output(), /Usage: vialog/);
});

test('serve answers, then SIGTERM closes HTTP, projections and pools and exits 0', async (t) => {
  const db = await createTestDatabase();
  try {
    const { child, exited, output, apiUrl } = startCli(['serve'], {
      DATABASE_URL: db.url,
      PORT: '0',
      METRICS_PORT: '0',
      DATA_DIR: `/tmp/vialog-cli-test-${process.pid}`,
    });
    const url = await apiUrl();
    const ready = await fetch(`${url}/health/ready`);
    t.is(ready.status, 200);
    child.kill('SIGTERM');
    t.is(await exited, 0);
    for (const step of ['"step":"http"', '"step":"projections"', '"step":"infrastructure"'])
      t.true(output().includes(step), `closed ${step}`);
  } finally {
    await db.drop();
  }
});
