// HTTP routes of the identity module (API.md, Identity): /api/v1/auth/* and /api/v1/admin/users*.
// Each handler: parse with zod → command or query → answer. Domain errors become problem+json
// with the status API.md gives (identityErrorStatus).
import type { Middleware } from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import { commandCause } from '../../platform/http/command-cause.ts';
import type { FailureLimit } from '../../platform/http/failure-limit.ts';
import { answerHoldsSecret, ignoresIdempotencyKey } from '../../platform/http/idempotency.ts';
import { jsonContent, problemResponse, type OpenApiRegistry } from '../../platform/http/openapi.ts';
import { decodeCursor, pageSchema, paginationQuery, toPage } from '../../platform/http/pagination.ts';
import { HttpProblem } from '../../platform/http/problem.ts';
import { ipBucket } from '../../platform/http/rate-limit.ts';
import { requireAuth, requireSession } from '../../platform/http/require-auth.ts';
import { createRouter, type AppContext, type AppRouter } from '../../platform/http/state.ts';
import { parseBody, parseId, parseQuery } from '../../platform/http/validate.ts';
import { isoDateTime } from '../../platform/text.ts';
import { authenticatedCaller } from './authenticate.ts';
import type { IdentityCommands } from './commands.ts';
import { DomainError } from '../../platform/commands/decision.ts';
import { type Actor, type RequestFacts } from './decide.ts';
import { roles } from './events.ts';
import * as queries from './queries.ts';
import { passwordLength, usernameLength } from './rules.ts';

export interface IdentityRouteOptions {
  readonly commands: IdentityCommands;
  readonly knex: Knex;
  readonly openapi: OpenApiRegistry;
  /** Per-IP limit on the public auth routes (register, login, refresh, logout). */
  readonly authPerIp: Middleware;
  /**
   * Failed refreshes per client network (ipBucket), never per session: a forged token carrying
   * someone's session id must not use up that session's budget.
   */
  readonly refreshFailures: FailureLimit;
}

// --- schemas (also the OpenAPI document) ---------------------------------------------------------

const reason = z
  .string()
  .max(500)
  .optional()
  .meta({ description: 'Change reason (stored in the event metadata); X-Change-Reason wins' });
const registerBody = z.strictObject({
  username: z
    .string()
    .max(256)
    .meta({
      description: `${usernameLength.min}–${usernameLength.max} of [a-zA-Z0-9_.-], not reserved; unique, case-insensitive`,
      example: 'dr.lee',
    }),
  email: z.string().max(320).meta({ description: 'Unique, case-insensitive', example: 'lee@lab.example' }),
  password: z
    .string()
    .max(1024)
    .meta({ description: `≥ ${passwordLength.min} characters, not containing the username, not a common password` }),
});
const userSchema = z
  .object({ id: z.uuid(), username: z.string(), email: z.string(), role: z.enum(roles), createdAt: z.iso.datetime() })
  .meta({ id: 'RegisteredUser' });
const meSchema = userSchema.extend({ isActive: z.boolean() }).meta({ id: 'Me' });
const adminUserSchema = meSchema
  .extend({ status: z.enum(['active', 'inactive', 'erased']), lastLoginAt: z.iso.datetime().nullable() })
  .meta({ id: 'AdminUser' });
const loginBody = z.strictObject({
  login: z.string().min(1).max(320).meta({ description: 'Username or email' }),
  password: z.string().min(1).max(1024),
});
const tokenPairSchema = z
  .object({
    accessToken: z.string().meta({ description: 'JWT for Authorization: Bearer' }),
    refreshToken: z.string().meta({ description: 'Opaque; single use: each refresh returns a new one' }),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().meta({ description: 'Seconds until the access token expires' }),
  })
  .meta({ id: 'TokenPair' });
const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(256) });
const passwordBody = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().max(1024),
  reason,
});
const eraseMeBody = z.strictObject({ password: z.string().min(1).max(1024), reason });
const apiKeyBody = z.strictObject({
  name: z.string().max(256).meta({ description: '1–100 characters', example: 'LIMS import' }),
  reason,
});
const createdApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    key: z.string().meta({ description: 'Shown only in this answer: send it as X-API-Key' }),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'CreatedApiKey' });
const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().meta({ description: 'The non-secret start of the key, to recognise it' }),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable().meta({ description: 'First use on the most recent day the key was used' }),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });
const listQuery = z.strictObject({ ...paginationQuery });
const keysetCursor = z.object({ createdAt: isoDateTime(), id: z.uuid() });
const adminActionBody = z.strictObject({ reason });

