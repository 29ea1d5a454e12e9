// Who is calling: `Authorization: Bearer <access token>` or `X-API-Key: <key>` → ctx.state.auth.
// A request without credentials passes on unauthenticated (routes that need a caller say so with
// requireAuth); a request with bad credentials is refused here, whatever the route.
//
// Every request looks the caller up in the read model (one indexed query), so a revoked session
// or key, a password change and a deactivation take effect on the very next request, not when
// the access token expires. The role comes from the read model too, not from the token.
import type { Knex } from 'knex';
import type { Middleware } from 'koa';
import { HttpProblem } from '../../platform/http/problem.ts';
import { stateOf } from '../../platform/http/state.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import { digestsEqual } from './digest.ts';
import * as queries from './queries.ts';
import { parseApiKey, TokenError, type AccessTokens } from './tokens.ts';

const unauthenticated = (detail: string, code: 'unauthenticated' | 'token_expired' = 'unauthenticated') =>
  new HttpProblem(401, code, detail, { headers: { 'WWW-Authenticate': code === 'token_expired' ? 'Bearer error="invalid_token", error_description="expired"' : 'Bearer' } });
const inactive = () => new HttpProblem(403, 'account_inactive', 'This account is deactivated.');

export interface AuthenticationOptions {
  readonly knex: Knex;
  readonly accessTokens: AccessTokens;
  /** Records an API key's first use of the day (audit); runs in the background, failures only logged. */
  readonly recordApiKeyUse: (keyId: string, userId: string, cause: CommandCause) => Promise<void>;
}

export function authenticationMiddleware(options: AuthenticationOptions): Middleware {
  const { knex, accessTokens } = options;
  /** `<keyId>:<day>` already recorded by this process: one event per key and day, not per request. */
  const usedToday = new Set<string>();

  return async (ctx, next) => {
    const authorization = ctx.get('authorization');
    const apiKey = ctx.get('x-api-key');
    if (authorization === '' && apiKey === '') {
      await next();
      return;
    }
    const state = stateOf(ctx);

    if (authorization !== '') {
      const match = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim());
      if (!match) throw unauthenticated('The Authorization header must be "Bearer <access token>".');
      let claims;
      try {
        claims = await accessTokens.verify(match[1]!);
      } catch (error) {
        if (error instanceof TokenError) {
          state.log.debug({ reason: error.message }, 'access token refused');
          throw unauthenticated(error.code === 'token_expired' ? 'The access token has expired: refresh it.' : 'The access token is not valid.', error.code);
        }
        throw error;
      }
      const caller = await queries.callerBySession(knex, claims.userId, claims.sessionId);
      if (!caller || caller.status === 'erased' || caller.revoked) throw unauthenticated('The session of this access token has ended.');
      if (caller.status !== 'active') throw inactive();
      state.auth = { userId: caller.userId, username: caller.username, role: caller.role, actorType: 'user', sessionId: claims.sessionId };
      await next();
      return;
    }

    const parsed = parseApiKey(apiKey.trim());
    if (!parsed) throw unauthenticated('The API key is not valid.');
    const caller = await queries.callerByApiKey(knex, parsed.keyId);
    if (!caller || caller.secretHash === undefined || !digestsEqual(caller.secretHash, parsed.keyHash) || caller.revoked || caller.status === 'erased') {
      throw unauthenticated('The API key is not valid.');
    }
    if (caller.status !== 'active') throw inactive();
    state.auth = { userId: caller.userId, username: caller.username, role: caller.role, actorType: 'api_key', apiKeyId: parsed.keyId };

    const day = new Date().toISOString().slice(0, 10);
    const usage = `${parsed.keyId}:${day}`;
    if (!usedToday.has(usage)) {
      if (usedToday.size > 100_000) usedToday.clear(); // a day's worth; never grows without bound
      usedToday.add(usage);
      const cause: CommandCause = {
        actorId: caller.userId,
        actorType: 'api_key',
        requestId: state.requestId,
        correlationId: state.requestId,
        causationId: null,
        traceparent: state.traceparent,
        reason: null,
      };
      void options.recordApiKeyUse(parsed.keyId, caller.userId, cause).catch((error: unknown) => {
        usedToday.delete(usage);
        state.log.warn({ err: error }, 'recording API key use failed');
      });
    }
    await next();
  };
}
