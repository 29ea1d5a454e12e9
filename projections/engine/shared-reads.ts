// Rebuilds that start together read the log together. `rebuild --all` and a version bump of
// several projections replay the whole log once per projection; reading and parsing it was
// half of that work. Rebuilds of one engine that start
// within a short join window form a group: one pump reads each page once (the union of the
// members' event types) and every member takes its own events from it, in lockstep within a
// bounded buffer, so memory stays a few pages whatever the size of the log.
import { START, type EventStore, type Position, type RecordedEvent } from '../../platform/eventstore/port.ts';

export interface SharedPage {
  /** The member's own events of this stretch of the log. */
  readonly events: readonly RecordedEvent[];
  /** How far the log was read: the next page starts after it. */
  readonly scannedTo: Position | undefined;
  /** More may follow (a full page); false once the pump reached the head. */
  readonly more: boolean;
}

export interface SharedReadMember {
  /** The next page, or the error the read met. */
  next(): Promise<SharedPage>;
  /** Leaves the group (done, aborted or failed); the others go on without waiting for it. */
  leave(): void;
}

/** A page as the pump read it: every member's events (a member gets its own slice of it). */
type Page = SharedPage;

class Member implements SharedReadMember {
  /** Index of the next page this member needs. */
  index = 0;
  left = false;
  readonly #group: ReadGroup;
  readonly #types: ReadonlySet<string>;

  constructor(group: ReadGroup, types: readonly string[]) {
    this.#group = group;
    this.#types = new Set(types);
  }

  async next(): Promise<SharedPage> {
    const page = await this.#group.page(this);
    this.index += 1;
    this.#group.moved();
    return { events: page.events.filter((e) => this.#types.has(e.type)), scannedTo: page.scannedTo, more: page.more };
  }

  leave(): void {
    if (this.left) return;
    this.left = true;
    this.#group.moved();
  }
}

class ReadGroup {
  readonly members = new Set<Member>();
  /** Pages still needed by some member, by index. */
  readonly #pages = new Map<number, Page>();
  #nextToRead = 0;
  #reading = false;
  #ended = false;
  #error: Error | undefined;
  #waiters: (() => void)[] = [];
  readonly #types = new Set<string>();
  readonly #store: EventStore;
  readonly #pageSize: number;
  readonly #bufferPages: number;
  readonly opened: Promise<void>;
  /** Members joined until here; reading starts after it, so page 0 already has every member's types. */
  #joinClosed = false;
  /** Where the log has been read up to (undefined: nothing yet). */
  #scannedTo: Position | undefined;

  constructor(store: EventStore, pageSize: number, bufferPages: number, joinWindowMs: number) {
    this.#store = store;
    this.#pageSize = pageSize;
    this.#bufferPages = bufferPages;
    this.opened = new Promise((resolve) => setTimeout(resolve, joinWindowMs)).then(() => {
      this.#joinClosed = true;
    });
  }

  add(types: readonly string[]): Member {
    for (const type of types) this.#types.add(type);
    const member = new Member(this, types);
    this.members.add(member);
    return member;
  }

  async page(member: Member): Promise<Page> {
    await this.opened;
    for (;;) {
      const page = this.#pages.get(member.index);
      if (page) return page;
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended && member.index >= this.#nextToRead)
        throw new Error('the shared read ended: the previous page was the last');
      this.#pump();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** A member took a page or left: drop pages nobody needs any more, read further. */
  moved(): void {
    for (const m of this.members) if (m.left) this.members.delete(m);
    const lowest = Math.min(...[...this.members].map((m) => m.index));
    for (const index of this.#pages.keys()) if (index < lowest) this.#pages.delete(index);
    this.#pump();
  }

  #pump(): void {
    if (!this.#joinClosed || this.#reading || this.#ended || this.#error !== undefined || this.members.size === 0)
      return;
    const lowest = Math.min(...[...this.members].map((m) => m.index));
    // Bounded: the fastest member waits for the slowest once the buffer is full.
    if (this.#nextToRead - lowest >= this.#bufferPages) return;
    this.#reading = true;
    const index = this.#nextToRead;
    const after = this.#scannedTo ?? START;
    this.#store
      .readAll({ after, maxCount: this.#pageSize, eventTypes: [...this.#types] })
      .then(
        (events) => {
          const more = events.length === this.#pageSize;
          this.#scannedTo = events.at(-1)?.position ?? this.#scannedTo;
          this.#pages.set(index, { events, scannedTo: this.#scannedTo, more });
          this.#nextToRead = index + 1;
          if (!more) this.#ended = true;
        },
        (error: unknown) => {
          this.#error = error instanceof Error ? error : new Error(String(error));
        },
      )
      .finally(() => {
        this.#reading = false;
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const wake of waiters) wake();
        this.#pump(); // read ahead while members apply
      });
  }
}

/**
 * Groups the rebuild reads of one engine. A member joining within `joinWindowMs` of the group's
 * first member shares its reads; later ones start a new group.
 */
export class SharedReads {
  readonly #store: EventStore;
  readonly #pageSize: number;
  readonly #bufferPages: number;
  readonly #joinWindowMs: number;
  #open: ReadGroup | undefined;

  constructor(store: EventStore, options: { pageSize: number; bufferPages?: number; joinWindowMs: number }) {
    this.#store = store;
    this.#pageSize = options.pageSize;
    this.#bufferPages = options.bufferPages ?? 4;
    this.#joinWindowMs = options.joinWindowMs;
  }

  /** Joins the open group (or opens one) to read the whole log from the start. */
  join(eventTypes: readonly string[]): SharedReadMember {
    if (!this.#open) {
      const group = new ReadGroup(this.#store, this.#pageSize, this.#bufferPages, this.#joinWindowMs);
      this.#open = group;
      void group.opened.then(() => {
        if (this.#open === group) this.#open = undefined;
      });
    }
    return this.#open.add(eventTypes);
  }
}
