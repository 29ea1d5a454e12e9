// The one command pipeline every module uses: load a stream, fold it with `evolve`, `decide`,
// append the decision with the event metadata (optimistic concurrency on the stream's revision),
// wait for the read models (read-your-writes), answer. A concurrent writer's conflict is retried
// on fresh state under one policy, so a command without If-Match never loses an update and one
// with If-Match is refused by its decider (version_mismatch) once it sees the newer state.
// Personal data is sealed before the append and opened after reading (crypto-shredding hooks).
import type { CommandCause } from '../eventstore/metadata.ts';
import { eventMetadata } from '../eventstore/metadata.ts';
import type { EventData, EventStore, ExpectedRevision, Position } from '../eventstore/port.ts';
import { StreamConflictError } from '../eventstore/port.ts';
import { assertStorableEvent } from '../text.ts';
import { DomainError, type Decision } from './decision.ts';

/** A module's event as its events.ts types it: `{ type, data }`. */
export interface DomainEvent {
  readonly type: string;
  readonly data: EventData;
}

export interface Decider<Command, State, Event> {
  readonly decide: (command: Command, state: State) => Decision<Event>;
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

/** How a module's events are read back from the store and written to it. */
export interface EventCodec<Event extends DomainEvent> {
  /** The module's own event types; other types in a stream are passed over. */
  readonly isType: (type: string) => boolean;
  /** Validates the stored data (after upcasting) into the module's event. */
  readonly parse: (type: Event['type'], data: unknown) => Event;
  readonly schemaVersions: Readonly<Record<Event['type'], number>>;
  /** Opens sealed personal data after reading (crypto-shredding). */
  readonly open?: (event: Event) => Promise<Event>;
  /** Seals personal data before appending. */
  readonly seal?: (event: Event) => Promise<Event>;
  /**
   * Where an event goes when a decision may span streams (a login starts a session): the handled
   * stream's events are appended first, under its expected revision; the others after, to their
   * own streams. Without it, every event goes to the handled stream.
   */
  readonly streamOf?: (event: Event) => string;
}

export interface RetryPolicy {
  readonly attempts: number;
  /** Pause before the given (1-based) retry; jittered so racers spread out. */
  readonly delayMs: (attempt: number) => number;
}

/** Enough for dozens of writers racing on one stream; each retry re-decides on fresh state. */
export const conflictRetry: RetryPolicy = {
  attempts: 50,
  delayMs: (attempt) => Math.random() * Math.min(50, attempt * 5),
};

export interface CommandHandlerDeps {
  readonly store: EventStore;
  /** Read-your-writes: resolves (true when caught up) once the read models reached the position. */
  readonly waitForReadModels: (position: Position) => Promise<boolean>;
  readonly now?: () => Date;
  readonly retry?: RetryPolicy;
  /** After every append, e.g. to evict caches the events make stale. */
  readonly onAppended?: (streamId: string, events: readonly DomainEvent[], position: Position) => void;
}

/** A folded stream: its state and what to pass as expected revision for the next append. */
export interface Loaded<State> {
  readonly state: State;
  readonly expected: ExpectedRevision;
}

export interface Handled<State, Event> extends Loaded<State> {
  /** The events appended (none when the decision changed nothing). */
  readonly events: readonly Event[];
  readonly position: Position | undefined;
}

export interface HandleOptions<State> {
  /** The stream as the caller just loaded or appended it (saves a read; a conflict reloads). */
  readonly known?: Loaded<State>;
  /** Wait for the read models (default true); a caller with a later append may wait once for both. */
  readonly wait?: boolean;
}

/** A command, or a function of the current state giving one (e.g. after checking a password hash). */
export type CommandOf<Command, State> = Command | ((state: State) => Command | Promise<Command>);

export class CommandHandler<Command, State, Event extends DomainEvent> {
  readonly #deps: CommandHandlerDeps;
  readonly #decider: Decider<Command, State, Event>;
  readonly #codec: EventCodec<Event>;
  readonly #now: () => Date;

  constructor(deps: CommandHandlerDeps, decider: Decider<Command, State, Event>, codec: EventCodec<Event>) {
    this.#deps = deps;
    this.#decider = decider;
    this.#codec = codec;
    this.#now = deps.now ?? (() => new Date());
  }

