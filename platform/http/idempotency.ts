// Idempotency-Key on POST commands: the first 2xx answer is kept per user for a while (Postgres,
// table idempotency_keys); a retry with the same key and body gets that answer and runs nothing;
// the same key with another body is refused; a retry while the first is still running waits
// briefly and is told to try again if it is still running.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Middleware } from 'koa';
import { HttpProblem } from './problem.ts';
import type { AppState } from './state.ts';

const KEY = /^[\x21-\x7e]{1,128}$/;

interface StoredAnswer {
  request_hash: string;
  state: 'in_progress' | 'completed';
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: unknown;
}

const REPLAYED_HEADERS = ['location', 'etag', 'content-type'];

export function idempotencyMiddleware(knex: Knex, ttlHours: number): Middleware {
  return async (ctx, next) => {
    const key = ctx.get('idempotency-key');
    const state = ctx.state as AppState;
    if (ctx.method !== 'POST' || key === '' || !state.auth) {
      await next();
      return;
    }
    if (!KEY.test(key)) throw new HttpProblem(422, 'validation_failed', 'Idempotency-Key must be 1–128 visible ASCII characters.', { errors: [{ path: 'Idempotency-Key', message: 'invalid' }] });
    const owner = state.auth.userId;
    const scopedKey = `${ctx.method} ${ctx.path} ${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(ctx.request.body ?? null)).digest('hex');

    const claimed = await knex.raw<{ rows: unknown[] }>(
      `INSERT INTO idempotency_keys (owner_id, key, request_hash, state, expires_at)
       VALUES (?, ?, ?, 'in_progress', now() + make_interval(hours => ?))
       ON CONFLICT (owner_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'in_progress',
         created_at = now(), expires_at = EXCLUDED.expires_at, response_status = NULL, response_headers = NULL, response_body = NULL
       WHERE idempotency_keys.expires_at < now()
       RETURNING 1`,
      [owner, scopedKey, requestHash, ttlHours],
    );
    if (claimed.rows.length === 0) {
      const stored = await waitForAnswer(knex, owner, scopedKey);
      if (!stored) throw new HttpProblem(409, 'idempotency_request_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', { headers: { 'Retry-After': '1' } });
      if (stored.request_hash !== requestHash) throw new HttpProblem(422, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request body.');
      for (const [name, value] of Object.entries(stored.response_headers ?? {})) ctx.set(name, value);
      ctx.set('Idempotent-Replayed', 'true');
      ctx.status = stored.response_status ?? 200;
      ctx.body = stored.response_body ?? undefined;
      return;
    }

    let kept = false;
    try {
      await next();
      if (ctx.status >= 200 && ctx.status < 300) {
        const headers = Object.fromEntries(REPLAYED_HEADERS.filter((h) => ctx.response.get(h)).map((h) => [h, ctx.response.get(h)]));
        await knex('idempotency_keys')
          .where({ owner_id: owner, key: scopedKey })
          .update({ state: 'completed', response_status: ctx.status, response_headers: headers, response_body: JSON.stringify(ctx.body ?? null) });
        kept = true;
      }
    } finally {
      // Only successes are kept, so a failed attempt can be retried with the same key.
      if (!kept) await knex('idempotency_keys').where({ owner_id: owner, key: scopedKey, state: 'in_progress' }).delete();
    }
  };
}

async function waitForAnswer(knex: Knex, owner: string, key: string): Promise<StoredAnswer | undefined> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const row = await knex('idempotency_keys').where({ owner_id: owner, key }).first<StoredAnswer | undefined>();
    if (row?.state === 'completed') return row;
    if (!row) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Deletes expired answers; run periodically. */
export async function purgeExpiredIdempotencyKeys(knex: Knex): Promise<number> {
  return knex('idempotency_keys').where('expires_at', '<', knex.fn.now()).delete();
}
