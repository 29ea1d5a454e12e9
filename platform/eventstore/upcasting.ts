// Old schema versions of an event are upcast on read, never rewritten in the store.
import type { EventData } from './port.ts';

export type Upcaster = (data: EventData) => EventData;

export class UpcasterRegistry {
  readonly #byKey = new Map<string, Upcaster>();

  /** Registers the step from `fromVersion` to `fromVersion + 1` of `type`. */
  register(type: string, fromVersion: number, upcast: Upcaster): this {
    const key = `${type}@${fromVersion}`;
    if (this.#byKey.has(key)) throw new Error(`upcaster ${key} registered twice`);
    this.#byKey.set(key, upcast);
    return this;
  }

  /** Applies every registered step in order until no further step exists. */
  upcast(type: string, schemaVersion: number, data: EventData): { data: EventData; schemaVersion: number } {
    let version = schemaVersion;
    let current = data;
    for (let step = this.#byKey.get(`${type}@${version}`); step; step = this.#byKey.get(`${type}@${version}`)) {
      current = step(current);
      version += 1;
    }
    return { data: current, schemaVersion: version };
  }
}
