// The embedded default: a real PostgreSQL under DATA_DIR that survives restarts and recovers
// after our process is killed with -9 (the orphaned server and its postmaster.pid).
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../platform/database/embedded.ts';

const childScript = fileURLToPath(new URL('../support/embedded-child.ts', import.meta.url));

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<Record<string, unknown>>(sql);
    return result.rows;
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startChild(dataDir: string): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const child = spawn(process.execPath, [childScript, dataDir], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', () => reject(new Error('child exited before the server was ready')));
  });
}

test('a second process joins the running server instead of stopping it; the last one to stop stops it', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vialog-embedded-'));
  chmodSync(dataDir, 0o755);
  try {
    // `npm start` in one process…
    const { child, url: first } = await startChild(dataDir);
    await query(first, 'CREATE TABLE shared (v text)');
    const clusterDir = path.join(dataDir, 'postgres');
    const serverPid = Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // …and `npm run projections -- rebuild --all` beside it.
    const second = await startEmbeddedPostgres({ dataDir });
    t.is(new URL(second.url).port, new URL(first).port, 'the same server');
    t.true(alive(serverPid), 'the running server was not stopped');
    await query(second.url, 'INSERT INTO shared VALUES ($$from the second$$)');
    t.deepEqual(await query(first, 'SELECT v FROM shared'), [{ v: 'from the second' }]);

    // The first stops (SIGTERM: its handle's stop()): the server stays for the second.
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    t.true(alive(serverPid), 'left running for the process still using it');
    t.deepEqual(await query(second.url, 'SELECT v FROM shared'), [{ v: 'from the second' }]);

    // The last user stops it.
    await second.stop();
    t.false(alive(serverPid), 'the last one to stop stopped the server');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('data survives a restart, and a kill -9 of the owner leaves nothing that blocks the next start', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vialog-embedded-'));
  chmodSync(dataDir, 0o755); // as root, the postgres user must be able to reach the cluster
  try {
    const first = await startEmbeddedPostgres({ dataDir });
    await query(first.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$survives$$)');
    await first.stop();

    const child = spawn(process.execPath, [childScript, dataDir], { stdio: ['ignore', 'pipe', 'ignore'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error('child exited before the server was ready')));
    });
    t.deepEqual(await query(url, 'SELECT v FROM kept'), [{ v: 'survives' }]);
    const clusterDir = first.dataDirectory;
    t.is(clusterDir, path.join(dataDir, 'postgres'));
    const orphanPid = Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    t.true(alive(orphanPid), 'the server outlives its killed owner');

    const again = await startEmbeddedPostgres({ dataDir });
    t.false(alive(orphanPid), 'the orphan was stopped');
    t.deepEqual(await query(again.url, 'SELECT v FROM kept'), [{ v: 'survives' }]);
    t.regex(again.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/vialog$/);
    t.not(new URL(again.url).port, '5432');
    await again.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
