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
