// POST /audit/verify reads the whole log: one verification at a time per process, a second one
// meanwhile is 429 with Retry-After, and the first still answers. The real PostgreSQL store, held
// at its first page until the test lets it go.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { AuditDigester } from '../../platform/audit/digester.ts';
import { signingKeyFromSeed } from '../../platform/audit/keys.ts';
import { OpenApiRegistry } from '../../platform/http/openapi.ts';
import { createLogger } from '../../platform/logging.ts';
import { comparePositions, type EventStore } from '../../platform/eventstore/port.ts';
import { digestRouter } from '../../modules/audit/digest-routes.ts';
import { listenAsAdmin, type RunningApp } from '../support/http.ts';
import { fixture, type Fixture } from './projections-fixtures.ts';
import { newEvent } from './eventstore-contract.ts';

let fx: Fixture;
let app: RunningApp;
let release: () => void = () => undefined;
let held = false;
const signing = signingKeyFromSeed('route', randomBytes(32));
const auditKeys = { signing, verify: [signing] };

test.before(async () => {
  fx = await fixture();
  const appended = await fx.store.append('sample-route', [newEvent('A'), newEvent('B')], { expectedRevision: 'any' });
  // Readers see it once every older transaction on the server has ended (other test files run meanwhile).
  for (let tries = 0; tries < 400; tries++) {
    const head = await fx.store.headPosition();
    if (head && comparePositions(head, appended.position) >= 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Reads of the stored log wait while `held`, so a verification stays in flight.
  const gate = () => new Promise<void>((resolve) => (release = resolve));
  const store = new Proxy(fx.store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'readAllStored') {
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      }
      return async (options: Parameters<EventStore['readAllStored']>[0]) => {
        if (held) await gate();
        return target.readAllStored(options);
      };
    },
  });
  const logger = createLogger({ level: 'silent' });
  const options = { store, knex: fx.knex, keys: auditKeys, logger, databaseUrl: fx.db.url };
  const digester = new AuditDigester({ ...options, everyEvents: 0, intervalSeconds: 0 });
  const routers = [digestRouter({ knex: fx.knex, store, openapi: new OpenApiRegistry(), auditKeys, digester })];
  app = await listenAsAdmin(routers, '00000000-0000-4000-8000-000000000001');
});
test.after.always(async () => {
  release();
  await app?.close();
  await fx?.teardown();
});

const post = (body: unknown) => {
  const headers = { 'content-type': 'application/json' };
  return fetch(`${app.url}/api/v1/audit/verify`, { method: 'POST', headers, body: JSON.stringify(body) });
};

test('a second verification while one runs is 429 with Retry-After; the first still answers', async (t) => {
  const digest = await (await fetch(`${app.url}/api/v1/audit/digest`)).json();
  held = true;
  const first = post({ digest });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the first is now waiting at the gate
  const second = await post({ digest });
  t.is(second.status, 429);
  t.is(second.headers.get('retry-after'), '10');
  t.like(await second.json(), { code: 'rate_limited' });
  held = false;
  release();
  const answer = await first;
  t.is(answer.status, 200);
  t.like(await answer.json(), { ok: true, checkedEvents: 2 });
  t.is((await post({ digest })).status, 200, 'and the next one runs');
});
