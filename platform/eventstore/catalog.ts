// A module's event catalog from its zod schemas: the type names, a type guard, a validating parse
// and each type's schema version, plus the union type of its events. It is the codec the command
// handler reads and writes a module's streams with.
import type { z } from 'zod';

type Schemas = Record<string, z.ZodType>;

/** `{ type, data }` for every event type of a catalog, as a discriminated union. */
export type EventsOf<S extends Schemas> = {
  [T in keyof S & string]: { readonly type: T; readonly data: z.infer<S[T]> };
}[keyof S & string];

/**
 * `versions` names the types whose current schema version (metadata.schemaVersion; older ones are
 * upcast on read) is past 1; every other type is at version 1.
 */
export function eventCatalog<S extends Schemas>(schemas: S, versions: Partial<Record<keyof S & string, number>> = {}) {
  type Type = keyof S & string;
  const types = Object.keys(schemas) as Type[];
  return {
    types,
    isType: (type: string): type is Type => Object.hasOwn(schemas, type),
    /** Validates an event read from the store (or about to be appended); throws a ZodError when it does not match. */
    parse: (type: Type, data: unknown): EventsOf<S> => ({ type, data: schemas[type]!.parse(data) }) as EventsOf<S>,
    schemaVersions: Object.fromEntries(types.map((type) => [type, versions[type] ?? 1])) as Readonly<
      Record<Type, number>
    >,
  };
}
