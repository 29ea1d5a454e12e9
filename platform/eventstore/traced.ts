// The event store with telemetry: a span per append (stream, event types, count) whose W3C
// traceparent replaces the one in each event's metadata, so the projection that applies the event
// later can link to exactly this append; and a count of appended events per type.
import { SpanKind } from '@opentelemetry/api';
import { currentTraceparent, inSpan, meter } from '../telemetry.ts';
import type { EventStore, NewEvent } from './port.ts';

export function tracedEventStore(store: EventStore): EventStore {
  const appended = meter().createCounter('vialog.events.appended', { description: 'Events appended, by type' });
  const withTraceparent = (events: readonly NewEvent[]): readonly NewEvent[] => {
    const traceparent = currentTraceparent();
    return traceparent ? events.map((e) => ({ ...e, metadata: { ...e.metadata, traceparent } })) : events;
  };
  const count = (events: readonly NewEvent[]) => {
    for (const e of events) appended.add(1, { type: e.type });
  };
  const append: EventStore['append'] = (streamId, events, options) =>
    inSpan('eventstore.append', spanOf(streamId, events), async () => {
      const result = await store.append(streamId, withTraceparent(events), options);
      count(events);
      return result;
    });
  const appendMany: EventStore['appendMany'] = (appends) => {
    const events = appends.flatMap((a) => a.events);
    const attributes = { ...spanOf('', events).attributes, 'vialog.stream_count': appends.length };
    return inSpan('eventstore.appendMany', { kind: SpanKind.CLIENT, attributes }, async () => {
      const results = await store.appendMany(appends.map((a) => ({ ...a, events: withTraceparent(a.events) })));
      count(events);
      return results;
    });
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append') return append;
      if (property === 'appendMany') return appendMany;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function spanOf(streamId: string, events: readonly NewEvent[]) {
  return {
    kind: SpanKind.CLIENT,
    attributes: {
      'vialog.stream_id': streamId,
      'vialog.event_types': [...new Set(events.map((e) => e.type))],
      'vialog.event_count': events.length,
      'vialog.request_id': events[0]?.metadata.requestId ?? '',
    },
  };
}
