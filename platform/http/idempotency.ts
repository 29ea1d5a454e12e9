// Idempotency-Key on POST commands (Postgres table idempotency_keys, per user and method+path):
// - the first request claims the key (a row 'in_progress'), runs, and its 2xx answer is kept for
//   IDEMPOTENCY_TTL_HOURS; a failed attempt releases the key so it can be retried;
// - a repeat with the same body gets the kept answer (header Idempotent-Replayed: true) and runs
//   nothing; another body under the same key is 422 idempotency_key_reused;
// - a repeat while the first still runs waits briefly for its answer, then gets 409
//   idempotency_request_in_progress. A claim left by a crashed process lapses after a lease.
// Without a signed-in caller (ctx.state.auth) the header is ignored: keys are scoped per user.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Context, Middleware, Next } from 'koa';
import { HttpProblem } from './problem.ts';
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

/** JSON with sorted keys, so that the same body hashes the same whatever its key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function requestHash(ctx: Context): string {
  return createHash('sha256').update(ctx.querystring).update('\n').update(canonicalJson(ctx.request.body ?? null)).digest('hex');
}

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
      throw new HttpProblem(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–128 visible ASCII characters.', { errors: [{ path: 'Idempotency-Key', message: '1–128 visible ASCII characters' }] });
    }
    if (Date.now() - lastPurge > purgeEveryMs) {
      lastPurge = Date.now();
      void purgeExpiredIdempotencyKeys(knex).catch((error: unknown) => state.log.warn({ err: error }, 'purging expired idempotency keys failed'));
    }
    const owner = state.auth.userId;
    const scopedKey = `${ctx.method} ${ctx.path} ${key}`;
    const hash = requestHash(ctx);

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
      const stored = await waitForAnswer(knex, owner, scopedKey, hash, waitMs);
      if (stored === 'reused') throw new HttpProblem(422, 'idempotency_key_reused', 'This Idempotency-Key was already used with a different request.');
      if (!stored) throw new HttpProblem(409, 'idempotency_request_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', { headers: { 'Retry-After': '1' } });
      for (const [name, value] of Object.entries(stored.response_headers ?? {})) ctx.set(name, value);
      ctx.set('Idempotent-Replayed', 'true');
      ctx.status = stored.response_status ?? 200;
      if (stored.response_body !== null) ctx.body = stored.response_body;
      return;
    }

    let kept = false;
    try {
      await next();
      if (ctx.status >= 200 && ctx.status < 300 && storableBody(ctx.body)) {
        const headers = Object.fromEntries(REPLAYED_HEADERS.filter((h) => ctx.response.get(h)).map((h) => [h, ctx.response.get(h)]));
        try {
          await knex('idempotency_keys')
            .where({ owner_id: owner, key: scopedKey })
            .update({ state: 'completed', response_status: ctx.status, response_headers: headers, response_body: JSON.stringify(ctx.body ?? null) });
          kept = true;
        } catch (error) {
          // The command did run: answer it; only a retry will run it again.
          state.log.error({ err: error }, 'storing the idempotent answer failed');
        }
      }
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
  // Only POSTs carry the key; reads and other methods pass straight on (no async frame of their own).
  return (ctx, next) => (ctx.method === 'POST' ? claimOrReplay(ctx, next) : next());
}

async function waitForAnswer(knex: Knex, owner: string, key: string, hash: string, waitMs: number): Promise<StoredAnswer | 'reused' | undefined> {
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

/** Deletes expired answers (also done lazily by the middleware); returns how many. */
export async function purgeExpiredIdempotencyKeys(knex: Knex): Promise<number> {
  return knex('idempotency_keys').where('expires_at', '<', knex.fn.now()).delete();
}
