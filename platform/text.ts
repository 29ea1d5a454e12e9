// Text hygiene (API.md, Conventions): what text the service accepts, at the edge and in depth.
//   - At the edge (bodies, query strings, path segments, text headers): no U+0000, no other C0
//     control character except tab, newline and carriage return, no lone UTF-16 surrogate.
//   - In events (assertStorableEvent, before every append): no U+0000 and no lone surrogate —
//     what PostgreSQL text and jsonb cannot hold. Other controls stay allowed there (events from
//     before hold them, and every read model stores them).
//   - Projections make text they did not validate (sealed personal data, opened) storable.
//   - Dates and timestamps lie between the years 1900 and 9999.
import { z } from 'zod';

/** C0 controls other than tab (U+0009), newline (U+000A) and carriage return (U+000D). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
/** Any character that may be refused (a surrogate may still be half of a pair): a cheap first look. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const SUSPECT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF]/;
// eslint-disable-next-line no-control-regex -- finding U+0000 is the point
const UNSTORABLE_SUSPECT = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const hex = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

/** Why a string is refused at the edge, or undefined when it is acceptable text. */
export function textProblem(value: string): string | undefined {
  if (!SUSPECT.test(value)) return undefined;
  const control = CONTROL.exec(value);
  if (control) {
    return control[0] === '\u0000'
      ? 'must not contain U+0000'
      : `must not contain the control character ${hex(control[0])} (only tab, newline and carriage return are allowed)`;
  }
  if (!value.isWellFormed()) return 'must not contain a lone UTF-16 surrogate';
  return undefined;
}

const isSuspectText = (text: string) => SUSPECT.test(text) && textProblem(text) !== undefined;

/** The value with refused characters shown as \uXXXX, for naming a field in an error. */
export function printable(value: string): string {
  if (textProblem(value) === undefined) return value;
  let out = '';
  // By code point: a well-formed surrogate pair comes as one character, a lone surrogate alone.
  for (const c of value) {
    const code = c.codePointAt(0)!;
    const refused = (code < 0x20 && c !== '\t' && c !== '\n' && c !== '\r') || (code >= 0xd800 && code <= 0xdfff);
    out += refused ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}

export interface TextError {
  readonly path: string;
  readonly message: string;
}

const MAX_TEXT_ERRORS = 20;

/**
 * Every string in a parsed JSON value, keys included, that `check` refuses (edge text by
 * default), with its dotted path (`items.0.name`; `root` for the value itself). Walks with its own
 * stack, so no nesting depth overflows it; stops after a few errors.
 */
export function unsafeTextIn(
  value: unknown,
  root = '(body)',
  check: (text: string) => string | undefined = textProblem,
): TextError[] {
  // Nearly every value is clean: find that out without building a path per node.
  const refused = check === textProblem ? isSuspectText : (text: string) => check(text) !== undefined;
  if (!someText(value, refused)) return [];
  const errors: TextError[] = [];
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
  while (stack.length > 0 && errors.length < MAX_TEXT_ERRORS) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      const problem = check(current);
      if (problem) errors.push({ path: path || root, message: problem });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: join(path, String(i)) });
    } else if (typeof current === 'object' && current !== null) {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        const problem = check(key);
        if (problem) errors.push({ path: join(path, printable(key)), message: `field name ${problem}` });
        else stack.push({ value: (current as Record<string, unknown>)[key], path: join(path, key) });
      }
    }
  }
  return errors;
}

/** Whether any string in a parsed JSON value, keys included, meets `test` (iteratively). */
function someText(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === 'string') return test(value);
  if (typeof value !== 'object' || value === null) return false;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const current = stack.pop()!;
    const array = Array.isArray(current);
    for (const key of Object.keys(current)) {
      if (!array && test(key)) return true;
      const item: unknown = (current as Record<string, unknown>)[key];
      if (typeof item === 'string') {
        if (test(item)) return true;
      } else if (typeof item === 'object' && item !== null) stack.push(item);
    }
  }
  return false;
}

/** What PostgreSQL can store: no U+0000 and no lone surrogate. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE_SUSPECT.test(value) || (!value.includes('\u0000') && value.isWellFormed());
}

/**
 * Text a read model can store, from text it did not validate (e.g. personal data opened from its
 * seal): U+0000 and lone surrogates become U+FFFD, the replacement character.
 */
export function storableText(value: string): string {
  if (isStorableText(value)) return value;
  return value.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
}

/** The same for a JSON text: its \u0000 escapes and lone-surrogate escapes replaced. */
export function storableJson(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify writes U+0000 and lone surrogates only as escapes. A match may be a false alarm
  // (an escaped backslash before "u0000"): then the slower path below changes nothing.
  if (!/\\u(?:0000|d[89a-f])/i.test(json)) return json;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? storableText(v) : v));
}

const storableProblem = (text: string) =>
  isStorableText(text) ? undefined : 'holds U+0000 or a lone UTF-16 surrogate';

/**
 * In depth, before an append: throws when an event holds text no read model could store (the edge
 * refuses it first). The error names the event type and the fields, never their content.
 */
export function assertStorableEvent(type: string, data: unknown, metadata?: unknown): void {
  const errors = unsafeTextIn({ data, metadata }, '(event)', storableProblem);
  if (errors.length === 0) return;
  throw new Error(`${type} not appended: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
}

// --- dates -------------------------------------------------------------------------------------

export const MIN_YEAR = 1900;
export const MAX_YEAR = 9999;
const yearInRange = (value: string) => {
  const year = Number(value.slice(0, 4));
  return year >= MIN_YEAR && year <= MAX_YEAR;
};
const rangeMessage = `must lie between the years ${MIN_YEAR} and ${MAX_YEAR}`;

/** YYYY-MM-DD, a real calendar date, in the years 1900–9999. */
export const isoDate = () => z.iso.date().refine(yearInRange, rangeMessage);

/** An ISO-8601 UTC timestamp (`Z`), in the years 1900–9999. */
export const isoDateTime = () => z.iso.datetime().refine(yearInRange, rangeMessage);
