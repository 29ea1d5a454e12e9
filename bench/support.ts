// Shared by the benchmarks: scratch databases, the service's benchmark configuration, the load
// generator (in a child process) and a JSON POST.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pg from 'pg';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startService } from '../app/service.ts';
import { createPasswordHasher } from '../modules/identity/passwords.ts';
import type { Config } from '../platform/config.ts';
import { generateAuditKey } from '../platform/audit/keys.ts';
import { startEmbeddedPostgres } from '../platform/database/embedded.ts';
import { createLogger } from '../platform/logging.ts';
import type { LoadRequest, LoadResult } from './load-worker.ts';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs autocannon in a child process (never in the event loop of the server it measures). */
export async function load(request: LoadRequest): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, [path.join(here, 'load-worker.ts'), JSON.stringify(request)], {
    maxBuffer: 1 << 22,
  });
  return JSON.parse(stdout) as LoadResult;
}

export async function postJson(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
}

export type { LoadRequest, LoadResult };

/** The middle value (the lower one of the two middles for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? Number.NaN;
}

/**
 * CPU time the whole machine spent busy (every process: the service, PostgreSQL, the load
 * generator), from Linux's /proc/stat; undefined elsewhere. On a machine whose cores are all busy,
 * busy time per unit of work is what bounds throughput: cores ÷ (CPU seconds per unit).
 */
export interface MachineCpu {
  readonly busySeconds: number;
  readonly cores: number;
}

export function machineCpu(): MachineCpu | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal …, in clock ticks (USER_HZ, 100 on Linux)
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = ticks[0]! + ticks[1]! + ticks[2]! + ticks[5]! + ticks[6]! + ticks[7]!;
    return { busySeconds: busy / 100, cores: availableParallelism() };
  } catch {
    return undefined;
  }
}

/** Busy CPU time since `start` per unit of work, and what it caps throughput at on this machine. */
export function cpuPerUnit(
  start: MachineCpu | undefined,
  units: number,
  unit: string,
): { microsPerUnit: number; ceilingPerSecond: number; cores: number; line: string } | undefined {
  const end = machineCpu();
  if (!start || !end || units <= 0) return undefined;
  const microsPerUnit = ((end.busySeconds - start.busySeconds) / units) * 1e6;
  const ceilingPerSecond = (end.cores * 1e6) / microsPerUnit;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  return {
    microsPerUnit,
    ceilingPerSecond,
    cores: end.cores,
    line: `machine CPU: ${fmt(microsPerUnit)} µs busy per ${unit} (all processes); ${end.cores} cores cap this at ${fmt(ceilingPerSecond)} ${unit}s/s`,
  };
}

/**
 * CPU seconds the PostgreSQL server behind `pool` has used so far (the postmaster and every
 * process it started, ended ones too, from /proc): a local server only. Undefined when it cannot
 * be read (another host, not Linux, not allowed to see the data directory).
 */
export async function postgresCpuSeconds(pool: pg.Pool): Promise<number | undefined> {
  try {
    const { rows } = await pool.query<{ dir: string }>('SELECT current_setting($1) AS dir', ['data_directory']);
    const postmaster = Number(readFileSync(path.join(rows[0]!.dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    let ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      // pid (comm) state ppid … utime stime: comm may hold spaces, so count from its closing parenthesis.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
      // The postmaster's own, and that of its children that have ended (cutime, cstime).
      if (Number(entry) === postmaster) ticks += fields.slice(11, 15).reduce((n, f) => n + Number(f), 0);
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** The server benchmarks create their scratch databases on. */
export const BENCH_SERVER =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database on BENCH_SERVER; drop() removes it (and ends connections still open to it). */
export async function scratchDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `vialog_bench_${label}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BENCH_SERVER });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(BENCH_SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/**
 * A fresh database on the embedded PostgreSQL (under .data/bench), as a user's first `npm start`
 * gets; drop() removes the database and stops the server (unless another process still uses it).
 */
export async function embeddedScratchDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const database = `vialog_bench_${label}_${randomBytes(3).toString('hex')}`;
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(here, '..', '.data', 'bench'), database });
  return {
    url: embedded.url,
    async drop() {
      try {
        const admin = new pg.Client({ connectionString: embedded.url.replace(`/${database}`, '/postgres') });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await admin.end();
      } finally {
        await embedded.stop();
      }
    },
  };
}

/** The service's environment for a benchmark: production mode, fresh secrets, limits out of the way. */
export function benchEnvironment(databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    PORT: '0',
    JWT_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    PERSONAL_DATA_KEY: randomBytes(32).toString('base64'),
    AUDIT_SIGNING_KEY: generateAuditKey('bench').signingKey,
    RATE_LIMIT_PER_USER_PER_MINUTE: '1000000',
    RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  };
}

/** Warnings only, and nowhere: a benchmark prints its own figures. */
export const quietLogger = () => createLogger({ level: 'warn' }, new Writable({ write: (_c, _e, done) => done() }));

/**
 * The whole service (API + projections) in this process, with cheap argon2 unless given another
 * hasher: logins are not what these benchmarks measure (bench:auth measures them with production
 * parameters).
 */
export function startBenchService(
  config: Config,
  passwordHasher = createPasswordHasher({ parameters: { memoryCost: 1024, timeCost: 1, parallelism: 1 } }),
) {
  return startService(config, quietLogger(), { api: true, projector: true }, { handleSignals: false, passwordHasher });
}

/** Registers a user and returns an access token. */
export async function signUp(api: string, username: string, password = 'Quiet-Harbor-Lantern-93'): Promise<string> {
  await postJson(`${api}/auth/register`, { username, email: `${username}@lab.example`, password });
  const { accessToken } = (await postJson(`${api}/auth/login`, { login: username, password })) as {
    accessToken: string;
  };
  return accessToken;
}

/** Writes a benchmark's figures to bench/results/<name>.json, stamped with the time. */
export function saveResult(name: string, figures: Record<string, unknown>): void {
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(
    path.join(here, 'results', `${name}.json`),
    JSON.stringify({ at: new Date().toISOString(), ...figures }, null, 2),
  );
}
