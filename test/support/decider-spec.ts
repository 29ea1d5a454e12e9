// given(events) / when(command) / then(events | error) for any module's decider.
//
//   const spec = deciderSpec(userDecider);
//   spec(t).given([registered]).when(deactivate).then([deactivated]);
//   spec(t).given([]).when(badRegister).thenFails({ code: 'validation_failed' });
//   spec(t).given([]).when(badRegister).thenInvalid(['email', 'username']);
//
// A decider's `decide` may return an event, an array of events, a decision object
// `{ ok: true, events } | { ok: false, error, events? }`, or throw a domain error:
// all four are normalised, so modules can pick the style that suits them.
import type { ExecutionContext } from 'ava';

export interface SpecDecider<State, Command, Event, Result> {
  readonly decide: (command: Command, state: State) => Result;
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

type Outcome = { ok: true; events: readonly unknown[] } | { ok: false; error: unknown; events: readonly unknown[] };

function isDecisionObject(value: unknown): value is { ok: boolean; events?: readonly unknown[]; error?: unknown } {
  return typeof value === 'object' && value !== null && 'ok' in value && typeof value.ok === 'boolean';
}

function normalise(run: () => unknown): Outcome {
  let result: unknown;
  try {
    result = run();
  } catch (error) {
    return { ok: false, error, events: [] };
  }
  if (Array.isArray(result)) return { ok: true, events: result };
  if (isDecisionObject(result)) {
    return result.ok
      ? { ok: true, events: result.events ?? [] }
      : { ok: false, error: result.error, events: result.events ?? [] };
  }
  return { ok: true, events: result === undefined ? [] : [result] };
}

export interface Then<Event> {
  /** The command succeeds and produces exactly these events (deep equality, in order). */
  then(expected: readonly Event[]): void;
  /**
   * The command fails with an error that matches `expected` (t.like: listed fields only) and
   * produces exactly `events` (default none: a refused command usually records nothing).
   */
  thenFails(expected: Record<string, unknown>, events?: readonly Event[]): void;
  /** The command is refused as validation_failed listing exactly these field paths (any order, repeats kept). */
  thenInvalid(paths: readonly string[]): void;
  /** The raw normalised outcome, for assertions the others do not cover. */
  outcome(): Outcome;
}

export function deciderSpec<State, Command, Event, Result>(decider: SpecDecider<State, Command, Event, Result>) {
  return (t: ExecutionContext) => ({
    given(events: readonly Event[]) {
      return {
        when(command: Command): Then<unknown> {
          const state = events.reduce((s, e) => decider.evolve(s, e), decider.initialState());
          const outcome = normalise(() => decider.decide(command, state));
          return {
            then(expected) {
              if (!outcome.ok) t.fail(`expected success, got error ${JSON.stringify(outcome.error)}`);
              else t.deepEqual(outcome.events, expected);
            },
            thenFails(expected, expectedEvents = []) {
              if (outcome.ok) {
                t.fail(
                  `expected an error like ${JSON.stringify(expected)}, got events ${JSON.stringify(outcome.events)}`,
                );
                return;
              }
              t.like(outcome.error, expected);
              t.deepEqual(outcome.events, expectedEvents);
            },
            thenInvalid(paths) {
              if (outcome.ok) return t.fail(`expected validation_failed, got events ${JSON.stringify(outcome.events)}`);
              const error = outcome.error as { code?: string; errors?: { path: string }[] };
              t.is(error.code, 'validation_failed');
              t.deepEqual((error.errors ?? []).map((e) => e.path).sort(), [...paths].sort());
            },
            outcome: () => outcome,
          };
        },
      };
    },
  });
}

/** The fixed clock of the decider specs: commands carry `now`, events record `at`. */
export const now = new Date('2026-11-22T10:00:00Z');
export const at = now.toISOString();

type Ids<N extends number, Acc extends string[] = []> = Acc['length'] extends N ? Acc : Ids<N, [...Acc, string]>;

/** `count` (1 to 9) distinct, fixed, valid v4 UUIDs (1111…, 2222…, …), to name a spec's actors and aggregates. */
export function fixedIds<N extends number>(count: N): Ids<N> {
  return Array.from({ length: count }, (_, i) => {
    const d = String(i + 1);
    return `${d.repeat(8)}-${d.repeat(4)}-4${d.repeat(3)}-8${d.repeat(3)}-${d.repeat(12)}`;
  }) as Ids<N>;
}

/** A builder of one command or event type: its fixed defaults, overridden field by field. */
export function builderOf<Union extends { type: string; data: object }>() {
  return <Type extends Union['type']>(type: Type, defaults: Extract<Union, { type: Type }>['data']) =>
    (overrides: Partial<Extract<Union, { type: Type }>['data']> = {}): Union =>
      ({ type, data: { ...defaults, ...overrides } }) as unknown as Union;
}
