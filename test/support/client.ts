// A small client for HTTP tests that read as specifications:
//
//   const lee = asUser(svc.api, user);
//   const created = await lee.post('/samples', body, { idempotencyKey: 'k1' });
//   expectProblem(t, await lee.patch(`/samples/${id}`, { status: 'x' }, { ifMatch: 1 }), 422, 'validation_failed', ['status']);
//   t.deepEqual(await eventTypes(svc, `sample-${id}`), ['SampleRegistered']);
import type { ExecutionContext } from 'ava';
import { call, type Answer, type TestService, type TestUser } from './service.ts';

export interface CallOptions {
  /** Sent as If-Match: "<version>". */
  readonly ifMatch?: number;
  readonly idempotencyKey?: string;
  /** Sent as X-Change-Reason (URL-encoded). */
  readonly reason?: string;
  readonly headers?: Record<string, string>;
}

function headersOf(options: CallOptions): Record<string, string> {
  return {
    ...(options.ifMatch !== undefined ? { 'if-match': `"${options.ifMatch}"` } : {}),
    ...(options.idempotencyKey !== undefined ? { 'idempotency-key': options.idempotencyKey } : {}),
    ...(options.reason !== undefined ? { 'x-change-reason': encodeURIComponent(options.reason) } : {}),
    ...options.headers,
  };
}

/** The caller's requests, authenticated with their access token (or an API key). */
export function asUser(api: string, who: Pick<TestUser, 'accessToken'> | { readonly apiKey: string }) {
  const credentials = 'apiKey' in who ? { apiKey: who.apiKey } : { token: who.accessToken };
  const send = (method: string, path: string, body: unknown, options: CallOptions) =>
    call(api, method, path, { ...credentials, ...(body !== undefined ? { body } : {}), headers: headersOf(options) });
  return {
    get: (path: string, options: CallOptions = {}): Promise<Answer> => send('GET', path, undefined, options),
    post: (path: string, body?: unknown, options: CallOptions = {}): Promise<Answer> =>
      send('POST', path, body ?? {}, options),
    put: (path: string, body: unknown, options: CallOptions = {}): Promise<Answer> => send('PUT', path, body, options),
    patch: (path: string, body: unknown, options: CallOptions = {}): Promise<Answer> =>
      send('PATCH', path, body, options),
    delete: (path: string, options: CallOptions = {}): Promise<Answer> => send('DELETE', path, undefined, options),
  };
}

export type Client = ReturnType<typeof asUser>;

/** The answer is a problem+json with this status and code (and, when given, exactly these error paths). */
export function expectProblem(
  t: ExecutionContext,
  answer: Answer,
  status: number,
  code: string,
  paths?: readonly string[],
): void {
  t.is(answer.status, status, `expected ${status} ${code}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  t.is(answer.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  t.like(answer.body, { status, code, type: `/problems/${code}` });
  if (paths)
    t.deepEqual(((answer.body.errors ?? []) as { path: string }[]).map((e) => e.path).sort(), [...paths].sort());
}

/** The types of the events in a stream, in order: what a command appended. */
export async function eventTypes(svc: TestService, streamId: string): Promise<string[]> {
  return (await svc.service.infrastructure.store.readStream(streamId)).map((e) => e.type);
}

/** The events of a stream, in order. */
export async function eventsOf(svc: TestService, streamId: string) {
  return svc.service.infrastructure.store.readStream(streamId);
}
