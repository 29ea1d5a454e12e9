// The projection engine's front door, used by the composition root (app/): one runner per
// projection (each leads only while it holds the projection's advisory lock), their status,
// rebuilds and read-your-writes waits. Create one engine per process.
import { DomainError } from '../../platform/commands/decision.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { comparePositions, formatPosition, type Position } from '../../platform/eventstore/port.ts';
import { ensureCheckpoint, failedEventOf, readCheckpoint, requestRebuild, requestResume } from './checkpoints.ts';
import { recordSkip } from './operations.ts';
import { liveTablesExist } from './tables.ts';
import type { Projection } from './projection.ts';
import { ProjectionProgress, type WaitOptions, type WaitOutcome } from './read-your-writes.ts';
import { ProjectionRunner, type ProjectionRunnerOptions } from './runner.ts';
import { SharedReads } from './shared-reads.ts';
import { projectionStatuses, type ProjectionStatus } from './status.ts';

export type { Projection, ProjectionContext } from './projection.ts';
export type { ProjectionState } from './checkpoints.ts';
export type { ProjectionStatus } from './status.ts';
export type { RunnerLogger } from './runner.ts';
export type { StaleReason, WaitOptions, WaitOutcome } from './read-your-writes.ts';
export { projectionOperationEventTypes } from './operations.ts';
export { safeError } from './errors.ts';
export { tableDdl } from './tables.ts';

/** The runners' options (one runner per projection), for the whole list of projections. */
export interface ProjectionEngineOptions extends Omit<
  ProjectionRunnerOptions,
  'projection' | 'onAdvance' | 'onActivity' | 'sharedReads'
> {
  readonly projections: readonly Projection[];
}

export class ProjectionRebuildError extends Error {
  override readonly name = 'ProjectionRebuildError';
}

/** A resume or skip that does not fit the projection's state; `code` says how. */
export class ProjectionOperationError extends DomainError {
  declare readonly code: 'not_found' | 'not_failed' | 'not_the_failed_event';
  constructor(code: ProjectionOperationError['code'], message: string) {
    super({ code, message, status: code === 'not_found' ? 404 : 409 });
  }
}

export class ProjectionEngine {
  readonly projections: readonly Projection[];
  readonly #options: ProjectionEngineOptions;
  readonly #progress: ProjectionProgress;
  readonly #runners: ProjectionRunner[] = [];

