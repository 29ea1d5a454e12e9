// The storage rules as pure functions: where a kind of unit may stand (nesting), what a unit's
// fields may hold, and the tissue rule (a tissue sample lives in a freezer).
import type { FieldError } from '../../platform/commands/decision.ts';
import {
  MAX_GRID_COLUMNS,
  MAX_GRID_ROWS,
  MAX_TEMPERATURE_C,
  MAX_UNIT_NAME_LENGTH,
  MIN_TEMPERATURE_C,
  type Grid,
  type UnitKind,
} from './events.ts';

/** Kinds that stand on their own: a freezer, refrigerator or cabinet is never inside another unit. */
export const topLevelKinds: readonly UnitKind[] = ['freezer', 'refrigerator', 'cabinet'];

/** The kinds a unit of each kind may be inside (none: top level only). */
export const allowedParents: Readonly<Record<UnitKind, readonly UnitKind[]>> = {
  freezer: [],
  refrigerator: [],
  cabinet: [],
  rack: topLevelKinds,
  shelf: topLevelKinds,
  box: [...topLevelKinds, 'rack', 'shelf'],
};

/** Why a unit of `kind` may not stand under a parent of `parentKind` (null: top level), or undefined. */
export function nestingProblem(kind: UnitKind, parentKind: UnitKind | null): string | undefined {
  const allowed = allowedParents[kind];
  if (parentKind === null) {
    return allowed.length === 0 ? undefined : `a ${kind} must be inside a ${allowed.join(', ')}`;
  }
  if (allowed.length === 0) return `a ${kind} stands on its own, not inside another unit`;
  return allowed.includes(parentKind) ? undefined : `a ${kind} cannot be inside a ${parentKind}`;
}

/** Trimmed name, 1–100 characters. */
export function nameProblem(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed.length === 0) return 'a name must not be blank';
  if (trimmed.length > MAX_UNIT_NAME_LENGTH) return `a name has at most ${MAX_UNIT_NAME_LENGTH} characters`;
  if (trimmed.includes(' / ')) return "a name must not contain ' / ' (it separates the parts of a path)";
  return undefined;
}

export function temperatureProblem(temperatureC: number | null): string | undefined {
  if (temperatureC === null) return undefined;
  if (!Number.isFinite(temperatureC) || temperatureC < MIN_TEMPERATURE_C || temperatureC > MAX_TEMPERATURE_C)
    return `a temperature is between ${MIN_TEMPERATURE_C} and ${MAX_TEMPERATURE_C} °C`;
  return undefined;
}

/** A box has a grid (rows A–Z, columns 1–30); nothing else has one. */
export function gridProblem(kind: UnitKind, grid: Grid | null): string | undefined {
  if (kind !== 'box') return grid === null ? undefined : 'only a box has a grid';
  if (grid === null) return 'a box needs a grid { rows, columns }';
  const ok = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  if (!ok(grid.rows, MAX_GRID_ROWS) || !ok(grid.columns, MAX_GRID_COLUMNS))
    return `a grid has 1–${MAX_GRID_ROWS} rows and 1–${MAX_GRID_COLUMNS} columns`;
  return undefined;
}

export interface NewUnitFields {
  readonly name: string;
  readonly kind: UnitKind;
  readonly grid: Grid | null;
  readonly temperatureC: number | null;
}

/** Every field rule a new unit breaks (one 422 lists them all). */
export function unitFieldErrors(fields: NewUnitFields): FieldError[] {
  const errors: FieldError[] = [];
  const add = (path: string, message: string | undefined) => {
    if (message) errors.push({ path, message });
  };
  add('name', nameProblem(fields.name));
  add('grid', gridProblem(fields.kind, fields.grid));
  add('temperatureC', temperatureProblem(fields.temperatureC));
  return errors;
}

/** A free-text storage location in a freezer (`freezer-<n>-row<X>`). */
export const isFreezerLocation = (storageLocation: string | null): boolean =>
  storageLocation !== null && /^freezer-\d+-row[A-Z]$/i.test(storageLocation);

export interface TissueRuleInput {
  readonly sampleType: string;
  /** The free-text location, used while the sample has no place. */
  readonly storageLocation: string | null;
  /** Kinds of the units above the sample's box (its place), when it has one. */
  readonly placeAncestorKinds?: readonly UnitKind[] | undefined;
}

/**
 * The tissue rule: a tissue sample must be in a freezer — by a box with a freezer among its
 * ancestors when placed, otherwise by its free-text location. Other types may be anywhere.
 */
export function tissueRuleHolds(input: TissueRuleInput): boolean {
  if (input.sampleType !== 'tissue') return true;
  if (input.placeAncestorKinds !== undefined) return input.placeAncestorKinds.includes('freezer');
  return isFreezerLocation(input.storageLocation);
}
