// Runs one projection: leads only while it holds the projection's advisory lock (standby
// otherwise), catches up then follows the log, applies each batch and advances the checkpoint in
// one transaction, retries a failing batch with backoff, and performs rebuilds.
import type { Knex } from 'knex';
import { START, comparePositions, formatPosition, type EventStore, type Position, type RecordedEvent } from '../../platform/eventstore/port.ts';
import {
  advanceCheckpoint,
  ensureCheckpoint,
  finishRebuildWithError,
  readCheckpoint,
  recordRebuildProgress,
  resetCheckpoint,
  rowPosition,
  setStatus,
  type ProjectionState,
} from './checkpoints.ts';
import { tryAcquireProjectionLock } from './leadership.ts';
import { assertValidProjection, tableNamer, type Projection } from './projection.ts';
import { RebuildAbortedError, rebuildProjection } from './rebuild.ts';
import type { SharedReads } from './shared-reads.ts';
import { createTables, dropNextTables, liveTablesExist } from './tables.ts';
import { inSpan, linkTo } from '../../platform/telemetry.ts';

/** How often a checkpoint that only passed over other projections' events is stored. */
const SKIPPED_CHECKPOINT_EVERY_MS = 1_000;

export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ProjectionRunnerOptions {
  readonly projection: Projection;
  readonly store: EventStore;
  readonly knex: Knex;
  /** For the dedicated connection that holds the leadership lock. */
  readonly databaseUrl: string;
  /** Most events per transaction while catching up. Default 500. */
  readonly batchSize?: number;
  /** How often a standby tries for the lock, and how often the leader looks for rebuild requests. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Longest wait between retries of a failing batch. Default 30 s. */
  readonly maxBackoffMs?: number;
  readonly logger?: RunnerLogger;
  /** Called after every committed batch (read-your-writes waiters in this process listen here). */
  readonly onAdvance?: (name: string, position: Position) => void;
  /** Lets rebuilds of this process that start together read the log once (see shared-reads.ts). */
  readonly sharedReads: SharedReads;
}

/** The checkpoint moved under us: another runner led meanwhile. Give up leadership and start over. */
class LostLeadershipError extends Error {
  override readonly name = 'LostLeadershipError';
}

