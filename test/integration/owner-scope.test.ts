// Queries in a caller's scope (platform/database/owner-scope.ts): one round trip, the caller's
// groups read in the query's own transaction, row-level security as the second lock.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Knex } from 'knex';
import { createKnex } from '../../platform/database/knex.ts';
import { inCallerScope, queryInScope, scopePolicy, type Statement } from '../../platform/database/owner-scope.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let knex: Knex;
const [red, green, blue] = [randomUUID(), randomUUID(), randomUUID()];
const [ada, bob] = [randomUUID(), randomUUID()];

/** The user's groups as comma-separated ids, from the membership table (as labScope does for labs). */
const groupsOf = (userId: string): Statement => ({
  sql: `SELECT string_agg(group_id::text, ',') FROM scoped_members WHERE user_id = $1::uuid`,
  params: [userId],
});

test.before(async () => {
  db = await createTestDatabase('vialog_scope');
  knex = createKnex({ url: db.url, poolMax: 2 });
  await migrateToLatest(knex); // the reader role
  await knex.raw(`CREATE TABLE scoped_rows (id serial PRIMARY KEY, lab_id uuid NOT NULL, note text NOT NULL);
    ${scopePolicy('scoped_rows')};
    CREATE TABLE scoped_members (user_id uuid NOT NULL, group_id uuid NOT NULL)`);
  for (const [lab, n] of [
    [red, 3],
    [green, 2],
    [blue, 4],
  ] as const)
    for (let i = 0; i < n; i++) await knex('scoped_rows').insert({ lab_id: lab, note: `row ${i}` });
  await knex('scoped_members').insert([
    { user_id: ada, group_id: red },
    { user_id: ada, group_id: green },
  ]);
});

test.after.always(async () => {
  await knex?.destroy();
  await db?.drop();
});

test.serial("a query without any filter sees only the caller's groups, which come back first", async (t) => {
  const [scope, rows] = await queryInScope<[{ lab_id: string }[]]>(knex, ada, groupsOf(ada), [
    { sql: 'SELECT lab_id FROM scoped_rows' },
  ]);
  t.deepEqual(scope[0]!.scope!.split(',').sort(), [red, green].sort());
  t.is(rows.length, 5);
  t.true(rows.every((r) => r.lab_id === red || r.lab_id === green));
  const [none, nothing] = await queryInScope<[unknown[]]>(knex, bob, groupsOf(bob), [
    { sql: 'SELECT * FROM scoped_rows' },
  ]);
  t.deepEqual(none, [{ scope: null }]);
  t.deepEqual(nothing, []);
});

test.serial('a change of membership counts on the very next query', async (t) => {
  await knex('scoped_members').insert({ user_id: bob, group_id: blue });
  const [, rows] = await queryInScope<[{ n: number }[]]>(knex, bob, groupsOf(bob), [
    { sql: 'SELECT count(*)::int AS n FROM scoped_rows' },
  ]);
  t.deepEqual(rows, [{ n: 4 }]);
});

test.serial('the groups become an array once per statement (an init plan), not once per row', async (t) => {
  const [, plan] = await queryInScope<[{ 'QUERY PLAN': string }[]]>(knex, ada, groupsOf(ada), [
    { sql: `EXPLAIN (COSTS OFF) SELECT * FROM scoped_rows WHERE ${inCallerScope()}` },
  ]);
  const text = plan.map((r) => r['QUERY PLAN']).join('\n');
  // Both the policy and the query's own filter: each an init plan, and no per-row string_to_array.
  t.is(text.match(/InitPlan/g)?.length, 2, text);
  t.false(/Filter:.*= ANY \(\(string_to_array/.test(text), text);
});
