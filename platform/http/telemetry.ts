// One server span and one duration measurement per request (RED per route and status). The span
// continues an incoming W3C traceparent, carries the request id, and is the active context for
// everything the request does (appends, queries, provider calls), so their spans are its children.
import type { Middleware } from 'koa';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { meter, tracer } from '../telemetry.ts';
import { routePattern } from './route-match.ts';
import type { AppState } from './state.ts';

export function telemetryMiddleware(): Middleware {
  const duration = meter().createHistogram('http.server.request.duration', {
    description: 'Duration of HTTP requests, by method, route and status',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
  });
  return async (ctx, next) => {
    const started = performance.now();
    const state = ctx.state as AppState;
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = tracer().startSpan(ctx.method, { kind: SpanKind.SERVER }, parent);
    if (span.isRecording())
      span.setAttributes({
        'http.request.method': ctx.method,
        'url.path': ctx.path,
        'vialog.request_id': state.requestId,
      });
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = routePattern(ctx) ?? 'unmatched';
      if (span.isRecording()) {
        span.updateName(`${ctx.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': ctx.status });
        if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
      duration.record((performance.now() - started) / 1000, {
        'http.request.method': ctx.method,
        'http.route': route,
        'http.response.status_code': ctx.status,
      });
    }
  };
}
