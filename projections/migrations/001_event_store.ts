// The PostgreSQL event store: one append-only table.
// Global order is (transaction_id, position), not position alone: concurrent transactions
// commit out of position order, so readers only read rows whose transaction is older than the
// oldest one still running (pg_snapshot_xmin) — see platform/eventstore/postgres.ts.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE events (
      position        bigint GENERATED ALWAYS AS IDENTITY,
      transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
      stream_id       text        NOT NULL,
      revision        integer     NOT NULL CHECK (revision >= 0),
      event_id        uuid        NOT NULL,
      type            text        NOT NULL,
      schema_version  integer     NOT NULL,
      data            jsonb       NOT NULL,
      metadata        jsonb       NOT NULL,
      recorded_at     timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT events_pkey PRIMARY KEY (position),
      CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision),
      CONSTRAINT events_event_id_key UNIQUE (event_id)
    )`);
  await knex.raw('CREATE INDEX events_global_order_idx ON events (transaction_id, position)');
  // No index by type: a filtered read walks the global order index and skips other types, which
  // keeps every page O(page) — a type index makes the planner sort all remaining matches per page.
  // Events are facts: nobody updates or deletes them through the application role.
  await knex.raw(`
    CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'events are append-only (% on events refused)', TG_OP USING ERRCODE = 'restrict_violation';
    END $$`);
  await knex.raw(`
    CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW WHEN (current_setting('vialog.allow_event_rewrite', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION events_are_immutable()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS events');
  await knex.raw('DROP FUNCTION IF EXISTS events_are_immutable()');
}
