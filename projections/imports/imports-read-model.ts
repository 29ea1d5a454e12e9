// The imports read model: one row per import job, for GET /imports?labId= and the duplicate check
// (earlier imports of the same file into the same lab). Idempotent: each row carries the revision
// of the last event applied; an event at or below it changes nothing.
import type { Knex } from 'knex';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import {
  isImportEventType,
  parseImportEvent,
  importEventTypes,
  type ImportEvent,
} from '../../modules/imports/events.ts';
import type { Projection } from '../engine/index.ts';

export const importsProjectionName = 'imports';

const imports = (t: string) => `CREATE TABLE "${t}" (
  import_id    uuid CONSTRAINT "${t}_pkey" PRIMARY KEY,
  lab_id       uuid NOT NULL,
  sha256       text NOT NULL,
  mode         text NOT NULL,
  dry_run      boolean NOT NULL,
  status       text NOT NULL,
  rows         integer,
  created      integer NOT NULL DEFAULT 0,
  submitted_at timestamptz NOT NULL,
  finished_at  timestamptz,
  version      integer NOT NULL);
CREATE INDEX "${t}_by_lab" ON "${t}" (lab_id, submitted_at DESC, import_id DESC);
CREATE INDEX "${t}_by_file" ON "${t}" (lab_id, sha256);
GRANT SELECT ON "${t}" TO vialog_reader`;

type Changes = Record<string, string | number | boolean | null>;

function changesOf(e: Exclude<ImportEvent, { type: 'ImportSubmitted' }>): Changes {
  switch (e.type) {
    case 'ImportValidated':
      return { status: 'validated', rows: e.data.rows };
    case 'ImportStarted':
    case 'ImportResumed':
      return { status: 'importing' };
    case 'ImportProgressed':
      return { created: e.data.created };
    case 'ImportCancelRequested':
      return {};
    case 'ImportCompleted':
      return { status: 'completed', created: e.data.created, finished_at: e.data.completedAt };
    case 'ImportFailed':
      return { status: 'failed', created: e.data.created, finished_at: e.data.failedAt };
    case 'ImportCancelled':
      return { status: 'cancelled', created: e.data.created, finished_at: e.data.cancelledAt };
  }
}

async function applyEvent(trx: Knex.Transaction, table: string, e: ImportEvent, version: number): Promise<void> {
  if (e.type === 'ImportSubmitted') {
    const d = e.data;
    await trx.raw(
      `INSERT INTO "${table}" (import_id, lab_id, sha256, mode, dry_run, status, submitted_at, version)
       VALUES (?, ?, ?, ?, ?, 'validating', ?, ?) ON CONFLICT (import_id) DO NOTHING`,
      [d.importId, d.labId, d.sha256, d.mode, d.dryRun, d.submittedAt, version],
    );
    return;
  }
  const changes = { ...changesOf(e), version };
  const columns = Object.keys(changes);
  await trx.raw(
    `UPDATE "${table}" SET ${columns.map((c) => `"${c}" = ?`).join(', ')} WHERE import_id = ? AND version < ?`,
    [...Object.values(changes), e.data.importId, version],
  );
}

export const importsProjection: Projection = {
  name: importsProjectionName,
  version: 1,
  eventTypes: importEventTypes,
  tables: { imports: imports },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    for (const event of events) {
      if (!isImportEventType(event.type)) continue;
      await applyEvent(trx, table('imports'), parseImportEvent(event.type, event.data), event.revision + 1);
    }
  },
};
