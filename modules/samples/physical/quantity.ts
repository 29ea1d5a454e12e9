// Amounts of material (API.md, Physical samples): `{ value > 0, unit }` with unit one of mL, uL,
// g, mg, ug, cells. Arithmetic runs on integers of a base unit per dimension (nanolitre,
// nanogram, cell), so converting and subtracting never drifts; a value finer than its unit's base
// (more than 6 decimals of mL, 3 of uL, …) is refused rather than rounded.
import { z } from 'zod';

export const units = ['mL', 'uL', 'g', 'mg', 'ug', 'cells'] as const;
export type Unit = (typeof units)[number];
export type Dimension = 'volume' | 'mass' | 'count';

export interface Quantity {
  readonly value: number;
  readonly unit: Unit;
}

/** An exact amount: a safe integer of its dimension's base unit. */
export interface Amount {
  readonly dimension: Dimension;
  readonly base: number;
}

const unitInfo: Readonly<Record<Unit, { dimension: Dimension; decimals: number }>> = {
  mL: { dimension: 'volume', decimals: 6 },
  uL: { dimension: 'volume', decimals: 3 },
  g: { dimension: 'mass', decimals: 9 },
  mg: { dimension: 'mass', decimals: 6 },
  ug: { dimension: 'mass', decimals: 3 },
  cells: { dimension: 'count', decimals: 0 },
};

export const quantitySchema = z.object({ value: z.number().positive().finite(), unit: z.enum(units) }).strict();

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

export const dimensionOf = (unit: Unit): Dimension => unitInfo[unit].dimension;
export const sameDimension = (a: Unit, b: Unit): boolean => dimensionOf(a) === dimensionOf(b);

/** Digits and exponent of a decimal text, e.g. "1.25e-3" → digits 125, exponent -5. */
function decimalParts(text: string): { digits: bigint; exponent: number } {
  const match = /^(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  if (!match) throw new QuantityError(`not a plain positive decimal: ${text}`);
  const fraction = match[2] ?? '';
  return { digits: BigInt(`${match[1]}${fraction}`), exponent: Number(match[3] ?? 0) - fraction.length };
}

function scaled(text: string, decimals: number, unit: Unit): number {
  const { digits, exponent } = decimalParts(text);
  const shift = exponent + decimals;
  let base: bigint;
  if (shift >= 0) base = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    if (digits % divisor !== 0n) throw new QuantityError(`${text} ${unit} is finer than ${unit} allows`);
    base = digits / divisor;
  }
  if (base > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(`${text} ${unit} is too large`);
  return Number(base);
}

/** The exact amount of a quantity; QuantityError when it is not positive, too fine or too large. */
export function toAmount(quantity: Quantity): Amount {
  const info = unitInfo[quantity.unit];
  if (!(quantity.value > 0) || !Number.isFinite(quantity.value)) throw new QuantityError('must be greater than 0');
  return { dimension: info.dimension, base: scaled(String(quantity.value), info.decimals, quantity.unit) };
}

/** The amount as text in `unit`, without exponent or trailing zeros ("0.25"). */
function baseToDecimalText(base: number, decimals: number): string {
  if (decimals === 0) return String(base);
  const padded = String(base).padStart(decimals + 1, '0');
  const whole = padded.slice(0, -decimals);
  const fraction = padded.slice(-decimals).replace(/0+$/, '');
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

/** The amount expressed in `unit` (of the same dimension); exact, since every unit divides the base. */
export function fromAmount(amount: Amount, unit: Unit): Quantity {
  const info = unitInfo[unit];
  if (info.dimension !== amount.dimension) throw new QuantityError(`${unit} does not measure ${amount.dimension}`);
  return { value: Number(baseToDecimalText(amount.base, info.decimals)), unit };
}

export function convert(quantity: Quantity, unit: Unit): Quantity {
  return fromAmount(toAmount(quantity), unit);
}

export function compare(a: Quantity, b: Quantity): number {
  const x = toAmount(a);
  const y = toAmount(b);
  if (x.dimension !== y.dimension) throw new QuantityError(`cannot compare ${a.unit} with ${b.unit}`);
  return Math.sign(x.base - y.base);
}

/** `quantity` taken `times` times (the amount of `count` aliquots). */
export function times(quantity: Quantity, count: number): Quantity {
  if (!Number.isSafeInteger(count) || count < 1) throw new QuantityError('count must be a positive integer');
  const amount = toAmount(quantity);
  const base = amount.base * count;
  if (!Number.isSafeInteger(base)) throw new QuantityError('too large');
  return fromAmount({ dimension: amount.dimension, base }, quantity.unit);
}

export type Remainder =
  | { readonly ok: true; readonly remaining: Quantity | null }
  | { readonly ok: false; readonly reason: 'insufficient' | 'dimension' };

/**
 * What is left of `remaining` after `taken`, in the unit of `remaining`; null when nothing is
 * left. Refused (not thrown) when more is taken than there is, or in another dimension.
 */
export function subtract(remaining: Quantity, taken: Quantity): Remainder {
  if (!sameDimension(remaining.unit, taken.unit)) return { ok: false, reason: 'dimension' };
  const left = toAmount(remaining).base - toAmount(taken).base;
  if (left < 0) return { ok: false, reason: 'insufficient' };
  if (left === 0) return { ok: true, remaining: null };
  return { ok: true, remaining: fromAmount({ dimension: dimensionOf(remaining.unit), base: left }, remaining.unit) };
}

const unitAliases: Readonly<Record<string, Unit>> = {
  ml: 'mL',
  ul: 'uL',
  µl: 'uL',
  μl: 'uL',
  g: 'g',
  mg: 'mg',
  ug: 'ug',
  µg: 'ug',
  μg: 'ug',
  cells: 'cells',
  cell: 'cells',
};

/** "1.5 mL", "250uL", "20 µg", "1e6 cells" → a quantity; QuantityError otherwise. */
export function parseQuantity(text: string): Quantity {
  const match = /^\s*([0-9.eE+-]+)\s*([a-zA-Zµμ]+)\s*$/.exec(text);
  const unit = match ? unitAliases[match[2]!.toLowerCase()] : undefined;
  if (!match || !unit) throw new QuantityError(`not a quantity: ${JSON.stringify(text)}`);
  const info = unitInfo[unit];
  const base = scaled(match[1]!, info.decimals, unit);
  if (base === 0) throw new QuantityError('must be greater than 0');
  return fromAmount({ dimension: info.dimension, base }, unit);
}

export function formatQuantity(quantity: Quantity): string {
  return `${baseToDecimalText(toAmount(quantity).base, unitInfo[quantity.unit].decimals)} ${quantity.unit}`;
}
