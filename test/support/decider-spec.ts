// given(events) / when(command) / then(events | error) for any module's decider.
//
//   const spec = deciderSpec(userDecider);
//   spec(t).given([registered]).when(deactivate).then([deactivated]);
//   spec(t).given([]).when(badRegister).thenFails({ code: 'validation_failed' });
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
  /** The raw normalised outcome, for assertions the two above do not cover. */
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
            outcome: () => outcome,
          };
        },
      };
    },
  });
}
