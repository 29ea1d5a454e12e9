// Runs one projection: leadership by advisory lock, catch-up then live, exactly-once batches,
// and zero-downtime rebuilds into fresh tables.
import type { Knex } from 'knex';
import pg from 'pg';
import { START, comparePositions, formatPosition, type EventStore, type Position, type RecordedEvent } from '../../platform/eventstore/port.ts';
import { advanceCheckpoint, ensureCheckpoint, readCheckpoint, resetCheckpoint, rowPosition, setStatus } from './checkpoints.ts';
import { assertValidProjection, type Projection } from './projection.ts';
import { createTables, dropNextTables, liveTablesExist, nextTableName, swapInNextTables } from './tables.ts';

export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ProjectionRunnerOptions {
  readonly projection: Projection;
  readonly store: EventStore;
  readonly knex: Knex;
  /** For the connection that holds the leadership lock for as long as this runner leads. */
  readonly databaseUrl: string;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  readonly logger?: RunnerLogger;
  /** Called after every committed batch (read-your-writes waiters listen here). */
  readonly onAdvance?: (name: string, position: Position) => void;
}

class LostLeadershipError extends Error {
  override readonly name = 'LostLeadershipError';
}

const silentLogger: RunnerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class ProjectionRunner {
  readonly projection: Projection;
  readonly #options: ProjectionRunnerOptions;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #log: RunnerLogger;
  readonly #controller = new AbortController();
  #loop: Promise<void> | undefined;
  #lockClient: pg.Client | undefined;
  #checkpoint: Position = START;
  #mutex: Promise<unknown> = Promise.resolve();
  #rebuilding: Promise<void> | undefined;
  #leading = false;

  constructor(options: ProjectionRunnerOptions) {
    assertValidProjection(options.projection);
    this.projection = options.projection;
    this.#options = options;
    this.#batchSize = options.batchSize ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#log = options.logger ?? silentLogger;
  }

  get isLeading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Lets the current batch finish, then releases leadership. */
  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#loop;
    await this.#rebuilding?.catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { signal } = this.#controller;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (await this.#acquireLeadership()) {
          this.#leading = true;
          await this.#lead();
          failures = 0;
        } else {
          await sleep(this.#pollIntervalMs, signal);
        }
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        const message = error instanceof Error ? error.message : String(error);
        this.#log.error({ projection: this.projection.name, err: error, failures }, 'projection batch failed; retrying');
        await setStatus(this.#options.knex, this.projection.name, 'failed', message).catch(() => undefined);
        await sleep(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)), signal);
      } finally {
        await this.#releaseLeadership();
      }
    }
    await setStatus(this.#options.knex, this.projection.name, 'stopped').catch(() => undefined);
  }

  async #acquireLeadership(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.#options.databaseUrl, application_name: `vialog-projection-${this.projection.name}` });
    client.on('error', () => undefined); // a dropped lock connection ends leadership: the loop notices on its next query
    await client.connect();
    const result = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('vialog:projection:' || $1)) AS locked", [this.projection.name]);
    if (result.rows[0]?.locked) {
      this.#lockClient = client;
      return true;
    }
    await client.end();
    return false;
  }

  async #releaseLeadership(): Promise<void> {
    this.#leading = false;
    const client = this.#lockClient;
    this.#lockClient = undefined;
    // Closing the session releases the advisory lock.
    await client?.end().catch(() => undefined);
  }

  async #lead(): Promise<void> {
    const { knex, store } = this.#options;
    const { name, version } = this.projection;
    const signal = this.#controller.signal;
    let row = await ensureCheckpoint(knex, name, version);
    if (!(await liveTablesExist(knex, this.projection))) {
      await knex.transaction(async (trx) => {
        await createTables(trx, this.projection, (logical) => logical);
        await resetCheckpoint(trx, name, version, START, 0);
      });
      row = (await readCheckpoint(knex, name)) ?? row;
    }
    this.#checkpoint = rowPosition(row);
    if (row.version !== version) {
      // New code, old tables: rebuild before going live; readers keep the old tables until the swap.
      this.#log.info({ projection: name, from: row.version, to: version }, 'projection version changed: rebuilding');
      this.#checkpoint = (await store.headPosition()) ?? START;
      await this.#rebuild();
    }
    await setStatus(knex, name, 'catching_up');
    this.#log.info({ projection: name, checkpoint: formatPosition(this.#checkpoint) }, 'projection leading');
    const watcher = this.#watchRebuildRequests(signal);
    try {
      let live = false;
      for await (const batch of store.subscribe({ after: this.#checkpoint, eventTypes: this.projection.eventTypes, maxBatchSize: this.#batchSize, signal })) {
        await this.#exclusive(() => this.#applyLive(batch.events, batch.checkpoint));
        if (!live && batch.events.length < this.#batchSize) {
          live = true;
          if (!this.#rebuilding) await setStatus(knex, name, 'running');
        }
        if (signal.aborted) break;
      }
    } finally {
      await watcher;
    }
  }

  async #applyLive(events: readonly RecordedEvent[], to: Position): Promise<void> {
    const { name } = this.projection;
    const from = this.#checkpoint;
    if (comparePositions(to, from) <= 0) return;
    await this.#options.knex.transaction(async (trx) => {
      const moved = await advanceCheckpoint(trx, name, from, to, events.length, events.at(-1)?.recordedAt);
      if (!moved) throw new LostLeadershipError(`checkpoint of ${name} moved under us`);
      if (events.length > 0) await this.projection.apply(events, { trx, table: (logical) => logical });
    });
    this.#checkpoint = to;
    this.#options.onAdvance?.(name, to);
  }

  /** Serialises live batches with the final step of a rebuild. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#mutex.then(work);
    this.#mutex = result.catch(() => undefined);
    return result;
  }

  async #watchRebuildRequests(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#pollIntervalMs, signal);
      if (signal.aborted || this.#rebuilding) continue;
      const row = await readCheckpoint(this.#options.knex, this.projection.name).catch(() => undefined);
      if (row?.rebuild_requested_at) this.#startRebuild();
    }
  }

  #startRebuild(): void {
    if (this.#rebuilding) return;
    this.#rebuilding = this.#rebuild()
      .catch(async (error: unknown) => {
        this.#log.error({ projection: this.projection.name, err: error }, 'rebuild failed; the old tables keep serving');
        await dropNextTables(this.#options.knex, this.projection).catch(() => undefined);
        await setStatus(this.#options.knex, this.projection.name, 'failed', `rebuild failed: ${error instanceof Error ? error.message : String(error)}`).catch(() => undefined);
      })
      .finally(() => {
        this.#rebuilding = undefined;
      });
  }

  /**
   * Fills fresh `__next` tables from the first event while the live tables keep serving and
   * keep being updated; then, with live batches paused, catches up to the live checkpoint and
   * swaps the tables in one transaction.
   */
  async #rebuild(): Promise<void> {
    const { knex } = this.#options;
    const { name, version } = this.projection;
    const started = Date.now();
    await setStatus(knex, name, 'rebuilding');
    await createTables(knex, this.projection, nextTableName);
    let progress = await this.#fill(START, undefined, 0);
    await this.#exclusive(async () => {
      if (!this.#leading) throw new LostLeadershipError(`lost leadership of ${name} during rebuild`);
      const target = this.#checkpoint;
      progress = await this.#fill(progress.position, target, progress.applied);
      await knex.transaction(async (trx) => {
        await swapInNextTables(trx, this.projection);
        await resetCheckpoint(trx, name, version, target, progress.applied);
      });
    });
    await setStatus(knex, name, 'running');
    this.#log.info({ projection: name, events: progress.applied, ms: Date.now() - started }, 'projection rebuilt and swapped in');
  }

  /** Applies events after `from` (up to `target`, if given) to the `__next` tables, batch by batch. */
  async #fill(from: Position, target: Position | undefined, applied: number): Promise<{ position: Position; applied: number }> {
    const { knex, store } = this.#options;
    let position = from;
    for (;;) {
      if (this.#controller.signal.aborted) throw new Error('stopped during rebuild');
      const page = await store.readAll({ after: position, maxCount: this.#batchSize, eventTypes: this.projection.eventTypes });
      const events = target ? page.filter((e) => comparePositions(e.position, target) <= 0) : page;
      if (events.length > 0) {
        await knex.transaction((trx) => this.projection.apply(events, { trx, table: nextTableName }));
        applied += events.length;
        position = events.at(-1)!.position;
      }
      if (events.length < this.#batchSize) return { position, applied };
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
