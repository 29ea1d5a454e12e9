// Configuration: every environment variable is read here, once, and parsed with zod.
// Nothing else in the code base touches process.env (an eslint rule enforces it).
// A bad or missing value stops start-up with one message that lists every problem.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseSigningKey, parseVerifyKeys, signingKeyFromSeed } from './audit/keys.ts';
import type { AuditKeyRing, AuditSigningKey } from './audit/keys.ts';

const optionalUrl = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .refine((v) => v === undefined || protocols.some((p) => v.startsWith(`${p}://`)), {
      message: `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** The environment variables Vialog reads, with defaults. README's configuration table mirrors this. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(3000, 0, 65535),
  METRICS_PORT: int(9464, 0, 65535),
  /** OTLP/HTTP endpoint of a collector (e.g. http://otel-collector:4318); unset: traces stay in the process. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl(['http', 'https']),
  OTEL_SERVICE_NAME: z.string().min(1).max(100).default('vialog'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('./.data'),
  DATABASE_URL: optionalUrl(['postgres', 'postgresql']),
  /** The owner role's URL: migrations run as it, the service as DATABASE_URL's (runtime) role. */
  DATABASE_MIGRATION_URL: optionalUrl(['postgres', 'postgresql']),
  DATABASE_POOL_MAX: int(20, 1, 500),
  /** Ends a session of the service left idle inside a transaction (it would hold back every subscriber); 0: off. */
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(30_000, 0, 3_600_000),
  EVENTSTORE_URL: optionalUrl(['esdb', 'esdb+discover', 'kurrentdb', 'kurrentdb+discover', 'kdb', 'kdb+discover']),
  REDIS_URL: optionalUrl(['redis', 'rediss']),
  BODY_LIMIT_BYTES: int(64 * 1024, 1024, 10 * 1024 * 1024),
  RATE_LIMIT_PER_USER_PER_MINUTE: int(600, 1, 1_000_000),
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: int(100, 1, 1_000_000),
  RATE_LIMIT_LOGIN_FAILURES_PER_15_MINUTES: int(10, 1, 1_000_000),
  /** Per client network (IPv4 address, IPv6 /64): sized for a lab behind one address, not for one person. */
  RATE_LIMIT_REFRESH_FAILURES_PER_15_MINUTES: int(100, 1, 1_000_000),
  /** Older spelling of TRUST_PROXY_HOPS=1 (true) or 0 (false); TRUST_PROXY_HOPS wins when both are set. */
  TRUST_PROXY: bool(false),
  /** Proxies in front of the API that append to X-Forwarded-For: the client is the entry this many from the right. */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).optional(),
  IDEMPOTENCY_TTL_HOURS: int(24, 1, 24 * 30),
  READ_YOUR_WRITES_TIMEOUT_MS: int(5000, 0, 60_000),
  PROJECTION_BATCH_SIZE: int(500, 1, 10_000),
  PROJECTION_POLL_INTERVAL_MS: int(1000, 10, 60_000),
  /** Attempts at one event before its projection is marked failed and waits for an operator. */
  PROJECTION_MAX_ATTEMPTS: int(5, 1, 100),
  READY_MAX_PROJECTION_LAG_SECONDS: int(60, 1, 86_400),
  SHUTDOWN_TIMEOUT_MS: int(15_000, 100, 300_000),
  /** Comma-separated `kid:secret` pairs; the first signs, all verify. Generated in development. */
  JWT_KEYS: z.string().trim().optional(),
  JWT_ISSUER: z.string().min(1).default('vialog'),
  JWT_AUDIENCE: z.string().min(1).default('vialog-api'),
  /** 32 bytes, base64: wraps the per-person keys of crypto-shredding. Generated in development. */
  PERSONAL_DATA_KEY: z.string().trim().optional(),
  /** `kid:<32-byte Ed25519 seed, base64>`: signs audit digests. Generated in development. */
  AUDIT_SIGNING_KEY: z.string().trim().optional(),
  /** Comma-separated `kid:<32-byte Ed25519 public key, base64>` of retired signing keys. */
  AUDIT_VERIFY_KEYS: z.string().trim().optional(),
  AUDIT_DIGEST_EVERY_EVENTS: int(10_000, 0, 1_000_000_000),
  AUDIT_DIGEST_INTERVAL_SECONDS: int(3600, 0, 31 * 24 * 3600),
  ACCESS_TOKEN_TTL_SECONDS: int(15 * 60, 30, 24 * 3600),
  REFRESH_TOKEN_TTL_DAYS: int(30, 1, 365),
  ADMIN_USERNAME: z.string().trim().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  ADMIN_EMAIL: z.email().optional(),
  /** An OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 (Ollama); none = the offline assistant. */
  LLM_BASE_URL: optionalUrl(['http', 'https']),
  LLM_MODEL: z.string().min(1).max(200).default('gpt-4o-mini'),
  LLM_API_KEY: z.string().optional(),
  LLM_TIMEOUT_MS: int(30_000, 100, 600_000),
  LLM_MAX_RETRIES: int(2, 0, 10),
  DIALOG_MAX_MESSAGE_CHARS: int(4000, 1, 100_000),
  /** How old a sample's collection date may be, in years (0: no limit): legacy collections must be loadable. */
  SAMPLES_MAX_AGE_YEARS: int(10, 0, 999),
  DIALOG_MAX_MESSAGES_PER_CONVERSATION: int(200, 2, 10_000),
  DIALOG_CONTEXT_TOKENS: int(4000, 100, 1_000_000),
  DIALOG_DAILY_MESSAGES: int(200, 1, 1_000_000),
  DIALOG_DAILY_TOKENS: int(200_000, 1, 1_000_000_000),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  /** Absolute path of DATA_DIR. */
  readonly dataDir: string;
  /** Signing keys: the first signs, all verify. */
  readonly jwtKeys: readonly { kid: string; secret: string }[];
  /** The 32-byte master key of crypto-shredding. */
  readonly personalDataKey: Buffer;
  /** X-Forwarded-For entries appended by our own proxies (0: the socket's address is the client). */
  readonly trustProxyHops: number;
  /** Ed25519 keys of the audit digests: the one that signs, and every one that verifies. */
  readonly auditKeys: AuditKeyRing;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

function parseJwtKeys(text: string, problems: string[]): { kid: string; secret: string }[] {
  const keys = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      return { kid: i > 0 ? pair.slice(0, i) : '', secret: i > 0 ? pair.slice(i + 1) : '' };
    });
  if (keys.length === 0 || keys.some((k) => !/^[A-Za-z0-9_.-]{1,64}$/.test(k.kid))) {
    problems.push('JWT_KEYS: must be comma-separated kid:secret pairs (kid of [A-Za-z0-9_.-])');
  } else if (keys.some((k) => Buffer.byteLength(k.secret) < 32)) {
    problems.push('JWT_KEYS: every secret must be at least 32 bytes');
  }
  return keys;
}

/**
 * Secrets missing in development and test are generated once and kept under DATA_DIR,
 * so tokens survive restarts; in production a missing secret is fatal.
 */
function developmentSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, 'secrets', name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true }); // first, so only secrets/ gets the closed mode below
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  let jwtKeys: { kid: string; secret: string }[] = [];
  if (e.JWT_KEYS) jwtKeys = parseJwtKeys(e.JWT_KEYS, problems);
  else if (e.NODE_ENV === 'production')
    problems.push('JWT_KEYS: required in production (e.g. "k1:<48 random bytes, base64>")');
  let personalDataKey: Buffer | undefined;
  if (e.PERSONAL_DATA_KEY) {
    personalDataKey = Buffer.from(e.PERSONAL_DATA_KEY, 'base64');
    if (personalDataKey.length !== 32)
      problems.push('PERSONAL_DATA_KEY: must be 32 bytes, base64 (e.g. `openssl rand -base64 32`)');
  } else if (e.NODE_ENV === 'production')
    problems.push('PERSONAL_DATA_KEY: required in production (32 random bytes, base64)');
  let auditSigningKey: AuditSigningKey | undefined;
  if (e.AUDIT_SIGNING_KEY) auditSigningKey = parseSigningKey(e.AUDIT_SIGNING_KEY, problems);
  else if (e.NODE_ENV === 'production') problems.push('AUDIT_SIGNING_KEY: required in production (see `audit keygen`)');
  const signingKid = e.AUDIT_SIGNING_KEY ? auditSigningKey?.kid : 'dev';
  const retiredAuditKeys = parseVerifyKeys(e.AUDIT_VERIFY_KEYS, signingKid, problems);
  if (e.NODE_ENV === 'production' && !e.DATABASE_URL)
    problems.push('DATABASE_URL: required in production (the embedded PostgreSQL is for development)');
  if (e.DATABASE_MIGRATION_URL && !e.DATABASE_URL) {
    problems.push('DATABASE_MIGRATION_URL: needs DATABASE_URL (the runtime role) beside it');
  }
  if ((e.ADMIN_USERNAME === undefined) !== (e.ADMIN_PASSWORD === undefined)) {
    problems.push('ADMIN_USERNAME and ADMIN_PASSWORD: set both or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (jwtKeys.length === 0) jwtKeys = [{ kid: 'dev', secret: developmentSecret(dataDir, 'jwt-dev') }];
  personalDataKey ??= createHash('sha256').update(developmentSecret(dataDir, 'personal-data-dev')).digest();
  const trustProxyHops = e.TRUST_PROXY_HOPS ?? (e.TRUST_PROXY ? 1 : 0);
  const devSeed = () => createHash('sha256').update(developmentSecret(dataDir, 'audit-signing-dev')).digest();
  auditSigningKey ??= signingKeyFromSeed('dev', devSeed());
  const auditKeys: AuditKeyRing = { signing: auditSigningKey, verify: [auditSigningKey, ...retiredAuditKeys] };
  return { ...e, dataDir, jwtKeys, personalDataKey, trustProxyHops, auditKeys };
}
