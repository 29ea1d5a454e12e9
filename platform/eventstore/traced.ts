// The event store with telemetry: a span per append (stream, event types, count) whose W3C
// traceparent replaces the one in each event's metadata, so the projection that applies the event
// later can link to exactly this append; and a count of appended events per type.
import { SpanKind } from '@opentelemetry/api';
import { currentTraceparent, inSpan, meter } from '../telemetry.ts';
import type { EventStore, NewEvent } from './port.ts';

export function tracedEventStore(store: EventStore): EventStore {
  const appended = meter().createCounter('vialog.events.appended', { description: 'Events appended, by type' });
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'append') {
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      const append: EventStore['append'] = (streamId, events, options) =>
        inSpan(
          'eventstore.append',
          {
            kind: SpanKind.CLIENT,
            attributes: {
              'vialog.stream_id': streamId,
              'vialog.event_types': [...new Set(events.map((e) => e.type))],
              'vialog.event_count': events.length,
              'vialog.request_id': events[0]?.metadata.requestId ?? '',
            },
          },
          async () => {
            const traceparent = currentTraceparent();
            const traced: NewEvent[] = traceparent
              ? events.map((e) => ({ ...e, metadata: { ...e.metadata, traceparent } }))
              : [...events];
            const result = await target.append(streamId, traced, options);
            for (const e of events) appended.add(1, { type: e.type });
            return result;
          },
        );
      return append;
    },
  });
}
