// What the engine may say about an error: the class of the error, never its message. A database
// error's message and detail can quote the value that broke the write (`invalid input syntax for
// type ... "<value>"`), and a projection's own error may quote an event's field; the status row,
// the logs and the traces must carry no event content. So an error becomes its SQLSTATE, the
// condition's name and the schema objects involved, or its JavaScript class and the code
// location it was thrown from.
import type { Position } from '../../platform/eventstore/port.ts';
import { formatPosition } from '../../platform/eventstore/port.ts';

export interface SafeError {
  /** e.g. `SQLSTATE 22P05 untranslatable_character (table "t", column "c")` or `TypeError at projections/x.ts:12:7`. */
  readonly text: string;
  /** The SQLSTATE, or a Node.js error code such as ECONNRESET. */
  readonly code: string | undefined;
  /** Gone on its own (connection lost, deadlock, shutdown): retried without counting against an event. */
  readonly transient: boolean;
}

const CONDITIONS: Record<string, string> = {
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '21000': 'cardinality_violation',
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '22021': 'character_not_in_repertoire',
  '22P02': 'invalid_text_representation',
  '22P05': 'untranslatable_character',
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '25P03': 'idle_in_transaction_session_timeout',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42703': 'undefined_column',
  '42P01': 'undefined_table',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '54000': 'program_limit_exceeded',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
};

const CLASSES: Record<string, string> = {
  '08': 'connection_exception',
  '22': 'data_exception',
  '23': 'integrity_constraint_violation',
  '25': 'invalid_transaction_state',
  '40': 'transaction_rollback',
  '42': 'syntax_error_or_access_rule_violation',
  '53': 'insufficient_resources',
  '54': 'program_limit_exceeded',
  '55': 'object_not_in_prerequisite_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  XX: 'internal_error',
};

/** SQLSTATE classes and codes that pass on their own; everything else may be the event's fault. */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
const TRANSIENT_CODES = new Set(['55P03', '25P03']);
const NOT_TRANSIENT_CODES = new Set(['57014']); // a statement timeout may be the event's doing (a huge value)
/** A dropped connection from node-postgres or knex has no SQLSTATE; these messages carry no data. */
const CONNECTION_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|Client was closed|Knex: Timeout acquiring)/;

const identifier = (value: unknown): string | undefined =>
  typeof value === 'string' && /^[\w$.]{1,128}$/.test(value) ? value : undefined;

interface PgLike {
  code?: unknown;
  table?: unknown;
  column?: unknown;
  constraint?: unknown;
  routine?: unknown;
}

function isSqlState(code: unknown): code is string {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** The first stack frame, as a path relative to the working directory (a code location, no data). */
function thrownAt(error: Error): string | undefined {
  const frame = error.stack?.split('\n').find((line) => line.trimStart().startsWith('at '));
  const location = frame ? /\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/.exec(frame)?.[1] : undefined;
  if (!location) return undefined;
  const cwd = `${process.cwd()}/`;
  return location.replace(/^file:\/\//, '').replace(cwd, '');
}

export function safeError(error: unknown): SafeError {
  if (error instanceof ReducedError) return error.reduced;
  if (error instanceof PoisonEventError || error instanceof SafeTextError) {
    return { text: error.message, code: error.code, transient: false };
  }
  const pgError = (typeof error === 'object' && error !== null ? error : {}) as PgLike;
  if (isSqlState(pgError.code)) {
    const code = pgError.code;
    const objects = (['table', 'column', 'constraint', 'routine'] as const)
      .map((field) => [field, identifier(pgError[field])] as const)
      .filter(([, value]) => value !== undefined)
      .map(([field, value]) => `${field} "${value}"`);
    const condition = CONDITIONS[code] ?? CLASSES[code.slice(0, 2)] ?? 'error';
    const text = `SQLSTATE ${code} ${condition}${objects.length > 0 ? ` (${objects.join(', ')})` : ''}`;
    const transient =
      !NOT_TRANSIENT_CODES.has(code) && (TRANSIENT_CLASSES.has(code.slice(0, 2)) || TRANSIENT_CODES.has(code));
    return { text, code, transient };
  }
  if (error instanceof Error) {
    const rawCode: unknown = (error as Error & { code?: unknown }).code;
    const nodeCode = typeof rawCode === 'string' && /^E[A-Z0-9_]{2,40}$/.test(rawCode) ? rawCode : undefined;
    const connection = CONNECTION_MESSAGES.test(error.message) || error.name === 'KnexTimeoutError';
    const name = /^\w{1,60}$/.test(error.name) ? error.name : 'Error';
    const at = thrownAt(error);
    const text = connection
      ? `${name}: ${error.message.slice(0, 80)}`
      : `${name}${nodeCode ? ` ${nodeCode}` : ''}${at ? ` at ${at}` : ''}`;
    return {
      text,
      code: nodeCode,
      transient:
        connection ||
        (nodeCode !== undefined && /^E(CONN|PIPE|TIMEDOUT|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH)/.test(nodeCode)),
    };
  }
  return { text: typeof error, code: undefined, transient: false };
}

/** An error whose message was built from safe parts only (it is shown as it is). */
export class SafeTextError extends Error {
  override readonly name: string = 'SafeTextError';
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** One event that a projection could not apply, after every attempt. Its message holds no content. */
export class PoisonEventError extends Error {
  override readonly name = 'PoisonEventError';
  readonly position: Position;
  readonly type: string;
  readonly attempts: number;
  /** The last attempt's error, reduced. */
  readonly error: SafeError;
  readonly code: string | undefined;
  constructor(event: { position: Position; type: string }, attempts: number, error: SafeError) {
    super(
      `event ${formatPosition(event.position)} (${event.type}) could not be applied ` +
        `after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${error.text}`,
    );
    this.position = event.position;
    this.type = event.type;
    this.attempts = attempts;
    this.error = error;
    this.code = error.code;
  }
}

/** An error replaced by its reduced form where it would be recorded as it is (a span's exception event). */
export class ReducedError extends Error {
  override readonly name = 'ProjectionApplyError';
  readonly reduced: SafeError;
  readonly code: string | undefined;
  constructor(original: unknown) {
    const reduced = safeError(original);
    super(reduced.text);
    this.reduced = reduced;
    this.code = reduced.code;
  }
}
