// Idempotency-Key on POST commands (Postgres table idempotency_keys, per user and route):
// - the first request claims the key (a row 'in_progress'), runs, and its 2xx answer is kept for
//   IDEMPOTENCY_TTL_HOURS; a failed attempt releases the key so it can be retried;
// - a repeat with the same request gets the kept answer (header Idempotent-Replayed: true) and runs
//   nothing; another request (body, query or route parameters) under the same key is 422
//   idempotency_key_reused;
// - a repeat while the first still runs waits briefly for its answer, then gets 409
//   idempotency_request_in_progress. A claim left by a crashed process lapses after a lease.
// The scope is the route the router will run (method and pattern, e.g. `POST /api/v1/samples`),
// not the raw path: `/SAMPLES` and `/samples/` are the same route and so the same key.
// Without a signed-in caller (ctx.state.auth) the header is ignored: keys are scoped per user.
//
// No secret is ever kept: a route whose answer holds one (a new API key) is marked with
// answerHoldsSecret: its first answer is not stored, and a repeat runs nothing and gets 409
// idempotency_answer_withheld. Routes marked with ignoresIdempotencyKey (login, refresh: each
// call is a new session or a rotation, whose tokens must never come from storage) never touch the
// table. A user's rows are purged when the account is erased (purgeIdempotencyKeysOf).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Context, Middleware, Next } from 'koa';
import { HttpProblem } from './problem.ts';
import { matchedRoute } from './route-match.ts';
import type { AppState } from './state.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,128}$/; // visible ASCII, ≤ 128
const REPLAYED_HEADERS = ['location', 'etag', 'content-type'];

export interface IdempotencyOptions {
  /** How long a repeat waits for the first request's answer before 409 (default 2000 ms). */
  readonly waitMs?: number;
  /** After this long an 'in_progress' claim is considered abandoned (crash) and can be taken over (default 300 s). */
  readonly leaseSeconds?: number;
  /** Expired rows are deleted lazily, at most this often per process (default 10 min). */
  readonly purgeEveryMs?: number;
}

interface StoredAnswer {
  request_hash: string;
  state: 'in_progress' | 'completed';
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: unknown;
}

/**
 * JSON with sorted keys, so that the same body hashes the same whatever its key order. Written
 * without recursion: a deeply nested body (tens of thousands of levels fit in the body limit)
 * must not overflow the stack.
 */
export function canonicalJson(root: unknown): string {
  const out: string[] = [];
  // Work to do, last first: a value to write ({ value }) or text to emit as it is.
  const todo: ({ value: unknown } | string)[] = [{ value: root }];
  while (todo.length > 0) {
    const item = todo.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const value = item.value;
    if (Array.isArray(value)) {
      todo.push(']');
      for (let i = value.length - 1; i >= 0; i--) todo.push({ value: value[i] }, ...(i > 0 ? [','] : []));
      todo.push('[');
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      todo.push('}');
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        todo.push({ value: v }, `${i > 0 ? ',' : ''}${JSON.stringify(k)}:`);
      }
      todo.push('{');
    } else {
      out.push(JSON.stringify(value ?? null));
    }
  }
  return out.join('');
}

/** SHA-256 of what makes two requests to one route the same: query string, body and route parameters. */
export function requestHash(ctx: Context, params: Readonly<Record<string, string>> = {}): string {
  const hash = createHash('sha256').update(ctx.querystring).update('\n');
  hash.update(canonicalJson(ctx.request.body ?? null));
  if (Object.keys(params).length > 0) hash.update('\n').update(canonicalJson(params));
  return hash.digest('hex');
}

type RouteMarker = 'ignore' | 'secret';
const markers = new WeakMap<object, RouteMarker>();

/** Marks a route handler whose answer holds a secret: never stored; a repeat gets 409 idempotency_answer_withheld. */
export function answerHoldsSecret<H extends object>(handler: H): H {
  markers.set(handler, 'secret');
  return handler;
}

/** Marks a route handler that is not an idempotent command (login, refresh): Idempotency-Key is ignored there. */
export function ignoresIdempotencyKey<H extends object>(handler: H): H {
  markers.set(handler, 'ignore');
  return handler;
}

const markerOf = (handlers: readonly unknown[]): RouteMarker | undefined => {
  for (const h of handlers) {
    const marker = typeof h === 'function' ? markers.get(h) : undefined;
    if (marker) return marker;
  }
  return undefined;
};

const withheld = () =>
  new HttpProblem(
    409,
    'idempotency_answer_withheld',
    'The first request with this Idempotency-Key succeeded; its answer held a secret, which is shown only once ' +
      'and never kept. Look the result up instead of repeating the request.',
  );

/** Only plain JSON answers can be replayed; streams (SSE) and buffers are answered once. */
function storableBody(body: unknown): boolean {
  return !(body instanceof Readable || Buffer.isBuffer(body) || body instanceof Uint8Array);
}

