// The service in its own process for the kill -9 test of aliquots and derivatives: once a parent's
// SampleAliquoted or SampleDerived is appended, every later append (the children's streams and
// barcode reservations) says PAUSED and never returns, so the test can kill the process exactly
// between the parent's event and its children's. The pause is put into this process's event store
// here, so production code needs no fault hook.
// Usage: node take-child.ts <databaseUrl>   (prints "API on <url>" when it listens)
import { Writable } from 'node:stream';
import { startService } from '../../app/service.ts';
import { createPasswordHasher } from '../../modules/identity/passwords.ts';
import { loadConfig } from '../../platform/config.ts';
import { PostgresEventStore } from '../../platform/eventstore/postgres.ts';
import { createLogger } from '../../platform/logging.ts';
import { testArgon2 } from './service.ts';

const [databaseUrl] = process.argv.slice(2);
if (!databaseUrl) throw new Error('usage: see the header');

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with its own `this` below
const append = PostgresEventStore.prototype.append;
let parentWritten = false;
PostgresEventStore.prototype.append = async function (this: PostgresEventStore, ...args: Parameters<typeof append>) {
  if (parentWritten) {
    console.log(`PAUSED before ${args[0]}`);
    return new Promise<never>(() => undefined);
  }
  const result = await append.apply(this, args);
  if (args[1].some((e) => e.type === 'SampleAliquoted' || e.type === 'SampleDerived')) parentWritten = true;
  return result;
};

const config = loadConfig({
  NODE_ENV: 'test',
  DATABASE_URL: databaseUrl,
  PORT: '0',
  DATA_DIR: '.data/test-service',
  DATABASE_POOL_MAX: '4',
  READ_YOUR_WRITES_TIMEOUT_MS: '500',
  JWT_KEYS: 'test-k1:0123456789abcdef0123456789abcdef0123456789',
});
const logger = createLogger({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
const service = await startService(
  config,
  logger,
  { api: true, projector: false },
  { handleSignals: false, passwordHasher: createPasswordHasher({ parameters: testArgon2 }) },
);
console.log(`API on ${service.url}`);
