// The CLI as an operator runs it: a bad configuration stops start-up with every problem listed;
// `serve` answers, and SIGTERM shuts it down gracefully (HTTP, projections, pools) with exit 0.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../support/database.ts';

const cli = fileURLToPath(new URL('../../app/cli.ts', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

test('a bad configuration stops start-up with one message listing every problem', async (t) => {
  const { exited, output } = run(['serve'], { PORT: 'eighty', LOG_LEVEL: 'loud' });
  t.is(await exited, 1);
  t.regex(output(), /Invalid configuration/);
  t.regex(output(), /PORT/);
  t.regex(output(), /LOG_LEVEL/);
  t.notRegex(output(), /\n\s+at /, 'no stack trace');
});

test('unknown command: usage and exit 2', async (t) => {
  const { exited, output } = run(['frobnicate'], {});
  t.is(await exited, 2);
  t.regex(output(), /Usage: vialog/);
});

test('serve answers, then SIGTERM closes HTTP, projections and pools and exits 0', async (t) => {
  const db = await createTestDatabase();
  try {
    const { child, exited, output } = run(['serve'], {
      DATABASE_URL: db.url,
      PORT: '0',
      METRICS_PORT: '0',
      DATA_DIR: `/tmp/vialog-cli-test-${process.pid}`,
    });
    const deadline = Date.now() + 30_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /API on (http:\/\/[^\s]+) /.exec(output())?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    t.truthy(url, output());
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