const json = jsonContent;
const problem = problemResponse;
const noContent = { description: 'Done' };
const idParam = z.object({ id: z.uuid() });

// --- helpers ----------------------------------------------------------------------------------

const requestFacts = (ctx: AppContext): RequestFacts => ({
  ip: ctx.ip.slice(0, 45) || null,
  userAgent: ctx.get('user-agent') || null,
});
/** The caller of a login session: what an API key may not do (keys, password, erasure, administration). */
const sessionActor = (ctx: AppContext, what: string): Actor => {
  const auth = requireSession(ctx, what);
  return { userId: auth.userId, role: auth.role };
};
const requireAdmin = (ctx: AppContext): Actor => {
  const actor = sessionActor(ctx, 'Administration');
  if (actor.role !== 'admin') throw new HttpProblem(403, 'forbidden', 'This route is for administrators.');
  return actor;
};

export function identityRouters(options: IdentityRouteOptions): AppRouter[] {
  const { commands, knex, openapi, authPerIp, refreshFailures } = options;
  const auth = createRouter({ prefix: '/api/v1/auth' });
  const admin = createRouter({ prefix: '/api/v1/admin/users' });
  openapi.tag('auth', 'Accounts, sessions and API keys');
  openapi.tag('admin', 'Administration (role admin)');
  const publicRoute = { tags: ['auth'], security: [] };

  // --- public: register, login, refresh, logout -------------------------------------------------

  openapi.add('post', '/api/v1/auth/register', {
    ...publicRoute,
    summary: 'Create an account',
    requestBody: json(registerBody),
    responses: {
      '201': { description: 'Registered', ...json(userSchema) },
      '409': problem('`username_taken` or `email_taken` (case-insensitive)'),
    },
  });
  // Public routes are not idempotent commands of a user: an Idempotency-Key is ignored there.
  auth.post(
    '/register',
    authPerIp,
    ignoresIdempotencyKey(async (ctx) => {
      const body = parseBody(ctx, registerBody);
      const user = await commands.register(body, commandCause(ctx));
      ctx.status = 201;
      ctx.set('Location', '/api/v1/auth/me');
      ctx.body = {
        id: user.id,
        username: user.username,
        email: user.email,
        role: user.role,
        createdAt: user.createdAt,
      };
    }),
  );

  openapi.add('post', '/api/v1/auth/login', {
    ...publicRoute,
    summary: 'Log in with username or email',
    description:
      'Unknown user and wrong password get the same answer after the same work. Attempts are counted per account (its username and email together; per name for an unknown one) before the password is checked: beyond the limit, 429. Each login is a new session: an Idempotency-Key is ignored.',
    requestBody: json(loginBody),
    responses: {
      '200': { description: 'Logged in: a new session', ...json(tokenPairSchema) },
      '401': problem('`invalid_credentials`'),
      '403': problem('`account_inactive` (only after a correct password)'),
      '429': problem('`rate_limited`: too many failed password attempts for this account'),
    },
  });
  auth.post(
    '/login',
    authPerIp,
    ignoresIdempotencyKey(async (ctx) => {
      const body = parseBody(ctx, loginBody);
      ctx.body = await commands.logIn(body.login, body.password, requestFacts(ctx), commandCause(ctx));
    }),
  );

  openapi.add('post', '/api/v1/auth/refresh', {
    ...publicRoute,
    summary: 'Trade a refresh token for new tokens',
    description:
      'Rotation: the answer holds a new refresh token and the old one stops working. Presenting an already used refresh token revokes the whole session. Failed refreshes are limited per client network. An Idempotency-Key is ignored: tokens never come from storage.',
    requestBody: json(refreshBody),
    responses: {
      '200': { description: 'New tokens', ...json(tokenPairSchema) },
      '401': problem('`invalid_credentials` or `token_expired`'),
    },
  });
  auth.post(
    '/refresh',
    authPerIp,
    ignoresIdempotencyKey(async (ctx) => {
      const body = parseBody(ctx, refreshBody);
      const attempt = await refreshFailures.reserve(`refresh:${ipBucket(ctx.ip)}`);
      try {
        ctx.body = await commands.refresh(body.refreshToken, requestFacts(ctx), commandCause(ctx));
      } catch (error) {
        if (error instanceof DomainError && error.code === 'invalid_credentials') throw error; // stays counted
        await attempt.release();
        throw error;
      }
      await attempt.release(); // a success gives its own attempt back; others' failures from this network stay
    }),
  );

  openapi.add('post', '/api/v1/auth/logout', {
    ...publicRoute,
    summary: 'End the session of a refresh token',
    requestBody: json(refreshBody),
    responses: { '204': noContent, '401': problem('`invalid_credentials`') },
  });
  auth.post(
    '/logout',
    authPerIp,
    ignoresIdempotencyKey(async (ctx) => {
      const body = parseBody(ctx, refreshBody);
      await commands.logOut(body.refreshToken, requestFacts(ctx), commandCause(ctx));
      ctx.status = 204;
    }),
  );

  // --- the caller's own account ---------------------------------------------------------------------

  openapi.add('get', '/api/v1/auth/me', {
    tags: ['auth'],
    summary: 'The caller',
    responses: { '200': { description: 'The caller', ...json(meSchema) } },
  });
  auth.get('/me', (ctx) => {
    requireAuth(ctx);
    // The account as the authentication just checked it (same read model row, no second query).
    const caller = authenticatedCaller(ctx);
    if (!caller) throw new HttpProblem(404, 'not_found', 'User not found.');
    ctx.body = {
      id: caller.userId,
      username: caller.username,
      email: caller.email,
      role: caller.role,
      isActive: caller.status === 'active',
      createdAt: caller.createdAt,
    };
  });

  openapi.add(
    'post',
    '/api/v1/auth/password',
    {
      tags: ['auth'],
      summary: 'Change the password (ends every session, revokes every API key)',
      description:
        "Needs a login session (not an API key). Wrong current passwords count against the account's attempt limit, as failed logins do.",
      requestBody: json(passwordBody),
      responses: {
        '204': noContent,
        '401': problem('`invalid_credentials`: the current password is wrong'),
        '403': problem('`forbidden`: called with an API key'),
        '429': problem('`rate_limited`: too many failed password attempts for this account'),
      },
    },
    { headers: ['changeReason'] },
  );
  auth.post('/password', async (ctx) => {
    const actor = sessionActor(ctx, 'Changing the password');
    const body = parseBody(ctx, passwordBody);
    await commands.changePassword(actor, body.currentPassword, body.newPassword, commandCause(ctx, body.reason));
    ctx.status = 204;
  });

  openapi.add(
    'delete',
    '/api/v1/auth/me',
    {
      tags: ['auth'],
      summary: 'Erase the own account',
      description:
        "Needs a login session (not an API key) and the password; wrong passwords count against the account's attempt limit. Personal data leaves the read models and becomes unreadable in the events, every session and API key is revoked, kept Idempotency-Key answers are deleted, the email can be registered again; the username stays reserved.",
      requestBody: json(eraseMeBody),
      responses: {
        '204': noContent,
        '401': problem('`invalid_credentials`: wrong password'),
        '403': problem('`forbidden`: called with an API key'),
        '429': problem('`rate_limited`: too many failed password attempts for this account'),
      },
    },
    { headers: ['changeReason'] },
  );
  auth.delete('/me', async (ctx) => {
    const actor = sessionActor(ctx, 'Erasing the account');
    const body = parseBody(ctx, eraseMeBody);
    await commands.erase(actor, actor.userId, body.password, commandCause(ctx, body.reason));
    ctx.status = 204;
  });

  // --- API keys -------------------------------------------------------------------------------------

  openapi.add(
    'post',
    '/api/v1/auth/api-keys',
    {
      tags: ['auth'],
      summary: 'Create an API key',
      description:
        'Needs a login session: an API key cannot make keys. The answer holds the secret and is never kept: a repeat with the same Idempotency-Key creates nothing and gets 409 `idempotency_answer_withheld`.',
      requestBody: json(apiKeyBody),
      responses: {
        '201': { description: 'Created; `key` is shown only now', ...json(createdApiKeySchema) },
        '403': problem('`forbidden`: called with an API key'),
        '409': problem('`idempotency_answer_withheld`: a repeat of a request that created a key'),
      },
    },
    { headers: ['idempotencyKey', 'changeReason'] },
  );
  auth.post(
    '/api-keys',
    answerHoldsSecret(async (ctx: AppContext) => {
      const actor = sessionActor(ctx, 'Managing API keys');
      const body = parseBody(ctx, apiKeyBody);
      const created = await commands.createApiKey(actor, body.name, commandCause(ctx, body.reason));
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = created;
    }),
  );

  openapi.add('get', '/api/v1/auth/api-keys', {
    tags: ['auth'],
    summary: "The caller's API keys, newest first, without secrets",
    description: 'Needs a login session (not an API key).',
    requestParams: { query: listQuery },
    responses: {
      '200': { description: 'A page', ...json(pageSchema(apiKeySchema)) },
      '403': problem('`forbidden`: called with an API key'),
    },
  });
  auth.get('/api-keys', async (ctx) => {
    const caller = requireSession(ctx, 'Managing API keys');
    const q = parseQuery(ctx, listQuery);
    const after = decodeCursor(q.cursor, keysetCursor);
    const { rows, total } = await queries.listApiKeys(knex, caller.userId, { limit: q.limit, after });
    ctx.body = toPage(rows, q.limit, total, (last) => ({ createdAt: last.createdAt, id: last.id }));
  });

  openapi.add(
    'delete',
    '/api/v1/auth/api-keys/{id}',
    {
      tags: ['auth'],
      summary: 'Revoke an API key (it stops working at once)',
      description: 'Needs a login session (not an API key).',
      requestParams: { path: idParam },
      responses: {
        '204': noContent,
        '403': problem('`forbidden`: called with an API key'),
        '404': problem("`not_found`: unknown, or another user's key"),
      },
    },
    { headers: ['changeReason'] },
  );
  auth.delete('/api-keys/:id', async (ctx) => {
    const actor = sessionActor(ctx, 'Managing API keys');
    const keyId = parseId(ctx.params.id);
    await commands.revokeApiKey(actor, keyId, commandCause(ctx));
    ctx.status = 204;
  });

  // --- admin ----------------------------------------------------------------------------------------

  const adminRoute = { tags: ['admin'] };
  openapi.add('get', '/api/v1/admin/users', {
    ...adminRoute,
    summary: 'Every account, oldest first',
    requestParams: { query: listQuery },
    responses: {
      '200': { description: 'A page', ...json(pageSchema(adminUserSchema)) },
      '403': problem('`forbidden`: not an admin, or an API key'),
    },
  });
  admin.get('/', async (ctx) => {
    requireAdmin(ctx);
    const q = parseQuery(ctx, listQuery);
    const after = decodeCursor(q.cursor, keysetCursor);
    const { rows, total, keyOf } = await queries.listUsers(knex, { limit: q.limit, after });
    ctx.body = toPage(rows, q.limit, total, keyOf);
  });

  const adminAction = (
    path: string,
    summary: string,
    run: (actor: Actor, userId: string, ctx: AppContext, reason: string | undefined) => Promise<void>,
  ) => {
    openapi.add(
      'post',
      `/api/v1/admin/users/{id}/${path}`,
      {
        ...adminRoute,
        summary,
        requestParams: { path: idParam },
        responses: {
          '204': noContent,
          '403': problem('`forbidden`: not an admin, an API key, or an admin acting on their own account'),
          '404': problem('`not_found`'),
        },
      },
      { headers: ['changeReason'] },
    );
    admin.post(`/:id/${path}`, async (ctx) => {
      const actor = requireAdmin(ctx);
      const userId = parseId(ctx.params.id);
      const body = parseBody(ctx, adminActionBody);
      await run(actor, userId, ctx, body.reason);
      ctx.status = 204;
    });
  };
  adminAction('deactivate', 'Deactivate an account: its tokens and keys stop working at once', (actor, id, ctx, r) =>
    commands.setActive(actor, id, false, commandCause(ctx, r)),
  );
  adminAction('activate', 'Activate an account again', (actor, id, ctx, r) =>
    commands.setActive(actor, id, true, commandCause(ctx, r)),
  );
  adminAction('erase', 'Erase an account (an erasure request received another way)', (actor, id, ctx, r) =>
    commands.erase(actor, id, undefined, commandCause(ctx, r)),
  );

  return [auth, admin];
}
