// The whole service (API + projections in one process, as `vialog serve`) on a fresh test
// database, for HTTP tests of the modules. Argon2 runs with small parameters here so a test file
// can register many users; the production parameters are covered by the password unit tests.
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logging.ts';
import { createPasswordHasher, type PasswordHasher } from '../../modules/identity/passwords.ts';
import { startService, type RunningService } from '../../app/service.ts';
import type { TestFn } from 'ava';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { captureLogs } from './logs.ts';

export const testArgon2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 } as const;

export interface TestService {
  readonly url: string;
  readonly api: string;
  readonly db: TestDatabase;
  readonly service: RunningService;
  readonly logLines: string[];
  stop(): Promise<void>;
}

export async function startTestService(
  env: Record<string, string> = {},
  options: { passwordHasher?: PasswordHasher } = {},
): Promise<TestService> {
  const db = await createTestDatabase('vialog_http');
  const { lines: logLines, logger } = captureLogs();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    PORT: '0',
    DATA_DIR: '.data/test-service',
    // Small pools: several test files run services at once against one server (max_connections).
    DATABASE_POOL_MAX: '4',
    PROJECTION_POLL_INTERVAL_MS: '200',
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
    ...env,
  });
  const service = await startService(
    config,
    logger,
    { api: true, projector: true },
    {
      handleSignals: false,
      passwordHasher: options.passwordHasher ?? createPasswordHasher({ parameters: testArgon2 }),
    },
  );
  const url = service.url!;
  return {
    url,
    api: `${url}/api/v1`,
    db,
    service,
    logLines,
    async stop() {
      await service.stop();
      await db.drop();
    },
  };
}

/**
 * One test service for the whole test file: started in a serial before hook (so the file's own
 * before hooks, registered after this call, find it running) and stopped after the last test. The
 * object returned reads the running service.
 */
export function useTestService(
  test: TestFn,
  env: Record<string, string> = {},
  options: { passwordHasher?: PasswordHasher } = {},
): TestService {
  let running: TestService | undefined;
  test.serial.before(async () => {
    running = await startTestService(env, options);
  });
  test.after.always(async () => {
    await running?.stop();
  });
  const current = (): TestService => {
    if (!running) throw new Error('the test service is not started yet');
    return running;
  };
  return {
    get url() {
      return current().url;
    },
    get api() {
      return current().api;
    },
    get db() {
      return current().db;
    },
    get service() {
      return current().service;
    },
    get logLines() {
      return current().logLines;
    },
    stop: () => current().stop(),
  };
}

/** The environment that bootstraps this admin account at start-up. */
export const bootstrapAdmin = (admin: { readonly username: string; readonly password: string }) => ({
  ADMIN_USERNAME: admin.username,
  ADMIN_PASSWORD: admin.password,
});

/**
 * Another API instance on a test service's database (as behind a load balancer), with the same
 * keys; the first one runs the projections.
 */
export async function startSecondApi(
  first: TestService,
  env: Record<string, string> = {},
): Promise<{ readonly service: RunningService; readonly api: string }> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: first.db.url,
    PORT: '0',
    DATA_DIR: '.data/test-service',
    JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
    LOG_LEVEL: 'silent',
    DATABASE_POOL_MAX: '4',
    ...env,
  });
  const service = await startService(
    config,
    createLogger({ level: 'silent' }),
    { api: true, projector: false },
    { handleSignals: false, passwordHasher: createPasswordHasher({ parameters: testArgon2 }) },
  );
  return { service, api: `${service.url!}/api/v1` };
}

export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly token?: string;
  readonly apiKey?: string;
  readonly headers?: Record<string, string>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers loosely
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
      : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface TestUser {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly accessToken: string;
  readonly refreshToken: string;
}

/** Logs in an account that exists already (the bootstrap admin): its access token. */
export async function loginToken(api: string, who: { readonly username: string; readonly password: string }) {
  const login = await call(api, 'POST', '/auth/login', { body: { login: who.username, password: who.password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return login.body.accessToken as string;
}

let counter = 0;
/** Registers and logs in a new user with a unique name. */
export async function newUser(api: string, prefix = 'user'): Promise<TestUser> {
  counter += 1;
  const username = `${prefix}${counter}_${Math.random().toString(36).slice(2, 8)}`;
  const email = `${username}@lab.example`;
  const password = `violet-Harbor-${counter}-kestrel`;
  const registered = await call(api, 'POST', '/auth/register', { body: { username, email, password } });
  if (registered.status !== 201)
    throw new Error(`register failed: ${registered.status} ${JSON.stringify(registered.body)}`);
  const login = await call(api, 'POST', '/auth/login', { body: { login: username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    id: registered.body.id,
    username,
    email,
    password,
    accessToken: login.body.accessToken,
    refreshToken: login.body.refreshToken,
  };
}
