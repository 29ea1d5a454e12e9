// Every module's upcasters of old event schema versions, applied by the event store on read
// (stored events are never rewritten).
import { UpcasterRegistry } from '../platform/eventstore/upcasting.ts';
import { sampleTypesBeforeLabs, upcastSampleEventV1 } from '../modules/samples/events.ts';

export function eventUpcasters(): UpcasterRegistry {
  const registry = new UpcasterRegistry();
  for (const type of sampleTypesBeforeLabs) registry.register(type, 1, upcastSampleEventV1);
  return registry;
}
