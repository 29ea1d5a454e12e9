// A module's event catalog from its zod schemas: the type names, a type guard and a validating
// parse, plus the union type of its events. Each module's events.ts keeps its own names for them.
import type { z } from 'zod';

type Schemas = Record<string, z.ZodType>;

/** `{ type, data }` for every event type of a catalog, as a discriminated union. */
export type EventsOf<S extends Schemas> = {
  [T in keyof S & string]: { readonly type: T; readonly data: z.infer<S[T]> };
}[keyof S & string];

export function eventCatalog<S extends Schemas>(schemas: S) {
  type Type = keyof S & string;
  return {
    types: Object.keys(schemas) as Type[],
    isType: (type: string): type is Type => Object.hasOwn(schemas, type),
    /** Validates an event read from the store (or about to be appended); throws a ZodError when it does not match. */
    parse: (type: Type, data: unknown): EventsOf<S> => ({ type, data: schemas[type]!.parse(data) }) as EventsOf<S>,
  };
}