  async load(streamId: string): Promise<Loaded<State>> {
    const recorded = await this.#deps.store.readStream(streamId);
    let state = this.#decider.initialState();
    for (const r of recorded) {
      if (!this.#codec.isType(r.type)) continue;
      const event = this.#codec.parse(r.type, r.data);
      state = this.#decider.evolve(state, this.#codec.open ? await this.#codec.open(event) : event);
    }
    const last = recorded.at(-1);
    return { state, expected: last === undefined ? 'no_stream' : last.revision };
  }

  /** Decides on the stream's state and appends the decision; throws DomainError on a refusal. */
  async handle(
    streamId: string,
    command: CommandOf<Command, State>,
    cause: CommandCause,
    options: HandleOptions<State> = {},
  ): Promise<Handled<State, Event>> {
    const retry = this.#deps.retry ?? conflictRetry;
    let known = options.known;
    for (let attempt = 1; ; attempt++) {
      const loaded = known ?? (await this.load(streamId));
      known = undefined;
      const decision = this.#decider.decide(
        typeof command === 'function'
          ? await (command as (s: State) => Command | Promise<Command>)(loaded.state)
          : command,
        loaded.state,
      );
      try {
        return await this.#commit(streamId, decision, loaded, cause, options.wait ?? true);
      } catch (error) {
        if (!(error instanceof StreamConflictError) || attempt >= retry.attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, retry.delayMs(attempt)));
      }
    }
  }

  /**
   * The same command on each stream (a fan-out, e.g. every open session of a user revoked), without
   * waiting for the read models: a refusal means that stream needs nothing (done already) and is
   * passed over. The position of the last append, for the caller to wait for once.
   */
  async handleEach(
    streamIds: Iterable<string>,
    command: CommandOf<Command, State>,
    cause: CommandCause,
  ): Promise<Position | undefined> {
    let last: Position | undefined;
    for (const streamId of streamIds) {
      try {
        last = (await this.handle(streamId, command, cause, { wait: false })).position ?? last;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
      }
    }
    return last;
  }

  /**
   * An append that may lose a race without it being an error: undefined when the stream is not at
   * `expected` (a "no_stream" append to a stream that exists: recorded already, or taken).
   */
  async tryAppend(
    streamId: string,
    events: readonly Event[],
    cause: CommandCause,
    expected: ExpectedRevision,
  ): Promise<{ position: Position; nextExpectedRevision: number } | undefined> {
    try {
      return await this.append(streamId, events, cause, expected);
    } catch (error) {
      if (error instanceof StreamConflictError) return undefined;
      throw error;
    }
  }

  async #commit(
    streamId: string,
    decision: Decision<Event>,
    loaded: Loaded<State>,
    cause: CommandCause,
    wait: boolean,
  ): Promise<Handled<State, Event>> {
    let handled: Handled<State, Event> = { ...loaded, events: [], position: undefined };
    if (decision.events.length > 0) {
      const result = await this.#appendDecision(streamId, decision.events, cause, loaded.expected);
      if (wait) await this.#deps.waitForReadModels(result.position);
      handled = {
        state: decision.events.reduce(this.#decider.evolve, loaded.state),
        expected: result.nextExpectedRevision,
        events: decision.events,
        position: result.position,
      };
    }
    if (!decision.ok) throw new DomainError(decision.error);
    return handled;
  }

  /** The handled stream's events first (a conflict there leaves nothing appended), then the others'. */
  async #appendDecision(
    streamId: string,
    events: readonly Event[],
    cause: CommandCause,
    expected: ExpectedRevision,
  ): Promise<{ position: Position; nextExpectedRevision: ExpectedRevision }> {
    const streamOf = this.#codec.streamOf;
    if (!streamOf) return this.append(streamId, events, cause, expected);
    const others = new Map<string, Event[]>();
    for (const event of events) {
      const target = streamOf(event);
      if (target !== streamId) others.set(target, [...(others.get(target) ?? []), event]);
    }
    const own = events.filter((event) => streamOf(event) === streamId);
    let result: { position: Position; nextExpectedRevision: ExpectedRevision } | undefined =
      own.length > 0 ? await this.append(streamId, own, cause, expected) : undefined;
    const nextExpectedRevision = result?.nextExpectedRevision ?? expected;
    for (const [target, targetEvents] of others) result = await this.append(target, targetEvents, cause, 'any');
    return { position: result!.position, nextExpectedRevision };
  }

  /**
   * Appends events to a stream as one atomic write, sealed and with the cause's metadata. In depth,
   * each event must hold only text a read model can store and, as appended, match its schema;
   * otherwise nothing is appended (the edge should have refused the input already).
   */
  async append(
    streamId: string,
    events: readonly Event[],
    cause: CommandCause,
    expected: ExpectedRevision,
  ): Promise<{ position: Position; nextExpectedRevision: number }> {
    const at = this.#now();
    const stored = await Promise.all(
      events.map(async (event) => {
        const metadata = eventMetadata(cause, this.#codec.schemaVersions[event.type as Event['type']], at);
        assertStorableEvent(event.type, event.data, metadata);
        const sealed = this.#codec.seal ? await this.#codec.seal(event) : event;
        this.#codec.parse(sealed.type, sealed.data);
        return { type: sealed.type, data: sealed.data, metadata };
      }),
    );
    const result = await this.#deps.store.append(streamId, stored, { expectedRevision: expected });
    this.#deps.onAppended?.(streamId, events, result.position);
    return result;
  }
}
