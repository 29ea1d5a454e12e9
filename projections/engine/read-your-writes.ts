// Read-your-writes: a command answers once the projections it affects have applied the events it
// appended (their checkpoint ≥ the append's position), or gives up after a bounded wait.
// Runners in this process report each commit directly (no delay); runners in other processes are
// seen by one shared poll of the checkpoint table while anybody waits.
//
// A projection that will not move soon is not waited for: one that is `failed` (it waits for an
// operator), or that rebuilds for a new code version (its live tables stand still until the
// swap). The wait then ends at once, and says why, so the caller can tell its client the reads
// may be stale instead of making every write wait the full timeout.
import type { Knex } from 'knex';
import { comparePositions, type Position } from '../../platform/eventstore/port.ts';
import { readCheckpoints, rowPosition, type CheckpointRow, type ProjectionState } from './checkpoints.ts';

export interface WaitOptions {
  /** Give up (resolve false) after this long. */
  readonly timeoutMs: number;
}

/** Why a wait ended without the position reached. */
export type StaleReason = 'timeout' | 'failed' | 'rebuilding' | 'stopping';

export type WaitOutcome =
  | { readonly reached: true }
  | { readonly reached: false; readonly reason: StaleReason; readonly projections: readonly string[] };

const REACHED: WaitOutcome = Object.freeze({ reached: true });

interface Waiter {
  readonly names: readonly string[];
  readonly position: Position;
  readonly settle: (outcome: WaitOutcome) => void;
}

/** What a projection is doing, as far as read-your-writes cares. */
export interface ProjectionActivity {
  readonly state: ProjectionState;
  /** Its live checkpoint stands still until further notice (failed, or a rebuild for a new version). */
  readonly frozen: boolean;
}

export class ProjectionProgress {
  readonly #knex: Knex;
  readonly #pollIntervalMs: number;
  /** Latest known checkpoint per projection (from a local commit or the last poll). */
  readonly #known = new Map<string, Position>();
  /** Latest known activity per projection (from a local runner or the last poll). */
  readonly #activity = new Map<string, ProjectionActivity>();
  readonly #waiters = new Set<Waiter>();
  #polling: NodeJS.Timeout | undefined;
  #closed = false;

  readonly #leadsHere: (name: string) => boolean;
  readonly #codeVersion: (name: string) => number | undefined;

  /**
   * `leadsHere`: whether a runner in this process leads the projection (it reports every commit).
   * `codeVersion`: the projection's version in this process's code (a rebuild to another version
   * freezes the live tables).
   */
  constructor(
    knex: Knex,
    options: {
      pollIntervalMs?: number;
      leadsHere?: (name: string) => boolean;
      codeVersion?: (name: string) => number | undefined;
    } = {},
  ) {
    this.#knex = knex;
    this.#pollIntervalMs = options.pollIntervalMs ?? 50;
    this.#leadsHere = options.leadsHere ?? (() => false);
    this.#codeVersion = options.codeVersion ?? (() => undefined);
  }

  /** Local runners call this after each committed batch. */
  advanced(name: string, position: Position): void {
    this.#known.set(name, position);
    this.#settle();
  }

  /** Local runners call this when their state changes. */
  activity(name: string, activity: ProjectionActivity): void {
    this.#activity.set(name, activity);
    this.#settle();
  }

  /** (Re)started: waits poll again. */
  open(): void {
    this.#closed = false;
  }

  /** Shutting down: waiters get false now, and nothing polls a pool that is about to close. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#polling);
    this.#polling = undefined;
    for (const waiter of this.#waiters) {
      waiter.settle({ reached: false, reason: 'stopping', projections: waiter.names });
    }
  }

  /** True once every named projection reached `position`; false after `timeoutMs` (never hangs). */
  async waitFor(names: readonly string[], position: Position, options: WaitOptions): Promise<boolean> {
    return (await this.wait(names, position, options)).reached;
  }

