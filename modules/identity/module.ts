// The identity module as the composition root sees it: its routers, the authentication
// middleware every other route relies on, and the start-up work (admin bootstrap, argon2 warm-up).
import type { Middleware } from 'koa';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { purgeIdempotencyKeysOf } from '../../platform/http/idempotency.ts';
import { ipBucket } from '../../platform/http/rate-limit.ts';
import type { PlatformServices } from '../../platform/module-context.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { listenToChannel, type ChannelListener } from '../../platform/database/notifications.ts';
import { authenticationMiddleware } from './authenticate.ts';
import { CallerCache } from './caller-cache.ts';
import { identityChangedChannel } from './events.ts';
import { createIdentityCommands, type IdentityCommands, type PasswordAttempts } from './commands.ts';
import { createPasswordHasher, type PasswordHasher } from './passwords.ts';
import { identityRouters } from './routes.ts';
import { createAccessTokens } from './tokens.ts';

/** The projections (by name) whose tables the identity queries read. */
export const identityReadModels = ['identity'] as const;

/** `databaseUrl`: for the LISTEN connection that keeps the caller cache fresh across processes. */
export interface IdentityModuleContext extends PlatformServices {
  /** Tests inject a cheaper hasher; production uses the OWASP parameters. */
  readonly hasher?: PasswordHasher;
}

export interface IdentityModule {
  readonly routers: AppRouter[];
  readonly authenticate: Middleware;
  readonly commands: IdentityCommands;
  /** Warms the dummy hash, listens for caller changes, creates the first admin from ADMIN_USERNAME / ADMIN_PASSWORD. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The bootstrap admin's email when ADMIN_EMAIL is not set (a reserved TLD: never delivered). */
export const defaultAdminEmail = (username: string): string => `${username.toLowerCase()}@admin.vialog.invalid`;

export function identityCommandsFor(
  context: Pick<IdentityModuleContext, 'config' | 'knex' | 'store' | 'waitForProjections' | 'hasher' | 'vault'> & {
    onCallerChanged?: (userId: string) => void;
    passwordAttempts?: PasswordAttempts;
    onBackgroundError?: (error: unknown) => void;
  },
): IdentityCommands {
  return createIdentityCommands({
    ...(context.onCallerChanged ? { onCallerChanged: context.onCallerChanged } : {}),
    ...(context.passwordAttempts ? { passwordAttempts: context.passwordAttempts } : {}),
    ...(context.onBackgroundError ? { onBackgroundError: context.onBackgroundError } : {}),
    // Kept Idempotency-Key answers are the user's data too: they go with the account.
    onErased: async (userId) => void (await purgeIdempotencyKeysOf(context.knex, userId)),
    store: context.store,
    knex: context.knex,
    vault: context.vault,
    hasher: context.hasher ?? createPasswordHasher(),
    accessTokens: createAccessTokens(context.config),
    refreshTokenTtlDays: context.config.REFRESH_TOKEN_TTL_DAYS,
    waitForReadModel: (position) => context.waitForProjections(identityReadModels, position),
  });
}

export function identityModule(context: IdentityModuleContext): IdentityModule {
  const { config } = context;
  const hasher = context.hasher ?? createPasswordHasher();
  const accessTokens = createAccessTokens(config);
  const cache = new CallerCache();
  // Failed password checks (login, password change, erasure) per account, in one budget.
  const failures = { max: config.RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES, windowMs: 15 * 60_000 };
  const commands = identityCommandsFor({
    ...context,
    hasher,
    onCallerChanged: (userId) => cache.evictUser(userId),
    passwordAttempts: context.failureLimit({ name: 'login', ...failures }),
    onBackgroundError: (error) => context.logger.warn({ err: error }, 'recording a failed login failed'),
  });
  let listener: ChannelListener | undefined;
  const routers = identityRouters({
    commands,
    knex: context.knex,
    openapi: context.openapi,
    // Per client network: an IPv6 client owns its whole /64.
    authPerIp: context.rateLimit({
      name: 'auth-ip',
      max: config.RATE_LIMIT_AUTH_PER_IP_PER_MINUTE,
      durationMs: 60_000,
      key: (ctx) => ipBucket(ctx.ip),
    }),
    refreshFailures: context.failureLimit({
      name: 'refresh',
      max: config.RATE_LIMIT_REFRESH_FAILURES_PER_15_MINUTES,
      windowMs: 15 * 60_000,
    }),
  });
  const authenticate = authenticationMiddleware({
    knex: context.knex,
    accessTokens,
    cache,
    recordApiKeyUse: (keyId, userId, cause) => commands.recordApiKeyUse(keyId, userId, cause),
  });

  return {
    routers,
    authenticate,
    commands,
    async start() {
      await hasher.warmUp();
      listener = await listenToChannel({
        databaseUrl: context.databaseUrl,
        channel: identityChangedChannel,
        onMessage: (userId) => cache.evictUser(userId),
        onReconnect: () => cache.clear(),
        onError: (error) =>
          context.logger.warn({ err: error }, 'identity change notifications interrupted: caller cache cleared'),
      });
      if (config.ADMIN_USERNAME !== undefined && config.ADMIN_PASSWORD !== undefined) {
        const outcome = await commands.ensureAdmin(
          {
            username: config.ADMIN_USERNAME,
            email: config.ADMIN_EMAIL ?? defaultAdminEmail(config.ADMIN_USERNAME),
            password: config.ADMIN_PASSWORD,
          },
          systemCause('admin bootstrap from ADMIN_USERNAME'),
        );
        context.logger.info({ username: config.ADMIN_USERNAME, outcome }, 'admin bootstrap');
      }
    },
    async stop() {
      await commands.drain();
      await listener?.close();
    },
  };
}
