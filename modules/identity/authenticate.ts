// Who is calling: `Authorization: Bearer <access token>` or `X-API-Key: <key>` → ctx.state.auth.
// A request without credentials passes on unauthenticated (routes that need a caller say so with
// requireAuth); a request with bad credentials is refused here, whatever the route.
//
// Every request is checked against the read model's current state of the session or key and its
// user (through CallerCache, which drops a user's entries the moment a command changes them), so
// a revoked session or key, a password change and a deactivation take effect on the very next
// request, not when the access token expires. The role comes from the read model, not the token.
import type { Knex } from 'knex';
import type { Context, Middleware, Next } from 'koa';
import { HttpProblem } from '../../platform/http/problem.ts';
import { stateOf, type AuthState } from '../../platform/http/state.ts';
import type { CommandCause } from '../../platform/eventstore/metadata.ts';
import type { CachedCaller, CallerCache, KnownToken } from './caller-cache.ts';
import { digestsEqual } from './digest.ts';
import * as queries from './queries.ts';
import { parseApiKey, TokenError, type AccessTokens, type VerifiedAccessToken } from './tokens.ts';

const unauthenticated = (detail: string, code: 'unauthenticated' | 'token_expired' = 'unauthenticated') =>
  new HttpProblem(401, code, detail, {
    headers: {
      'WWW-Authenticate':
        code === 'token_expired' ? 'Bearer error="invalid_token", error_description="expired"' : 'Bearer',
    },
  });
const inactive = () => new HttpProblem(403, 'account_inactive', 'This account is deactivated.');

export interface AuthenticationOptions {
  readonly knex: Knex;
  readonly accessTokens: AccessTokens;
  readonly cache: CallerCache;
  /** Records an API key's first use of the day (audit); runs in the background, failures only logged. */
  readonly recordApiKeyUse: (keyId: string, userId: string, cause: CommandCause) => Promise<void>;
}

/** RFC 6750 b64token: what may follow "Bearer " (checked before a token's first verification). */
const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * The token of `Bearer <token>` (scheme case-insensitive, RFC 7235), unchecked; undefined for any
 * other scheme. No regular expression over the whole header: the token is checked once, before
 * its first verification, and found in the cache of verified tokens on every later request.
 */
export function bearerToken(authorization: string): string | undefined {
  const value = authorization.trim();
  if (value.length < 8 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trimStart();
  return token === '' ? undefined : token;
}

/**
 * The AuthState of a cached caller, made once per cache entry (session or key) and shared by its
 * requests, and the way back from it to the account. A request then only looks the state up: no
 * object and no weak-map entry per request.
 */
const authStates = new WeakMap<CachedCaller, AuthState>();
const callersByAuth = new WeakMap<AuthState, CachedCaller>();
function authStateOf(caller: CachedCaller, make: () => AuthState): AuthState {
  let auth = authStates.get(caller);
  if (auth === undefined) {
    auth = Object.freeze(make());
    authStates.set(caller, auth);
    callersByAuth.set(auth, caller);
  }
  return auth;
}

/** The authenticated caller's account as of this request (for GET /auth/me). */
export function authenticatedCaller(ctx: { state: object }): CachedCaller | undefined {
  const auth = (ctx.state as { auth?: AuthState }).auth;
  return auth === undefined ? undefined : callersByAuth.get(auth);
}

export function authenticationMiddleware(options: AuthenticationOptions): Middleware {
  const { knex, accessTokens, cache } = options;
  /** `<keyId>:<day>` already recorded by this process: one event per key and day, not per request. */
  const usedToday = new Set<string>();

  const lookUp = async (
    key: string,
    read: () => Promise<CachedCaller | undefined>,
  ): Promise<CachedCaller | undefined> => {
    const cached = cache.get(key);
    if (cached) return cached;
    const generation = cache.generation();
    const caller = await read();
    if (caller) cache.set(key, caller, generation);
    return caller;
  };

  const verify = async (token: string): Promise<KnownToken> => {
    const known = cache.token(token);
    if (known) return known; // only a well-formed token was ever remembered
    if (!TOKEN_SYNTAX.test(token)) throw new TokenError('unauthenticated', 'characters outside RFC 6750 b64token');
    return cache.rememberToken(token, await accessTokens.verify(token));
  };

  /** Checks a bearer caller and makes it the request's; throws what the client is told. */
  const admitBearer = (ctx: Context, claims: VerifiedAccessToken, caller: CachedCaller | undefined): void => {
    if (!caller || caller.userId !== claims.userId || caller.status === 'erased' || caller.revoked)
      throw unauthenticated('The session of this access token has ended.');
    if (caller.status !== 'active') throw inactive();
    // The entry was read by this session id, so its state is this session's.
    stateOf(ctx).auth = authStateOf(caller, () => ({
      userId: caller.userId,
      username: caller.username,
      role: caller.role,
      actorType: 'user',
      sessionId: claims.sessionId,
    }));
  };

  /** A token or session not in the cache: verify the token, read the session's caller. */
  const bearerFirstSeen = async (ctx: Context, token: string, next: Next): Promise<void> => {
    let known: KnownToken;
    try {
      known = await verify(token);
    } catch (error) {
      if (error instanceof TokenError) {
        stateOf(ctx).log.debug({ reason: error.message }, 'access token refused');
        throw unauthenticated(
          error.code === 'token_expired'
            ? 'The access token has expired: refresh it.'
            : 'The access token is not valid.',
          error.code,
        );
      }
      throw error;
    }
    const { claims } = known;
    admitBearer(
      ctx,
      claims,
      await lookUp(known.sessionKey, () => queries.callerBySession(knex, claims.userId, claims.sessionId)),
    );
    await next();
  };

  return (ctx, next) => {
    const headers = ctx.req.headers;
    const authorization = headers.authorization ?? '';
    if (authorization === '') {
      const apiKey = headers['x-api-key'];
      return typeof apiKey === 'string' && apiKey !== '' ? byApiKey(ctx, apiKey, next) : next();
    }
    const token = bearerToken(authorization);
    if (token === undefined) throw unauthenticated('The Authorization header must be "Bearer <access token>".');
    // The steady state, a known token of a cached session, goes on without waiting for anything.
    const known = cache.token(token);
    const caller = known === undefined ? undefined : cache.get(known.sessionKey);
    if (known === undefined || caller === undefined) return bearerFirstSeen(ctx, token, next);
    admitBearer(ctx, known.claims, caller);
    return next();
  };

  async function byApiKey(ctx: Context, apiKey: string, next: Next): Promise<void> {
    const state = stateOf(ctx);
    const parsed = parseApiKey(apiKey.trim());
    if (!parsed) throw unauthenticated('The API key is not valid.');
    const caller = await lookUp(`key:${parsed.keyId}`, () => queries.callerByApiKey(knex, parsed.keyId));
    if (
      !caller ||
      caller.secretHash === undefined ||
      !digestsEqual(caller.secretHash, parsed.keyHash) ||
      caller.revoked ||
      caller.status === 'erased'
    ) {
      throw unauthenticated('The API key is not valid.');
    }
    if (caller.status !== 'active') throw inactive();
    state.auth = authStateOf(caller, () => ({
      userId: caller.userId,
      username: caller.username,
      role: caller.role,
      actorType: 'api_key',
      apiKeyId: parsed.keyId,
    }));

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
  }
}
