// Runs one projection: leads only while it holds the projection's advisory lock (standby
// otherwise), catches up then follows the log, applies each batch and advances the checkpoint in
// one transaction, and performs rebuilds.
//
// Failures: a transient one (connection lost, deadlock) is retried with backoff from the last
// checkpoint for as long as it lasts (state `retrying`). Any other failure of a batch is narrowed
// down to one event (the batch's events are applied one per transaction) and that event gets
// `maxAttempts` tries with backoff; then the projection is `failed` at that event's position and
// type and waits for an operator: `resume` (after a fix), `skip` (recorded in the log as an
// event), or a rebuild that gets past it. It neither retries blindly forever nor skips in silence.
// What the status row, the logs and the spans say about an error is reduced to its class
// (errors.ts): a database error's message can quote the event's content.
import type { Knex } from 'knex';
import {
  START,
  comparePositions,
  formatPosition,
  type EventStore,
  type Position,
  type RecordedEvent,
} from '../../platform/eventstore/port.ts';
import {
  advanceCheckpoint,
  ensureCheckpoint,
  finishRebuildWithError,
  markFailed,
  readCheckpoint,
  recordRebuildProgress,
  resetCheckpoint,
  rowPosition,
  setStatus,
  takeResumeRequest,
  type FailedEvent,
  type ProjectionState,
} from './checkpoints.ts';
import { PoisonEventError, ReducedError, SafeTextError, safeError } from './errors.ts';
import { tryAcquireProjectionLock } from './leadership.ts';
import { readSkippedEvents, SkippedEvents } from './operations.ts';
import { assertValidProjection, tableNamer, type Projection } from './projection.ts';
import type { ProjectionActivity } from './read-your-writes.ts';
import { RebuildAbortedError, rebuildProjection } from './rebuild.ts';
import type { SharedReads } from './shared-reads.ts';
import { createTables, dropNextTables, missingLiveTables, newRebuildToken } from './tables.ts';
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
  /** How often a standby tries for the lock, and the leader looks for rebuild and resume requests. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Longest wait between retries. Default 30 s. */
  readonly maxBackoffMs?: number;
  /** Attempts at one event before the projection is marked failed. Default 5. */
  readonly maxAttempts?: number;
  /** How often the leadership lock's connection is checked (leadership.ts). Default 5000. */
  readonly heartbeatMs?: number;
  /** lock_timeout of a rebuild's swap (rebuild.ts). Default 2000. */
  readonly swapLockTimeoutMs?: number;
  readonly logger?: RunnerLogger;
  /** Called after every committed batch (read-your-writes waiters in this process listen here). */
  readonly onAdvance?: (name: string, position: Position) => void;
  /** Called when the runner's state changes (read-your-writes waiters stop waiting for a frozen projection). */
  readonly onActivity?: (name: string, activity: ProjectionActivity) => void;
  /** Lets rebuilds of this process that start together read the log once (see shared-reads.ts). */
  readonly sharedReads: SharedReads;
}

/** The checkpoint moved under us: another runner led meanwhile. Give up leadership and start over. */
class LostLeadershipError extends Error {
  override readonly name = 'LostLeadershipError';
}

