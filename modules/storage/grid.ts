// A box's grid: slot names (`A1` … `H12`: row letter, column number) and their reading order
// (A1, A2, … A12, B1, …), as pure functions.
import type { Grid } from './events.ts';

const ROW_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export interface Slot {
  /** 0-based row (A = 0). */
  readonly row: number;
  /** 0-based column (1 = 0). */
  readonly column: number;
}

export const positionName = (slot: Slot): string => `${ROW_LETTERS[slot.row]}${slot.column + 1}`;

/** The slot a position names, or undefined when it is not a well-formed name inside the grid. */
export function parsePosition(position: string, grid: Grid): Slot | undefined {
  const match = /^([A-Z])([1-9][0-9]?)$/.exec(position);
  if (!match) return undefined;
  const row = ROW_LETTERS.indexOf(match[1]!);
  const column = Number(match[2]) - 1;
  if (row >= grid.rows || column >= grid.columns) return undefined;
  return { row, column };
}

export const isPositionIn = (position: string, grid: Grid): boolean => parsePosition(position, grid) !== undefined;

/** Index of a position in reading order (for sorting); the position must be in the grid. */
export const readingIndex = (slot: Slot, grid: Grid): number => slot.row * grid.columns + slot.column;

/** Every position of the grid in reading order. */
export function positionsInReadingOrder(grid: Grid): string[] {
  const names: string[] = [];
  for (let row = 0; row < grid.rows; row++)
    for (let column = 0; column < grid.columns; column++) names.push(positionName({ row, column }));
  return names;
}

export const capacityOf = (grid: Grid | null): number => (grid ? grid.rows * grid.columns : 0);

/** The free positions in reading order, at most `limit`. */
export function freePositions(grid: Grid, occupied: ReadonlySet<string>, limit = Infinity): string[] {
  const free: string[] = [];
  for (const position of positionsInReadingOrder(grid)) {
    if (free.length >= limit) break;
    if (!occupied.has(position)) free.push(position);
  }
  return free;
}
