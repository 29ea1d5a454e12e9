// The projection engine's front door: one runner per projection, their status, rebuilds and
// read-your-writes waits. The composition root (app/) creates one per process.
import type { Knex } from 'knex';
import type { EventStore, Position } from '../../platform/eventstore/port.ts';
import { ensureCheckpoint, readCheckpoint, requestRebuild } from './checkpoints.ts';
import { ProjectionProgress } from './progress.ts';
import type { Projection } from './projection.ts';
import { ProjectionRunner, type RunnerLogger } from './runner.ts';
import { projectionStatuses, type ProjectionStatus } from './status.ts';

export type { Projection, ProjectionContext } from './projection.ts';
export type { ProjectionStatus } from './status.ts';
export type { RunnerLogger } from './runner.ts';

export interface ProjectionEngineOptions {
  readonly projections: readonly Projection[];
  readonly store: EventStore;
  readonly knex: Knex;
  readonly databaseUrl: string;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  readonly logger?: RunnerLogger;
}

export class ProjectionEngine {
  readonly projections: readonly Projection[];
  readonly progress: ProjectionProgress;
  readonly #options: ProjectionEngineOptions;
  readonly #runners: ProjectionRunner[] = [];

  constructor(options: ProjectionEngineOptions) {
    const names = new Set<string>();
    for (const p of options.projections) {
      if (names.has(p.name)) throw new Error(`two projections named ${p.name}`);
      names.add(p.name);
    }
    this.projections = options.projections;
    this.#options = options;
    this.progress = new ProjectionProgress(options.knex);
  }

  /** Starts a runner per projection; each leads only while it holds its projection's lock. */
  start(): void {
    for (const projection of this.projections) {
      const runner = new ProjectionRunner({
        ...this.#options,
        projection,
        onAdvance: (name, position) => this.progress.advanced(name, position),
      });
      runner.start();
      this.#runners.push(runner);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#runners.map((r) => r.stop()));
    this.#runners.length = 0;
  }

  status(): Promise<ProjectionStatus[]> {
    return projectionStatuses(this.#options.knex, this.#options.store, this.projections);
  }

  /** Waits (bounded) until the named projections have applied everything up to `position`. */
  waitFor(names: readonly string[], position: Position, timeoutMs: number): Promise<boolean> {
    return this.progress.waitFor(names, position, timeoutMs);
  }

  find(name: string): Projection | undefined {
    return this.projections.find((p) => p.name === name);
  }

  /**
   * Asks whichever process leads the projection to rebuild it (zero downtime). Resolves when
   * the rebuilt tables are swapped in, or false after `timeoutMs`.
   */
  async rebuild(name: string, timeoutMs = 10 * 60_000): Promise<boolean> {
    const projection = this.find(name);
    if (!projection) throw new Error(`unknown projection ${name}`);
    await ensureCheckpoint(this.#options.knex, name, projection.version);
    await requestRebuild(this.#options.knex, name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const row = await readCheckpoint(this.#options.knex, name);
      if (row && row.rebuild_requested_at === null) return true;
    }
    return false;
  }
}
