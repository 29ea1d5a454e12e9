// Who is calling: `Authorization: Bearer <access token>` or `X-API-Key: <key>` → ctx.state.auth.
// A request without credentials passes on unauthenticated (routes that need a caller say so with
// requireAuth); a request with bad credentials is refused here, whatever the route.
//
// Every request is checked against the read model's current state of the session or key and its
// user (through CallerCache, which drops a user's entries the moment a command changes them), so
// a revoked session or key, a password change and a deactivation take effect on the very next
// request, not when the access token expires. The role comes from the read model, not the token.
import type { Knex } from 'knex';
import type { Middleware } from 'koa';
import { HttpProblem } from '../../platform/http/problem.ts';
import { stateOf } from '../../platform/http/state.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { CachedCaller, CallerCache } from './caller-cache.ts';
import { digestsEqual } from './digest.ts';
import * as queries from './queries.ts';
import { parseApiKey, TokenError, type AccessTokens, type VerifiedAccessToken } from './tokens.ts';

const unauthenticated = (detail: string, code: 'unauthenticated' | 'token_expired' = 'unauthenticated') =>
  new HttpProblem(401, code, detail, { headers: { 'WWW-Authenticate': code === 'token_expired' ? 'Bearer error="invalid_token", error_description="expired"' : 'Bearer' } });
const inactive = () => new HttpProblem(403, 'account_inactive', 'This account is deactivated.');

export interface AuthenticationOptions {
  readonly knex: Knex;
  readonly accessTokens: AccessTokens;
  readonly cache: CallerCache;
  /** Records an API key's first use of the day (audit); runs in the background, failures only logged. */
  readonly recordApiKeyUse: (keyId: string, userId: string, cause: CommandCause) => Promise<void>;
}

/** The authenticated caller's account as of this request (for GET /auth/me), keyed by ctx.state. */
const callers = new WeakMap<object, CachedCaller>();
export function authenticatedCaller(ctx: { state: object }): CachedCaller | undefined {
  return callers.get(ctx.state);
}

export function authenticationMiddleware(options: AuthenticationOptions): Middleware {
  const { knex, accessTokens, cache } = options;
  /** `<keyId>:<day>` already recorded by this process: one event per key and day, not per request. */
  const usedToday = new Set<string>();

  const lookUp = async (key: string, read: () => Promise<CachedCaller | undefined>): Promise<CachedCaller | undefined> => {
    const cached = cache.get(key);
    if (cached) return cached;
    const generation = cache.generation();
    const caller = await read();
    if (caller) cache.set(key, caller, generation);
    return caller;
  };

  const verify = async (token: string): Promise<VerifiedAccessToken> => {
    const known = cache.token(token);
    if (known) return known;
    const verified = await accessTokens.verify(token);
    cache.rememberToken(token, verified);
    return verified;
  };

  return async (ctx, next) => {
    const headers = ctx.req.headers;
    const authorization = headers.authorization ?? '';
    const apiKey = typeof headers['x-api-key'] === 'string' ? headers['x-api-key'] : '';
    if (authorization === '' && apiKey === '') {
      await next();
      return;
    }
    const state = stateOf(ctx);

    if (authorization !== '') {
      const match = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim());
      if (!match) throw unauthenticated('The Authorization header must be "Bearer <access token>".');
      let claims: VerifiedAccessToken;
      try {
        claims = await verify(match[1]!);
      } catch (error) {
        if (error instanceof TokenError) {
          state.log.debug({ reason: error.message }, 'access token refused');
          throw unauthenticated(error.code === 'token_expired' ? 'The access token has expired: refresh it.' : 'The access token is not valid.', error.code);
        }
        throw error;
      }
      const caller = await lookUp(`session:${claims.sessionId}`, () => queries.callerBySession(knex, claims.userId, claims.sessionId));
      if (!caller || caller.userId !== claims.userId || caller.status === 'erased' || caller.revoked) throw unauthenticated('The session of this access token has ended.');
      if (caller.status !== 'active') throw inactive();
      state.auth = { userId: caller.userId, username: caller.username, role: caller.role, actorType: 'user', sessionId: claims.sessionId };
      callers.set(ctx.state, caller);
      await next();
      return;
    }

    const parsed = parseApiKey(apiKey.trim());
    if (!parsed) throw unauthenticated('The API key is not valid.');
    const caller = await lookUp(`key:${parsed.keyId}`, () => queries.callerByApiKey(knex, parsed.keyId));
    if (!caller || caller.secretHash === undefined || !digestsEqual(caller.secretHash, parsed.keyHash) || caller.revoked || caller.status === 'erased') {
      throw unauthenticated('The API key is not valid.');
    }
    if (caller.status !== 'active') throw inactive();
    state.auth = { userId: caller.userId, username: caller.username, role: caller.role, actorType: 'api_key', apiKeyId: parsed.keyId };
    callers.set(ctx.state, caller);

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