const silentLogger: RunnerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class ProjectionRunner {
  readonly projection: Projection;
  readonly #options: ProjectionRunnerOptions;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: RunnerLogger;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Checkpoint of the live tables as this runner last committed it. */
  #checkpoint: Position = START;
  /** The checkpoint as stored (compare-and-set base); behind #checkpoint while only skipped events were passed. */
  #persisted: Position = START;
  #persistedAt = 0;
  /** Serialises live batches with the final phase of a rebuild. */
  #mutex: Promise<unknown> = Promise.resolve();
  #rebuild: Promise<void> | undefined;
  #leading = false;
  /** Last state the live loop wrote to the status row. */
  #reported: ProjectionState | undefined;
  readonly #liveTable: (logicalName: string) => string;

  constructor(options: ProjectionRunnerOptions) {
    assertValidProjection(options.projection);
    this.projection = options.projection;
    this.#liveTable = tableNamer(options.projection, (logical) => logical);
    this.#options = options;
    this.#batchSize = options.batchSize ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#log = options.logger ?? silentLogger;
  }

  get isLeading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Lets the current batch commit, abandons a rebuild in progress, then releases the lock. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    const { name } = this.projection;
    while (!stop.aborted) {
      const lock = await tryAcquireProjectionLock(this.#options.databaseUrl, name).catch((error: unknown) => {
        this.#log.warn({ projection: name, err: error }, 'projection lock unavailable');
        return undefined;
      });
      if (!lock) {
        await sleep(this.#pollIntervalMs, stop);
        continue;
      }
      this.#leading = true;
      const lead = AbortSignal.any([stop, lock.lost]);
      try {
        await this.#lead(lead);
      } catch (error) {
        if (error instanceof LostLeadershipError) {
          this.#log.warn({ projection: name, err: error }, 'projection leadership lost');
        } else {
          // Only errors outside a batch land here (e.g. the database is unreachable at start-up).
          this.#log.error({ projection: name, err: error }, 'projection runner failed; will retry');
          await setStatus(this.#options.knex, name, 'failed', errorText(error)).catch(() => undefined);
        }
        await sleep(this.#pollIntervalMs, stop);
      } finally {
        if (stop.aborted) await setStatus(this.#options.knex, name, 'stopped').catch(() => undefined);
        this.#leading = false;
        await lock.release();
      }
    }
  }

  /** Leads until `outer` aborts (stop, or the lock connection dropped) or leadership is lost. */
  async #lead(outer: AbortSignal): Promise<void> {
    const { knex } = this.#options;
    const ended = new AbortController();
    const signal = AbortSignal.any([outer, ended.signal]);
    const { name, version } = this.projection;
    const { row, created } = await ensureCheckpoint(knex, name, version);
    this.#checkpoint = rowPosition(row);
    this.#persisted = this.#checkpoint;
    if (created || !(await liveTablesExist(knex, this.projection))) {
      // No tables yet (or a checkpoint that cannot belong to them): start them empty at START.
      await knex.transaction(async (trx) => {
        await createTables(trx, this.projection, (logical) => logical);
        await resetCheckpoint(trx, name, { from: this.#checkpoint, to: START, version, applied: 0, lastEventAt: undefined, rebuilt: false });
      });
      this.#checkpoint = START;
      this.#persisted = START;
    } else if (row.version !== version) {
      // New code, tables of the old one: rebuild before going live; readers keep the old tables meanwhile.
      this.#log.info({ projection: name, from: row.version, to: version }, 'projection version changed: rebuilding');
      if (!(await this.#runRebuild(signal, { live: false }))) {
        if (signal.aborted) return;
        throw new Error(`rebuild of ${name} for version ${version} failed; the tables of version ${row.version} keep serving`);
      }
    }
    await dropNextTables(knex, this.projection); // leftovers of a rebuild that a crash interrupted
    this.#log.info({ projection: name, checkpoint: formatPosition(this.#checkpoint) }, 'projection leading');
    const watcher = this.#watchRebuildRequests(signal);
    try {
      await this.#follow(signal);
    } finally {
      ended.abort();
      await watcher;
      await this.#rebuild;
    }
  }

  /** Subscribes from the checkpoint and applies batches; on a failing batch, backs off and resubscribes. */
  async #follow(signal: AbortSignal): Promise<void> {
    const { knex, store } = this.#options;
    const { name } = this.projection;
    let failures = 0;
    this.#reported = undefined;
    const report = async (state: ProjectionState) => {
      // The rebuild reports its own state while it runs.
      if (state !== this.#reported && !this.#rebuild) await setStatus(knex, name, state);
      this.#reported = state;
    };
    while (!signal.aborted) {
      try {
        // After a failure the error stays visible until a batch succeeds.
        if (failures === 0) {
          const head = await store.headPosition();
          await report(head === undefined || comparePositions(this.#checkpoint, head) >= 0 ? 'running' : 'catching_up');
        }
        const batches = store.subscribe({ after: this.#checkpoint, eventTypes: this.projection.eventTypes, maxBatchSize: this.#batchSize, signal });
        for await (const batch of batches) {
          await this.#exclusive(() => this.#apply(batch.events, batch.checkpoint));
          failures = 0;
          // A short batch: the subscription reached the head and delivers events as they come.
          await report(batch.events.length < this.#batchSize ? 'running' : 'catching_up');
          if (signal.aborted) break;
        }
      } catch (error) {
        if (error instanceof LostLeadershipError) throw error;
        if (signal.aborted) return;
        failures += 1;
        const backoff = Math.min(this.#maxBackoffMs, 100 * 2 ** Math.min(failures, 12));
        this.#log.error({ projection: name, err: error, failures, checkpoint: formatPosition(this.#checkpoint), retryInMs: backoff }, 'projection batch failed; retrying');
        await setStatus(knex, name, 'failed', errorText(error)).catch(() => undefined);
        this.#reported = 'failed';
        await sleep(backoff, signal);
        // Resubscribe from the last committed checkpoint (the failed batch rolled back).
        const row = await readCheckpoint(knex, name);
        if (comparePositions(rowPosition(row), this.#persisted) !== 0) throw new LostLeadershipError(`checkpoint of ${name} moved under us`);
        this.#checkpoint = this.#persisted;
      }
    }
  }

  async #apply(events: readonly RecordedEvent[], to: Position): Promise<void> {
    const { name } = this.projection;
    const from = this.#checkpoint;
    if (comparePositions(to, from) <= 0) return;
    // After a rebuild swap the checkpoint may be ahead of the subscription: skip what the new tables already have.
    const fresh = events.filter((e) => comparePositions(e.position, from) > 0);
    if (fresh.length === 0 && Date.now() - this.#persistedAt < SKIPPED_CHECKPOINT_EVERY_MS) {
      // Only other projections' events went by: nothing to write now (a restart would just skip
      // them again), so a busy log does not cost every idle projection a transaction per batch.
      this.#checkpoint = to;
      this.#options.onAdvance?.(name, to);
      return;
    }
    await this.#persist(fresh, to);
  }

  async #persist(fresh: readonly RecordedEvent[], to: Position): Promise<void> {
    if (fresh.length === 0) return this.#commit(fresh, to);
    // A span per applied batch, linked to the append span of each event (a consumer may run much
    // later: a link, not a parent) and carrying the requests' ids.
    const requestIds = [...new Set(fresh.map((e) => e.metadata.requestId).filter((id): id is string => id !== null))];
    const links = [...new Set(fresh.map((e) => e.metadata.traceparent))].slice(0, 64).flatMap((tp) => linkTo(tp) ?? []);
    await inSpan(
      `projection ${this.projection.name}`,
      {
        links,
        attributes: {
          'vialog.projection': this.projection.name,
          'vialog.event_count': fresh.length,
          'vialog.request_ids': requestIds.slice(0, 64),
          ...(requestIds.length === 1 ? { 'vialog.request_id': requestIds[0] } : {}),
        },
      },
      () => this.#commit(fresh, to),
    );
  }

  async #commit(fresh: readonly RecordedEvent[], to: Position): Promise<void> {
    const { name } = this.projection;
    const from = this.#persisted;
    await this.#options.knex.transaction(async (trx) => {
      // Read models are rebuilt from the events, and rows and checkpoint commit together: losing the
      // last few commits in a server crash only replays them, so no need to wait for the WAL flush.
      // (Visibility to readers does not wait for the flush either, so read-your-writes is unaffected.)
      if (!(await advanceCheckpoint(trx, name, from, to, fresh.length, fresh.at(-1)?.recordedAt, { relaxedCommit: true }))) {
        throw new LostLeadershipError(`checkpoint of ${name} moved under us`);
      }
      if (fresh.length > 0) await this.projection.apply(fresh, { trx, table: this.#liveTable });
    });
    this.#persisted = to;
    this.#persistedAt = Date.now();
    this.#checkpoint = to;
    this.#options.onAdvance?.(name, to);
  }

  /** Stores a checkpoint that only moved past skipped events (before a rebuild swaps on it). */
  async #flushSkipped(): Promise<void> {
    if (comparePositions(this.#checkpoint, this.#persisted) > 0) await this.#persist([], this.#checkpoint);
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#mutex.then(work);
    this.#mutex = result.catch(() => undefined);
    return result;
  }

  async #watchRebuildRequests(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#pollIntervalMs, signal);
      if (signal.aborted || this.#rebuild) continue;
      const row = await readCheckpoint(this.#options.knex, this.projection.name).catch(() => undefined);
      if (row?.rebuild_requested_at) {
        this.#rebuild = this.#runRebuild(signal, { live: true }).then(() => {
          this.#rebuild = undefined;
        });
      }
    }
  }

  /**
   * Rebuilds, alongside the live loop when `live`; true once swapped in. Never throws: on failure
   * the old tables keep serving (and, when live, keep being updated).
   */
  async #runRebuild(signal: AbortSignal, options: { live: boolean }): Promise<boolean> {
    const { knex, store } = this.#options;
    const { name } = this.projection;
    const started = Date.now();
    await setStatus(knex, name, 'rebuilding').catch(() => undefined);
    // Progress for whoever asked (at most twice a second; a lost write only delays the display).
    let progressAt = 0;
    let progressWrite: Promise<void> = Promise.resolve();
    const onScanned = (position: Position) => {
      if (Date.now() - progressAt < 500) return;
      progressAt = Date.now();
      progressWrite = progressWrite.then(() => recordRebuildProgress(knex, name, position)).catch(() => undefined);
    };
    const clearProgress = () => progressWrite.then(() => recordRebuildProgress(knex, name, null)).catch(() => undefined);
    try {
      const result = await rebuildProjection({
        knex,
        store,
        projection: this.projection,
        batchSize: this.#batchSize,
        signal,
        onScanned,
        sharedReads: this.#options.sharedReads,
        withLivePaused: (work) =>
          this.#exclusive(async () => {
            await this.#flushSkipped();
            this.#checkpoint = await work(this.#checkpoint);
            this.#persisted = this.#checkpoint;
            this.#options.onAdvance?.(name, this.#checkpoint);
          }),
      });
      await clearProgress();
      await setStatus(knex, name, 'running');
      this.#reported = 'running';
      this.#log.info({ projection: name, events: result.eventsApplied, ms: Date.now() - started }, 'projection rebuilt and swapped in');
      return true;
    } catch (error) {
      await clearProgress();
      // Stopped: leave the request standing, the next leader rebuilds.
      if (error instanceof RebuildAbortedError || signal.aborted) return false;
      this.#log.error({ projection: name, err: error }, 'rebuild failed; the old tables keep serving');
      await finishRebuildWithError(knex, name, errorText(error)).catch(() => undefined);
      // A failed manual rebuild leaves the live projection healthy; status() shows the rebuild error.
      if (options.live) {
        await setStatus(knex, name, 'running').catch(() => undefined);
        this.#reported = 'running';
      }
      return false;
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
