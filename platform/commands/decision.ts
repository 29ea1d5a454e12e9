// What a pure decider answers, and the one error type every module's refusals become.
// A refusal may still carry events: a failed login or a replayed refresh token is refused AND
// recorded. The HTTP edge turns a DomainError into problem+json (platform/http/problem.ts).

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface Refusal {
  /** Stable machine-readable code, as in API.md (e.g. `invalid_transition`). */
  readonly code: string;
  /** Lower-case sentence, without a final full stop; the edge makes it the problem's detail. */
  readonly message: string;
  /** One entry per broken rule (validation_failed). */
  readonly errors?: readonly FieldError[];
  /** version_mismatch: the current version, so the client can re-read. */
  readonly currentVersion?: number;
  /** The HTTP status; when absent it comes from the code (standardErrorStatus, else 422). */
  readonly status?: number;
  /** Response headers that belong to this refusal (e.g. Retry-After of a quota). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type Decision<E> =
  | { readonly ok: true; readonly events: readonly E[] }
  | { readonly ok: false; readonly error: Refusal; readonly events: readonly E[] };

/** A command as a decider takes it: its type, and what it carries (ids, the actor, the time), read-only. */
export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Readonly<Data>;
}

/** The data of one type of command. */
export type CommandData<C extends Command, T extends C['type']> = Extract<C, { type: T }>['data'];

/** One function per command type, each given that command's data and the state. */
export type DecisionsByType<C extends Command, S, E> = {
  readonly [T in C['type']]: (data: CommandData<C, T>, state: S) => Decision<E>;
};

/** A decide function from one function per command type: the table a `switch` on the type spells out. */
export function decideByType<C extends Command, S, E>(decisions: DecisionsByType<C, S, E>) {
  const byType: Readonly<Record<string, (data: C['data'], state: S) => Decision<E>>> = decisions;
  return (command: C, state: S): Decision<E> => byType[command.type]!(command.data, state);
}

export const accept = <E>(...events: E[]): Decision<E> => ({ ok: true, events });

export const refuse = <E = never>(error: Refusal, events: readonly E[] = []): Decision<E> => ({
  ok: false,
  error,
  events,
});

/** Statuses of the codes every module shares; a module's own codes set `status` on the refusal. */
export const standardErrorStatus: Readonly<Record<string, number>> = {
  validation_failed: 422,
  invalid_transition: 422,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  version_mismatch: 412,
};

/** A refused command, thrown by the command handler (or by module code before a decision). */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  readonly code: string;
  readonly status: number;
  readonly errors: readonly FieldError[];
  readonly currentVersion: number | undefined;
  readonly headers: Readonly<Record<string, string>>;
  constructor(refusal: Refusal) {
    super(refusal.message);
    this.code = refusal.code;
    this.status = refusal.status ?? standardErrorStatus[refusal.code] ?? 422;
    this.errors = refusal.errors ?? [];
    this.currentVersion = refusal.currentVersion;
    this.headers = refusal.headers ?? {};
  }
}

/** Throws the refusal as a DomainError (for module code outside a decider). */
export function fail(refusal: Refusal): never {
  throw new DomainError(refusal);
}

/** The decision's events, or its refusal thrown (once its events, if any, are dealt with). */
export function eventsOrThrow<E>(decision: Decision<E>): readonly E[] {
  if (!decision.ok) throw new DomainError(decision.error);
  return decision.events;
}
