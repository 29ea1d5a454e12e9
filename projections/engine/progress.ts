// Read-your-writes: a command waits, bounded, until the projections it affects have reached the
// position of its append. Runners in this process report progress directly; runners in other
// processes are seen by polling the checkpoint table.
import type { Knex } from 'knex';
import { comparePositions, type Position } from '../../platform/eventstore/port.ts';
import { readCheckpoint, rowPosition } from './checkpoints.ts';

interface Waiter {
  readonly name: string;
  readonly position: Position;
  readonly resolve: () => void;
}

export class ProjectionProgress {
  readonly #knex: Knex;
  readonly #local = new Map<string, Position>();
  readonly #waiters = new Set<Waiter>();
  readonly #pollIntervalMs: number;

  constructor(knex: Knex, pollIntervalMs = 50) {
    this.#knex = knex;
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** Called by local runners after each committed batch. */
  advanced(name: string, position: Position): void {
    this.#local.set(name, position);
    for (const waiter of this.#waiters) {
      if (waiter.name === name && comparePositions(position, waiter.position) >= 0) waiter.resolve();
    }
  }

  async #reached(name: string, position: Position): Promise<boolean> {
    const local = this.#local.get(name);
    if (local && comparePositions(local, position) >= 0) return true;
    const row = await readCheckpoint(this.#knex, name);
    return row !== undefined && comparePositions(rowPosition(row), position) >= 0;
  }

  /** Resolves true once every named projection reached `position`, false after `timeoutMs`. */
  async waitFor(names: readonly string[], position: Position, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (const name of names) {
      while (!(await this.#reached(name, position))) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) return false;
        await new Promise<void>((resolve) => {
          const waiter: Waiter = { name, position, resolve: () => done() };
          const timer = setTimeout(() => done(), Math.min(remaining, this.#pollIntervalMs));
          const done = () => {
            clearTimeout(timer);
            this.#waiters.delete(waiter);
            resolve();
          };
          this.#waiters.add(waiter);
        });
      }
    }
    return true;
  }
}
