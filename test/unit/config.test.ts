import test from 'ava';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateAuditKey } from '../../platform/audit/keys.ts';
import { ConfigError, envSchema, loadConfig } from '../../platform/config.ts';

const tempDataDir = () => mkdtempSync(path.join(tmpdir(), 'vialog-config-'));

test('defaults: port 3000, memory rate limits, Postgres event store, embedded database', (t) => {
  const config = loadConfig({ DATA_DIR: tempDataDir() });
  t.is(config.PORT, 3000);
  t.is(config.HOST, '127.0.0.1');
  t.is(config.DATABASE_URL, undefined);
  t.is(config.EVENTSTORE_URL, undefined);
  t.is(config.REDIS_URL, undefined);
  t.is(config.BODY_LIMIT_BYTES, 65536);
});

test('every problem is listed in one error', (t) => {
  const error = t.throws(() => loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' }), {
    instanceOf: ConfigError,
  });
  t.is(error.problems.length, 3);
  t.regex(error.message, /PORT/);
  t.regex(error.message, /REDIS_URL/);
  t.regex(error.message, /LOG_LEVEL/);
});

test('production: missing secrets and database are fatal, all named at once', (t) => {
  const error = t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: tempDataDir() }), {
    instanceOf: ConfigError,
  });
  t.true(error.problems.some((p) => p.startsWith('JWT_KEYS')));
  t.true(error.problems.some((p) => p.startsWith('DATABASE_URL')));
  t.true(error.problems.some((p) => p.startsWith('PERSONAL_DATA_KEY')));
  t.true(error.problems.some((p) => p.startsWith('AUDIT_SIGNING_KEY')));
});

test('PERSONAL_DATA_KEY must be 32 bytes; in development one is generated and kept', (t) => {
  const bad = t.throws(
    () => loadConfig({ PERSONAL_DATA_KEY: Buffer.alloc(16).toString('base64'), DATA_DIR: tempDataDir() }),
    { instanceOf: ConfigError },
  );
  t.true(bad.problems.some((p) => p.startsWith('PERSONAL_DATA_KEY')));
  const dataDir = tempDataDir();
  const first = loadConfig({ DATA_DIR: dataDir });
  t.is(first.personalDataKey.length, 32);
  t.true(first.personalDataKey.equals(loadConfig({ DATA_DIR: dataDir }).personalDataKey));
  const given = Buffer.alloc(32, 7);
  t.true(
    loadConfig({ PERSONAL_DATA_KEY: given.toString('base64'), DATA_DIR: tempDataDir() }).personalDataKey.equals(given),
  );
});

test('development: a generated signing secret is kept under DATA_DIR and reused', (t) => {
  const dataDir = tempDataDir();
  const first = loadConfig({ DATA_DIR: dataDir });
  const second = loadConfig({ DATA_DIR: dataDir });
  t.is(first.jwtKeys.length, 1);
  t.true(first.jwtKeys[0]!.secret.length >= 32);
  t.deepEqual(first.jwtKeys, second.jwtKeys);
  const mode = statSync(path.join(dataDir, 'secrets', 'jwt-dev')).mode & 0o777;
  t.is(mode, 0o600);
});

test('JWT_KEYS: short secrets and malformed pairs are refused', (t) => {
  t.throws(() => loadConfig({ JWT_KEYS: 'k1:short' }), { instanceOf: ConfigError, message: /32 bytes/ });
  t.throws(() => loadConfig({ JWT_KEYS: 'no-colon-here' }), { instanceOf: ConfigError, message: /kid:secret/ });
  const ok = loadConfig({ JWT_KEYS: `new:${'a'.repeat(40)},old:${'b'.repeat(40)}` });
  t.deepEqual(
    ok.jwtKeys.map((k) => k.kid),
    ['new', 'old'],
  );
});

test('trusted proxies: TRUST_PROXY_HOPS counts them; the older TRUST_PROXY=true means one; none by default', (t) => {
  const hops = (env: Record<string, string>) => loadConfig({ DATA_DIR: tempDataDir(), ...env }).trustProxyHops;
  t.is(hops({}), 0);
  t.is(hops({ TRUST_PROXY: 'true' }), 1);
  t.is(hops({ TRUST_PROXY_HOPS: '2' }), 2);
  t.is(hops({ TRUST_PROXY: 'true', TRUST_PROXY_HOPS: '0' }), 0, 'the hop count wins');
  t.throws(() => loadConfig({ TRUST_PROXY_HOPS: '-1' }), { instanceOf: ConfigError, message: /TRUST_PROXY_HOPS/ });
});

test('AUDIT_SIGNING_KEY: an Ed25519 seed with a key id; in development one is generated and kept', (t) => {
  const dataDir = tempDataDir();
  const first = loadConfig({ DATA_DIR: dataDir });
  t.is(first.auditKeys.signing.kid, 'dev');
  const publicJwk = (config: ReturnType<typeof loadConfig>) =>
    config.auditKeys.signing.publicKey.export({ format: 'jwk' });
  t.deepEqual(publicJwk(first), publicJwk(loadConfig({ DATA_DIR: dataDir })));
  t.is(statSync(path.join(dataDir, 'secrets', 'audit-signing-dev')).mode & 0o777, 0o600);
  const given = generateAuditKey('k2');
  const config = loadConfig({ AUDIT_SIGNING_KEY: given.signingKey, DATA_DIR: tempDataDir() });
  t.is(config.auditKeys.signing.kid, 'k2');
  t.is(`k2:${config.auditKeys.signing.publicKey.export({ format: 'jwk' }).x}`, given.verifyKey);
  for (const bad of ['k2', 'k2:short', `bad kid:${Buffer.alloc(32).toString('base64')}`]) {
    const expected = { instanceOf: ConfigError, message: /AUDIT_SIGNING_KEY/ };
    t.throws(() => loadConfig({ AUDIT_SIGNING_KEY: bad, DATA_DIR: tempDataDir() }), expected, bad);
  }
});

test('AUDIT_VERIFY_KEYS: retired public keys verify beside the signing key; ids are unique', (t) => {
  const current = generateAuditKey('k3');
  const retired = [generateAuditKey('k1').verifyKey, generateAuditKey('k2').verifyKey];
  const signing = { AUDIT_SIGNING_KEY: current.signingKey, DATA_DIR: tempDataDir() };
  const config = loadConfig({ ...signing, AUDIT_VERIFY_KEYS: retired.join(',') });
  t.deepEqual(
    config.auditKeys.verify.map((k) => k.kid),
    ['k3', 'k1', 'k2'],
  );
  const reuse = { ...signing, AUDIT_VERIFY_KEYS: current.verifyKey };
  const reused = t.throws(() => loadConfig(reuse), { instanceOf: ConfigError });
  t.regex(reused.message, /AUDIT_VERIFY_KEYS: key id k3 is used twice/);
  const malformed = { AUDIT_VERIFY_KEYS: 'k1:nope', DATA_DIR: tempDataDir() };
  t.throws(() => loadConfig(malformed), { instanceOf: ConfigError, message: /AUDIT_VERIFY_KEYS/ });
});

test('README documents every environment variable', (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const missing = Object.keys(envSchema.shape).filter((name) => !readme.includes(`\`${name}\``));
  t.deepEqual(missing, []);
});