  /**
   * Reached once every named projection reached `position`; otherwise why not: after `timeoutMs`
   * (never hangs, the first look at the database included), or at once when one of them is frozen.
   */
  async wait(names: readonly string[], position: Position, options: WaitOptions): Promise<WaitOutcome> {
    if (names.length === 0 || this.#reached(names, position)) return REACHED;
    if (this.#closed) return { reached: false, reason: 'stopping', projections: [...names] };
    const deadline = Date.now() + options.timeoutMs;
    // A projection led here reports its commits directly; the database is asked at once only
    // about the others (or before a local runner reported anything). Polled again while waiting.
    const unknown = names.filter((name) => !(this.#leadsHere(name) && this.#known.has(name)));
    if (unknown.length > 0 && options.timeoutMs > 0) {
      await bounded(this.#poll(unknown), options.timeoutMs);
      if (this.#reached(names, position)) return REACHED;
    }
    const frozen = this.#frozen(names);
    if (frozen) return frozen;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      return { reached: false, reason: 'timeout', projections: names.filter((n) => !this.#reached([n], position)) };
    }
    return new Promise<WaitOutcome>((resolve) => {
      const timer = setTimeout(
        () =>
          waiter.settle({
            reached: false,
            reason: 'timeout',
            projections: names.filter((n) => !this.#reached([n], position)),
          }),
        remaining,
      );
      const waiter: Waiter = {
        names: [...names],
        position,
        settle: (outcome) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(outcome);
        },
      };
      this.#waiters.add(waiter);
      this.#schedulePoll();
    });
  }

  #reached(names: readonly string[], position: Position): boolean {
    return names.every((name) => {
      const known = this.#known.get(name);
      return known !== undefined && comparePositions(known, position) >= 0;
    });
  }

  /** The first of `names` that will not move soon, as a wait outcome; undefined when none. */
  #frozen(names: readonly string[]): WaitOutcome | undefined {
    const frozen = names.filter((name) => this.#activity.get(name)?.frozen === true);
    if (frozen.length === 0) return undefined;
    const reason = frozen.some((name) => this.#activity.get(name)?.state === 'failed') ? 'failed' : 'rebuilding';
    return { reached: false, reason, projections: frozen };
  }

  #settle(): void {
    for (const waiter of this.#waiters) {
      if (this.#reached(waiter.names, waiter.position)) waiter.settle(REACHED);
      else {
        const frozen = this.#frozen(waiter.names.filter((name) => !this.#reached([name], waiter.position)));
        if (frozen) waiter.settle(frozen);
      }
    }
  }

  #fromRow(row: CheckpointRow): ProjectionActivity {
    const codeVersion = this.#codeVersion(row.name);
    const rebuildingToNewVersion =
      row.status === 'rebuilding' && codeVersion !== undefined && row.version !== codeVersion;
    return { state: row.status, frozen: row.status === 'failed' || rebuildingToNewVersion };
  }

  async #poll(names?: readonly string[]): Promise<void> {
    const wanted = names ?? [...new Set([...this.#waiters].flatMap((w) => w.names))];
    if (wanted.length === 0) return;
    const rows = await readCheckpoints(this.#knex, wanted);
    for (const row of rows) {
      this.#known.set(row.name, rowPosition(row));
      // A local runner's own report is fresher than the row it wrote.
      if (!this.#leadsHere(row.name) || !this.#activity.has(row.name)) this.#activity.set(row.name, this.#fromRow(row));
    }
    this.#settle();
  }

  #schedulePoll(): void {
    if (this.#polling || this.#waiters.size === 0 || this.#closed) return;
    this.#polling = setTimeout(() => {
      this.#poll()
        .catch(() => undefined) // a failed poll is retried on the next tick; waiters stay bounded by their timeout
        .finally(() => {
          this.#polling = undefined;
          this.#schedulePoll();
        });
    }, this.#pollIntervalMs);
  }
}

/** Waits for `work` at most `ms` (it goes on in the background; its failure is ignored). */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