  constructor(options: ProjectionEngineOptions) {
    const names = new Set<string>();
    const tables = new Map<string, string>();
    for (const p of options.projections) {
      if (names.has(p.name)) throw new Error(`two projections named ${p.name}`);
      names.add(p.name);
      for (const table of Object.keys(p.tables)) {
        const owner = tables.get(table);
        if (owner) throw new Error(`projections ${owner} and ${p.name} both declare table ${table}`);
        tables.set(table, p.name);
      }
    }
    this.projections = options.projections;
    this.#options = options;
    this.#progress = new ProjectionProgress(options.knex, {
      leadsHere: (name) => this.leading().includes(name),
      codeVersion: (name) => this.projections.find((p) => p.name === name)?.version,
    });
  }

  /** Starts a runner per projection (idempotent). Returns at once; runners lead or stand by in the background. */
  start(): void {
    if (this.#runners.length > 0) return;
    this.#progress.open();
    // Rebuilds starting within one poll of each other (each runner looks for requests once a
    // poll) share their read of the log.
    const sharedReads = new SharedReads(this.#options.store, {
      pageSize: this.#options.batchSize ?? 500,
      joinWindowMs: Math.min(this.#options.pollIntervalMs ?? 1000, 1000) + 50,
    });
    for (const projection of this.projections) {
      const runner = new ProjectionRunner({
        ...this.#options,
        projection,
        sharedReads,
        onAdvance: (name, position) => this.#progress.advanced(name, position),
        onActivity: (name, activity) => this.#progress.activity(name, activity),
      });
      runner.start();
      this.#runners.push(runner);
    }
  }

  /**
   * Resolves true once every projection's tables exist (their leader, in this or another process,
   * creates them at its start), false after `timeoutMs`. The API waits for this before it listens,
   * so no query ever meets a missing table.
   */
  async tablesReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(this.projections);
    for (;;) {
      for (const projection of [...pending])
        if (await liveTablesExist(this.#options.knex, projection)) pending.delete(projection);
      if (pending.size === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Graceful: each runner finishes its current batch, then releases its lock. */
  async stop(): Promise<void> {
    await Promise.all(this.#runners.map((r) => r.stop()));
    this.#runners.length = 0;
    this.#progress.close();
  }

  /** Names of the projections this process leads right now. */
  leading(): string[] {
    return this.#runners.filter((r) => r.isLeading).map((r) => r.projection.name);
  }

  status(): Promise<ProjectionStatus[]> {
    return projectionStatuses(this.#options.knex, this.#options.store, this.projections);
  }

  /**
   * Read-your-writes: resolves true once every named projection has applied the log up to
   * `position` (e.g. an AppendResult's), false after `timeoutMs`. Works whichever process leads.
   */
  waitForProjections(names: readonly string[], position: Position, options: WaitOptions): Promise<boolean> {
    return this.#progress.waitFor(names, position, options);
  }

  /**
   * Read-your-writes that says why it was not reached: after `timeoutMs`, or at once when a named
   * projection is failed or rebuilding for a new version (it will not move soon).
   */
  awaitProjections(names: readonly string[], position: Position, options: WaitOptions): Promise<WaitOutcome> {
    return this.#progress.wait(names, position, options);
  }

  /** Asks a failed projection's leader (in any process) to try its failed event again (after a fix). */
  async resume(name: string): Promise<Date> {
    this.#find(name);
    const row = await readCheckpoint(this.#options.knex, name);
    if (row?.status !== 'failed') {
      throw new ProjectionOperationError(
        'not_failed',
        `projection ${name} is not failed (it is ${row?.status ?? 'not started'})`,
      );
    }
    await requestResume(this.#options.knex, name);
    return new Date();
  }

  /**
   * Skips the event a failed projection stopped at, named by position AND type (so a mistyped
   * position cannot skip another event): records a ProjectionEventSkipped event in the log (who,
   * why) and asks the leader to resume past it. Rebuilds and the consistency check skip it too.
   */
  async skip(
    name: string,
    event: { position: Position; type: string; reason: string },
    cause: CommandCause,
  ): Promise<{ recordedAt: Date; position: Position }> {
    this.#find(name);
    const row = await readCheckpoint(this.#options.knex, name);
    const failed = failedEventOf(row);
    if (row?.status !== 'failed' || !failed) {
      throw new ProjectionOperationError(
        'not_failed',
        `projection ${name} is not failed at an event (it is ${row?.status ?? 'not started'})`,
      );
    }
    if (comparePositions(failed.position, event.position) !== 0 || failed.type !== event.type) {
      throw new ProjectionOperationError(
        'not_the_failed_event',
        `projection ${name} failed at ${formatPosition(failed.position)} (${failed.type}), ` +
          `not at ${formatPosition(event.position)} (${event.type})`,
      );
    }
    const recorded = await recordSkip(this.#options.store, name, event, cause);
    await requestResume(this.#options.knex, name);
    return { recordedAt: new Date(), position: recorded.position };
  }

  /**
   * Asks the projection's leader (in any process) for a zero-downtime rebuild and returns at once.
   * Nothing happens until some process runs the projection.
   */
  async requestRebuild(name: string): Promise<Date> {
    const projection = this.#find(name);
    await ensureCheckpoint(this.#options.knex, name, projection.version);
    const requestedAt = await requestRebuild(this.#options.knex, name);
    if (!requestedAt) throw new Error(`no checkpoint row for ${name}`);
    return requestedAt;
  }

  /**
   * Rebuilds and waits for the swap. Throws ProjectionRebuildError when the rebuild failed (the
   * old tables keep serving) or did not finish within `timeoutMs`. A CLI that runs this starts the
   * engine first: then it leads the rebuild itself when no other process runs the projection.
   */
  async rebuild(
    name: string,
    options: WaitOptions & { onProgress?: (fraction: number) => void } = { timeoutMs: 10 * 60_000 },
  ): Promise<void> {
    const requestedAt = await this.requestRebuild(name);
    const deadline = Date.now() + options.timeoutMs;
    // Progress: how far the rebuild has read, against the head as of the request.
    const head = options.onProgress ? await this.#options.store.headPosition() : undefined;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const row = await readCheckpoint(this.#options.knex, name);
      if (row?.rebuild_scanned_prepare && head && head.prepare > 0n)
        options.onProgress?.(Math.min(1, Number(row.rebuild_scanned_prepare) / Number(head.prepare)));
      if (
        !row ||
        row.rebuild_requested_at !== null ||
        row.rebuild_finished_at === null ||
        row.rebuild_finished_at < requestedAt
      )
        continue;
      if (row.rebuild_error !== null)
        throw new ProjectionRebuildError(`rebuild of ${name} failed: ${row.rebuild_error}`);
      options.onProgress?.(1);
      return;
    }
    throw new ProjectionRebuildError(
      `rebuild of ${name} did not finish within ${options.timeoutMs} ms (is a runner for it started?)`,
    );
  }

  #find(name: string): Projection {
    const projection = this.projections.find((p) => p.name === name);
    if (!projection) throw new ProjectionOperationError('not_found', `unknown projection ${name}`);
    return projection;
  }
}