const silentLogger: RunnerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class ProjectionRunner {
  readonly projection: Projection;
  readonly #options: ProjectionRunnerOptions;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #maxBackoffMs: number;
  readonly #maxAttempts: number;
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
  /** Events an operator skipped (read from the log when leading starts and on resume). */
  #skipped = SkippedEvents.none;
  /** The event the projection gave up on (and why, reduced), while it waits for an operator. */
  #failed: (FailedEvent & { readonly text: string }) | undefined;
  /** Names this leader's rebuild tables. */
  #token = newRebuildToken();
  readonly #liveTable: (logicalName: string) => string;

  constructor(options: ProjectionRunnerOptions) {
    assertValidProjection(options.projection);
    this.projection = options.projection;
    this.#liveTable = tableNamer(options.projection, (logical) => logical);
    this.#options = options;
    this.#batchSize = options.batchSize ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#maxAttempts = options.maxAttempts ?? 5;
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
      const lock = await tryAcquireProjectionLock(this.#options.databaseUrl, name, {
        heartbeatMs: this.#options.heartbeatMs,
      }).catch((error: unknown) => {
        this.#log.warn({ projection: name, error: safeError(error).text }, 'projection lock unavailable');
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
        if (lock.lost.aborted && !stop.aborted) {
          this.#log.warn({ projection: name }, 'projection lock connection lost or silent: leadership given up');
        }
      } catch (error) {
        if (error instanceof LostLeadershipError) {
          this.#log.warn({ projection: name, error: error.message }, 'projection leadership lost');
        } else {
          // Only errors outside a batch land here (e.g. the database is unreachable at start-up).
          const reduced = safeError(error);
          this.#log.error({ projection: name, error: reduced.text }, 'projection runner failed; will retry');
          await this.#setState('retrying', reduced.text).catch(() => undefined);
        }
        await sleep(this.#pollIntervalMs, stop);
      } finally {
        // A failed projection stays failed (and visible) while nobody runs it.
        if (stop.aborted && !this.#failed) await this.#setState('stopped').catch(() => undefined);
        this.#leading = false;
        await lock.release();
      }
    }
  }

  /** Writes the state to the status row (clearing a recorded failed event) and tells local waiters. */
  async #setState(
    state: Exclude<ProjectionState, 'failed'>,
    lastError: string | null = null,
    frozen = false,
  ): Promise<void> {
    await setStatus(this.#options.knex, this.projection.name, state, lastError);
    this.#reported = state;
    this.#options.onActivity?.(this.projection.name, { state, frozen });
  }

  /** Leads until `outer` aborts (stop, or the lock connection dropped) or leadership is lost. */
  async #lead(outer: AbortSignal): Promise<void> {
    const { knex, store } = this.#options;
    const ended = new AbortController();
    const signal = AbortSignal.any([outer, ended.signal]);
    const { name } = this.projection;
    const { row, created } = await ensureCheckpoint(knex, name, this.projection.version);
    this.#checkpoint = rowPosition(row);
    this.#persisted = this.#checkpoint;
    this.#failed = undefined;
    this.#token = newRebuildToken();
    this.#skipped = await readSkippedEvents(store, name);
    // Leading starts by trying again anyway: a resume asked for while nobody led is answered.
    await takeResumeRequest(knex, name);
    await dropNextTables(knex, this.projection); // leftovers of a rebuild that a crash interrupted
    if (!(await this.#prepareTables(signal, created, row.version))) return;
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

  /** Makes the live tables fit for following the log; false when stopped meanwhile. */
  async #prepareTables(signal: AbortSignal, created: boolean, tablesVersion: number): Promise<boolean> {
    const { knex } = this.#options;
    const { name, version } = this.projection;
    const missing = await missingLiveTables(knex, this.projection);
    if (created || missing.length === Object.keys(this.projection.tables).length) {
      // No tables yet (or a checkpoint that cannot belong to them): start them empty at START.
      await knex.transaction(async (trx) => {
        await createTables(trx, this.projection, (logical) => logical);
        await resetCheckpoint(trx, name, {
          from: this.#checkpoint,
          to: START,
          version,
          applied: 0,
          lastEventAt: undefined,
          rebuilt: false,
        });
      });
      this.#checkpoint = START;
      this.#persisted = START;
      return true;
    }
    if (tablesVersion === version && missing.length === 0) return true;
    // New code with tables of the old one, or some tables gone: rebuild all of them before going
    // live; readers keep the tables there are meanwhile (none is dropped before the swap).
    this.#log.info(
      { projection: name, from: tablesVersion, to: version, missingTables: missing },
      'projection tables out of date: rebuilding',
    );
    for (;;) {
      const outcome = await this.#runRebuild(signal, { live: false });
      if (outcome === 'swapped') return true;
      if (signal.aborted) return false;
      if (outcome === 'failed') {
        throw new SafeTextError(
          `rebuild of ${name} for version ${version} failed; the tables of version ${tablesVersion} keep serving`,
        );
      }
      // An event the new code cannot apply: resume or skip, then rebuild again.
      await this.#awaitOperator(signal, { passable: false });
      if (signal.aborted) return false;
    }
  }

  /** Subscribes from the checkpoint and applies batches; on a failure, backs off and resubscribes. */
  async #follow(signal: AbortSignal): Promise<void> {
    const { knex, store } = this.#options;
    const { name } = this.projection;
    let failures = 0;
    this.#reported = undefined;
    const report = async (state: 'running' | 'catching_up') => {
      // The rebuild reports its own state while it runs.
      if (state !== this.#reported && !this.#rebuild) await this.#setState(state);
    };
    while (!signal.aborted) {
      try {
        // After a failure the error stays visible until a batch succeeds.
        if (failures === 0) {
          const head = await store.headPosition();
          await report(head === undefined || comparePositions(this.#checkpoint, head) >= 0 ? 'running' : 'catching_up');
        }
        const batches = store.subscribe({
          after: this.#checkpoint,
          eventTypes: this.projection.eventTypes,
          maxBatchSize: this.#batchSize,
          signal,
        });
        for await (const batch of batches) {
          await this.#exclusive(() => this.#applyBatch(batch.events, batch.checkpoint, signal));
          failures = 0;
          // A short batch: the subscription reached the head and delivers events as they come.
          await report(batch.events.length < this.#batchSize ? 'running' : 'catching_up');
          if (signal.aborted) break;
        }
      } catch (error) {
        if (error instanceof LostLeadershipError) throw error;
        if (signal.aborted) return;
        if (error instanceof PoisonEventError) {
          await this.#fail(error);
          await this.#awaitOperator(signal, { passable: true });
          if (signal.aborted) return;
        } else {
          failures += 1;
          const backoff = this.#backoff(failures);
          const reduced = safeError(error);
          this.#log.error(
            {
              projection: name,
              error: reduced.text,
              failures,
              checkpoint: formatPosition(this.#checkpoint),
              retryInMs: backoff,
            },
            'projection batch failed; retrying',
          );
          await this.#setState('retrying', reduced.text).catch(() => undefined);
          await sleep(backoff, signal);
        }
        // Resubscribe from the last committed checkpoint (the failed batch rolled back).
        const row = await readCheckpoint(knex, name);
        if (comparePositions(rowPosition(row), this.#persisted) !== 0) {
          throw new LostLeadershipError(`checkpoint of ${name} moved under us`);
        }
        this.#checkpoint = this.#persisted;
      }
    }
  }

  #backoff(failures: number): number {
    return Math.min(this.#maxBackoffMs, 100 * 2 ** Math.min(failures, 12));
  }

  /**
   * Applies a batch; when it fails for a reason that is not transient, applies its events one per
   * transaction instead, each with its own attempts, so the one at fault is found and every event
   * before it is applied.
   */
  async #applyBatch(events: readonly RecordedEvent[], to: Position, signal: AbortSignal): Promise<void> {
    try {
      await this.#apply(events, to);
    } catch (error) {
      if (error instanceof LostLeadershipError || safeError(error).transient) throw error;
      const fresh = this.#fresh(events);
      if (fresh.length === 0) throw error;
      for (const [i, event] of fresh.entries()) {
        await this.#applyOne(event, signal, fresh.length === 1 && i === 0 ? error : undefined);
      }
      await this.#apply([], to);
    }
  }

  /** One event in its own transaction, tried up to maxAttempts times (counting `failedOnce`). */
  async #applyOne(event: RecordedEvent, signal: AbortSignal, failedOnce: unknown): Promise<void> {
    const { name } = this.projection;
    let attempts = failedOnce === undefined ? 0 : 1;
    let last = failedOnce === undefined ? undefined : safeError(failedOnce);
    for (;;) {
      if (last) {
        if (attempts >= this.#maxAttempts) throw new PoisonEventError(event, attempts, last);
        const backoff = this.#backoff(attempts);
        const where = `event ${formatPosition(event.position)} (${event.type})`;
        this.#log.warn(
          {
            projection: name,
            position: formatPosition(event.position),
            type: event.type,
            attempts,
            error: last.text,
            retryInMs: backoff,
          },
          'projection event failed; retrying',
        );
        await this.#setState(
          'retrying',
          `attempt ${attempts} of ${this.#maxAttempts} at ${where} failed: ${last.text}`,
        ).catch(() => undefined);
        await sleep(backoff, signal);
        if (signal.aborted) throw new RebuildAbortedError(`${name} stopped`);
      }
      try {
        await this.#persist([event], event.position);
        return;
      } catch (error) {
        if (error instanceof LostLeadershipError) throw error;
        last = safeError(error);
        if (last.transient) throw error;
        attempts += 1;
      }
    }
  }

  /** Gives up on one event: status failed with its position and type; local waiters stop waiting. */
  async #fail(error: PoisonEventError): Promise<void> {
    const { name } = this.projection;
    this.#failed = { position: error.position, type: error.type, attempts: error.attempts, text: error.message };
    this.#log.error(
      {
        projection: name,
        position: formatPosition(error.position),
        type: error.type,
        attempts: error.attempts,
        error: error.error.text,
      },
      'projection failed at an event: it waits for an operator (projections resume | skip)',
    );
    await markFailed(this.#options.knex, name, this.#failed, error.message).catch(() => undefined);
    this.#reported = 'failed';
    this.#options.onActivity?.(name, { state: 'failed', frozen: true });
  }

  /**
   * Waits, while failed, until an operator asks to resume (a fix deployed, or a skip recorded), or
   * (`passable`: the live loop) a rebuild got past the failed event; then reads the skipped events
   * again and goes on.
   */
  async #awaitOperator(signal: AbortSignal, options: { passable: boolean }): Promise<void> {
    const { knex, store } = this.#options;
    const { name } = this.projection;
    const failed = this.#failed;
    while (!signal.aborted) {
      await sleep(this.#pollIntervalMs, signal);
      if (signal.aborted) return;
      if (await takeResumeRequest(knex, name).catch(() => false)) break;
      if (options.passable && failed && comparePositions(this.#persisted, failed.position) >= 0) break;
    }
    this.#skipped = await readSkippedEvents(store, name);
    this.#failed = undefined;
    this.#log.info({ projection: name, skipped: this.#skipped.size }, 'projection resumed');
    await this.#setState('catching_up');
  }

  /** The events after the checkpoint that are to be applied (not skipped by an operator). */
  #fresh(events: readonly RecordedEvent[]): readonly RecordedEvent[] {
    const from = this.#checkpoint;
    return this.#skipped.filter(events.filter((e) => comparePositions(e.position, from) > 0));
  }

  async #apply(events: readonly RecordedEvent[], to: Position): Promise<void> {
    const { name } = this.projection;
    if (comparePositions(to, this.#checkpoint) <= 0) return;
    // After a rebuild swap the checkpoint may be ahead of the subscription: skip what the new tables already have.
    const fresh = this.#fresh(events);
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
      // The span records what it throws: only the reduced error, never the driver's message.
      () =>
        this.#commit(fresh, to).catch((error: unknown) => {
          if (error instanceof LostLeadershipError) throw error;
          throw new ReducedError(error);
        }),
    );
  }

  async #commit(fresh: readonly RecordedEvent[], to: Position): Promise<void> {
    const { name } = this.projection;
    const from = this.#persisted;
    await this.#options.knex.transaction(async (trx) => {
      // Read models are rebuilt from the events, and rows and checkpoint commit together: losing the
      // last few commits in a server crash only replays them, so no need to wait for the WAL flush.
      // (Visibility to readers does not wait for the flush either, so read-your-writes is unaffected.)
      if (
        !(await advanceCheckpoint(trx, name, from, to, fresh.length, fresh.at(-1)?.recordedAt, { relaxedCommit: true }))
      ) {
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
   * Rebuilds, alongside the live loop when `live`. Never throws: on failure the old tables keep
   * serving (and, when live, keep being updated). `poisoned`: an event could not be applied (the
   * projection is then failed at it when not `live`).
   */
  async #runRebuild(
    signal: AbortSignal,
    options: { live: boolean },
  ): Promise<'swapped' | 'stopped' | 'poisoned' | 'failed'> {
    const { knex, store } = this.#options;
    const { name } = this.projection;
    const started = Date.now();
    // Frozen for read-your-writes: a rebuild for new code (the live tables wait for the swap), or one
    // while the live loop waits for an operator.
    await this.#setState('rebuilding', null, !options.live || this.#failed !== undefined).catch(() => undefined);
    // Progress for whoever asked (at most twice a second; a lost write only delays the display).
    let progressAt = 0;
    let progressWrite: Promise<void> = Promise.resolve();
    const onScanned = (position: Position) => {
      if (Date.now() - progressAt < 500) return;
      progressAt = Date.now();
      progressWrite = progressWrite.then(() => recordRebuildProgress(knex, name, position)).catch(() => undefined);
    };
    const clearProgress = () =>
      progressWrite.then(() => recordRebuildProgress(knex, name, null)).catch(() => undefined);
    try {
      this.#skipped = await readSkippedEvents(store, name);
      const result = await rebuildProjection({
        knex,
        store,
        projection: this.projection,
        batchSize: this.#batchSize,
        signal,
        onScanned,
        sharedReads: this.#options.sharedReads,
        token: this.#token,
        skipped: this.#skipped,
        ...(this.#options.swapLockTimeoutMs ? { swapLockTimeoutMs: this.#options.swapLockTimeoutMs } : {}),
        withLivePaused: (work) =>
          this.#exclusive(async () => {
            await this.#flushSkipped();
            this.#checkpoint = await work(this.#checkpoint);
            this.#persisted = this.#checkpoint;
            this.#options.onAdvance?.(name, this.#checkpoint);
          }),
      });
      await clearProgress();
      await this.#setState('running');
      this.#log.info(
        { projection: name, events: result.eventsApplied, ms: Date.now() - started },
        'projection rebuilt and swapped in',
      );
      return 'swapped';
    } catch (error) {
      await clearProgress();
      // Stopped: leave the request standing, the next leader rebuilds.
      if (error instanceof RebuildAbortedError || signal.aborted) return 'stopped';
      const reduced = safeError(error);
      this.#log.error({ projection: name, error: reduced.text }, 'rebuild failed; the old tables keep serving');
      // The state first: whoever waits for the rebuild's answer then sees the state that follows it.
      if (error instanceof PoisonEventError && !options.live) await this.#fail(error);
      // A failed manual rebuild leaves the live projection as it was; status() shows the rebuild error.
      if (options.live) await this.#restoreLiveState();
      await finishRebuildWithError(knex, name, reduced.text).catch(() => undefined);
      return error instanceof PoisonEventError ? 'poisoned' : 'failed';
    }
  }

  /** After a manual rebuild that failed: the live loop's state again (failed, if it waits for an operator). */
  async #restoreLiveState(): Promise<void> {
    const failed = this.#failed;
    if (!failed) return this.#setState('running').catch(() => undefined);
    await markFailed(this.#options.knex, this.projection.name, failed, failed.text).catch(() => undefined);
    this.#reported = 'failed';
    this.#options.onActivity?.(this.projection.name, { state: 'failed', frozen: true });
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