export function idempotencyMiddleware(knex: Knex, ttlHours: number, options: IdempotencyOptions = {}): Middleware {
  const waitMs = options.waitMs ?? 2_000;
  const leaseSeconds = options.leaseSeconds ?? 300;
  const purgeEveryMs = options.purgeEveryMs ?? 10 * 60_000;
  let lastPurge = 0;

  const claimOrReplay = async (ctx: Context, next: Next): Promise<void> => {
    const key = ctx.get('idempotency-key');
    const state = ctx.state as AppState;
    if (key === '' || !state.auth) {
      await next();
      return;
    }
    if (!KEY_PATTERN.test(key)) {
      throw new HttpProblem(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–128 visible ASCII characters.', {
        errors: [{ path: 'Idempotency-Key', message: '1–128 visible ASCII characters' }],
      });
    }
    if (Date.now() - lastPurge > purgeEveryMs) {
      lastPurge = Date.now();
      void purgeExpiredIdempotencyKeys(knex).catch((error: unknown) =>
        state.log.warn({ err: error }, 'purging expired idempotency keys failed'),
      );
    }
    const route = matchedRoute(ctx);
    const marker = route ? markerOf(route.handlers) : undefined;
    if (!route || marker === 'ignore') {
      await next(); // no route (404, 405), or not a command a key applies to
      return;
    }
    const owner = state.auth.userId;
    const scopedKey = `${route.method} ${route.pattern} ${key}`;
    const hash = requestHash(ctx, route.params);

    // Claim the key: insert, or take over a row that expired or whose claim was abandoned.
    const claimed = await knex.raw<{ rows: unknown[] }>(
      `INSERT INTO idempotency_keys (owner_id, key, request_hash, state, expires_at)
       VALUES (?, ?, ?, 'in_progress', now() + make_interval(hours => ?))
       ON CONFLICT (owner_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'in_progress',
         created_at = now(), expires_at = EXCLUDED.expires_at, response_status = NULL, response_headers = NULL, response_body = NULL
       WHERE idempotency_keys.expires_at < now()
          OR (idempotency_keys.state = 'in_progress' AND idempotency_keys.created_at < now() - make_interval(secs => ?))
       RETURNING 1`,
      [owner, scopedKey, hash, ttlHours, leaseSeconds],
    );

    if (claimed.rows.length === 0) {
      replay(ctx, await waitForAnswer(knex, owner, scopedKey, hash, waitMs), marker);
      return;
    }
    let kept = false;
    try {
      await next();
      kept = await keep(ctx, owner, scopedKey, marker);
    } finally {
      // Only successes are kept, so a failed attempt can be retried with the same key.
      if (!kept) {
        await knex('idempotency_keys')
          .where({ owner_id: owner, key: scopedKey, state: 'in_progress' })
          .delete()
          .catch((error: unknown) => state.log.warn({ err: error }, 'releasing the idempotency key failed'));
      }
    }
  };

  /** Stores a 2xx answer under the claimed key; false when there is nothing to keep or storing failed. */
  const keep = async (
    ctx: Context,
    owner: string,
    scopedKey: string,
    marker: RouteMarker | undefined,
  ): Promise<boolean> => {
    if (ctx.status < 200 || ctx.status >= 300 || !storableBody(ctx.body)) return false;
    // An answer with a secret: only that the request succeeded is kept, never what it answered.
    const secret = marker === 'secret';
    const replayed = REPLAYED_HEADERS.filter((h) => ctx.response.get(h)).map((h): [string, string] => [
      h,
      ctx.response.get(h),
    ]);
    try {
      await knex('idempotency_keys')
        .where({ owner_id: owner, key: scopedKey })
        .update({
          state: 'completed',
          response_status: ctx.status,
          response_headers: secret ? {} : Object.fromEntries(replayed),
          response_body: secret ? null : JSON.stringify(ctx.body ?? null),
        });
      return true;
    } catch (error) {
      // The command did run: answer it; only a retry will run it again.
      (ctx.state as AppState).log.error({ err: error }, 'storing the idempotent answer failed');
      return false;
    }
  };
  // Only POSTs carry the key.
  return (ctx, next) => (ctx.method === 'POST' ? claimOrReplay(ctx, next) : next());
}

/** Answers a repeat from what the first request left: its answer, or why there is none to give. */
function replay(ctx: Context, stored: StoredAnswer | 'reused' | undefined, marker: RouteMarker | undefined): void {
  if (stored === 'reused')
    throw new HttpProblem(
      422,
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request.',
    );
  if (!stored) {
    throw new HttpProblem(
      409,
      'idempotency_request_in_progress',
      'A request with this Idempotency-Key is still being processed; retry shortly.',
      {
        headers: { 'Retry-After': '1' },
      },
    );
  }
  if (marker === 'secret') throw withheld();
  for (const [name, value] of Object.entries(stored.response_headers ?? {})) ctx.set(name, value);
  ctx.set('Idempotent-Replayed', 'true');
  ctx.status = stored.response_status ?? 200;
  if (stored.response_body !== null) ctx.body = stored.response_body;
}

async function waitForAnswer(
  knex: Knex,
  owner: string,
  key: string,
  hash: string,
  waitMs: number,
): Promise<StoredAnswer | 'reused' | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const row = await knex('idempotency_keys').where({ owner_id: owner, key }).first<StoredAnswer | undefined>();
    if (row && row.request_hash !== hash) return 'reused';
    if (row?.state === 'completed') return row;
    // No row: the first attempt failed and released the key; the client may simply retry.
    if (!row || Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Deletes every kept answer of one user (their account was erased); returns how many. */
export async function purgeIdempotencyKeysOf(knex: Knex, ownerId: string): Promise<number> {
  return knex('idempotency_keys').where('owner_id', ownerId).delete();
}

/** Deletes expired answers (also done lazily by the middleware); returns how many. */
export async function purgeExpiredIdempotencyKeys(knex: Knex): Promise<number> {
  return knex('idempotency_keys').where('expires_at', '<', knex.fn.now()).delete();
}
