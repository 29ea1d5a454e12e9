// Read-your-writes: a command answers once the projections it affects have applied the events it
// appended (their checkpoint ≥ the append's position), or gives up after a bounded wait.
// Runners in this process report each commit directly (no delay); runners in other processes are
// seen by one shared poll of the checkpoint table while anybody waits.
import type { Knex } from 'knex';
import { comparePositions, type Position } from '../../platform/eventstore/port.ts';
import { readCheckpoints, rowPosition } from './checkpoints.ts';

export interface WaitOptions {
  /** Give up (resolve false) after this long. */
  readonly timeoutMs: number;
}

interface Waiter {
  readonly names: readonly string[];
  readonly position: Position;
  readonly settle: (reached: boolean) => void;
}

export class ProjectionProgress {
  readonly #knex: Knex;
  readonly #pollIntervalMs: number;
  /** Latest known checkpoint per projection (from a local commit or the last poll). */
  readonly #known = new Map<string, Position>();
  readonly #waiters = new Set<Waiter>();
  #polling: NodeJS.Timeout | undefined;
  #closed = false;

  readonly #leadsHere: (name: string) => boolean;

  /** `leadsHere`: whether a runner in this process leads the projection (it reports every commit). */
  constructor(knex: Knex, options: { pollIntervalMs?: number; leadsHere?: (name: string) => boolean } = {}) {
    this.#knex = knex;
    this.#pollIntervalMs = options.pollIntervalMs ?? 50;
    this.#leadsHere = options.leadsHere ?? (() => false);
  }

  /** Local runners call this after each committed batch. */
  advanced(name: string, position: Position): void {
    this.#known.set(name, position);
    this.#settleReached();
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
    for (const waiter of this.#waiters) waiter.settle(false);
  }

  /** True once every named projection reached `position`; false after `timeoutMs` (never hangs). */
  async waitFor(names: readonly string[], position: Position, options: WaitOptions): Promise<boolean> {
    if (names.length === 0) return true;
    if (this.#reached(names, position)) return true;
    if (this.#closed) return false;
    // A projection led here reports its commits directly; the database is asked at once only
    // about the others (or before a local runner reported anything). Polled again while waiting.
    const unknown = names.filter((name) => !(this.#leadsHere(name) && this.#known.has(name)));
    if (unknown.length > 0) {
      await this.#poll(unknown).catch(() => undefined);
      if (this.#reached(names, position)) return true;
    }
    if (options.timeoutMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => waiter.settle(false), options.timeoutMs);
      const waiter: Waiter = {
        names: [...names],
        position,
        settle: (reached) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(reached);
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

  #settleReached(): void {
    for (const waiter of this.#waiters) if (this.#reached(waiter.names, waiter.position)) waiter.settle(true);
  }

  async #poll(names?: readonly string[]): Promise<void> {
    const wanted = names ?? [...new Set([...this.#waiters].flatMap((w) => w.names))];
    if (wanted.length === 0) return;
    const rows = await readCheckpoints(this.#knex, wanted);
    for (const row of rows) this.#known.set(row.name, rowPosition(row));
    this.#settleReached();
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
