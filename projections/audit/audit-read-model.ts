// The audit read model: every event of every module, as an inspector reads it (who, when, why,
// from which request, what changed), with secrets replaced by "[redacted]", and a second hash
// chain over the global log: chain(n) = sha256(chain(n-1) || event hash(n)). Each row belongs to
// the user the event is about (owner_id), so a user sees their own trail (row-level security).
import { createHash, hash } from 'node:crypto';
import { copyRows, type CopyValue } from '../../platform/database/copy.ts';
import { ownerPolicy } from '../../platform/database/owner-scope.ts';
import { storableJson, storableText } from '../../platform/text.ts';
import type { RecordedEvent } from '../../platform/eventstore/port.ts';
import { identityEvents } from '../../modules/identity/events.ts';
import { sampleEventTypes } from '../../modules/samples/events.ts';
import { dialogEvents } from '../../modules/dialog/events.ts';
import { labEventTypes } from '../../modules/labs/events.ts';
import { storageEvents } from '../../modules/storage/events.ts';
import { importEventTypes } from '../../modules/imports/events.ts';
import { projectionOperationEventTypes, type Projection } from '../engine/index.ts';

export const auditProjectionName = 'audit';

/** Fields that hold secrets or their digests: never shown in the audit trail. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'passwordHash',
  'refreshTokenHash',
  'secretHash',
  'reusedTokenHash',
]);

const auditEvents = (t: string) => `CREATE TABLE "${t}" (
  position_commit  numeric(20,0) NOT NULL,
  position_prepare bigint NOT NULL,
  stream_id        text NOT NULL,
  revision         integer NOT NULL,
  type             text NOT NULL,
  occurred_at      timestamptz NOT NULL,
  actor_id         text,
  actor_type       text NOT NULL,
  request_id       text,
  correlation_id   text,
  reason           text,
  data             jsonb NOT NULL,
  owner_id         uuid,
  event_hash       bytea,
  chain_hash       bytea NOT NULL,
  CONSTRAINT "${t}_pkey" PRIMARY KEY (position_commit, position_prepare));
CREATE INDEX "${t}_by_owner" ON "${t}" (owner_id, position_commit, position_prepare);
CREATE INDEX "${t}_by_stream" ON "${t}" (stream_id, revision);
${ownerPolicy(t)}`;

function redact(data: Record<string, unknown>): Record<string, unknown> {
  // Most events carry no secret field: they are kept as they are, not copied.
  let secret = false;
  for (const key in data) if (SECRET_FIELDS.has(key)) secret = true;
  if (!secret) return data;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? '[redacted]' : v]));
}

function ownerOf(data: Record<string, unknown>): string | null {
  const owner = data.ownerId ?? data.userId;
  return typeof owner === 'string' && /^[0-9a-f-]{36}$/i.test(owner) ? owner : null;
}

/** The input of one link: previous chain hash and event hash side by side (reused: a rebuild makes a million links). */
const linkInput = Buffer.alloc(64);

/** chain(n) = sha256(chain(n-1) || event hash(n)); either part may be empty (the first link, an event from before hashes). */
export function globalChainHash(previous: Buffer, eventHashHex: string | undefined): Buffer {
  if (previous.length > 32 || (eventHashHex !== undefined && eventHashHex.length > 64)) {
    return createHash('sha256')
      .update(previous)
      .update(eventHashHex ? Buffer.from(eventHashHex, 'hex') : Buffer.alloc(0))
      .digest();
  }
  previous.copy(linkInput, 0);
  const length = previous.length + (eventHashHex ? linkInput.write(eventHashHex, previous.length, 'hex') : 0);
  return hash('sha256', linkInput.subarray(0, length), 'buffer');
}

/** Text for a text column (an event from before the append-time checks may hold U+0000). */
const text = (value: string | null): string | null => (value === null ? null : storableText(value));

/** Every module's events, and operators' decisions about projections (a skipped event). */
export const auditEventTypes: readonly string[] = [
  ...identityEvents.types,
  ...sampleEventTypes,
  ...labEventTypes,
  ...dialogEvents.types,
  ...storageEvents.types,
  ...importEventTypes,
  ...projectionOperationEventTypes,
];

const AUDIT_COLUMNS = [
  'position_commit',
  'position_prepare',
  'stream_id',
  'revision',
  'type',
  'occurred_at',
  'actor_id',
  'actor_type',
  'request_id',
  'correlation_id',
  'reason',
  'data',
  'owner_id',
  'event_hash',
  'chain_hash',
] as const;

export const auditProjection: Projection = {
  name: auditProjectionName,
  version: 1,
  eventTypes: auditEventTypes,
  tables: { audit_events: auditEvents },
  async apply(events: readonly RecordedEvent[], { trx, table }) {
    const t = table('audit_events');
    // The chain continues from the newest row already there; events already there are skipped
    // (a batch replayed after a crash), so the chain is the same however batches fall.
    const last = await trx.raw<{ rows: { position_commit: string; position_prepare: string; chain_hash: Buffer }[] }>(
      // Ordered by the numeric columns (qualified: the ::text output names would sort as text).
      `SELECT a.position_commit::text, a.position_prepare::text, a.chain_hash FROM "${t}" a ORDER BY a.position_commit DESC, a.position_prepare DESC LIMIT 1`,
    );
    let chain = last.rows[0]?.chain_hash ?? Buffer.alloc(0);
    const after = last.rows[0]
      ? { commit: BigInt(last.rows[0].position_commit), prepare: BigInt(last.rows[0].position_prepare) }
      : undefined;
    const rows: CopyValue[][] = [];
    for (const e of events) {
      if (
        after &&
        (e.position.commit < after.commit ||
          (e.position.commit === after.commit && e.position.prepare <= after.prepare))
      )
        continue;
      chain = globalChainHash(chain, e.hash);
      const m = e.metadata;
      rows.push([
        e.position.commit,
        e.position.prepare,
        storableText(e.streamId),
        e.revision,
        storableText(e.type),
        m.occurredAt,
        text(m.actorId),
        m.actorType,
        text(m.requestId),
        text(m.correlationId),
        text(m.reason ?? null),
        storableJson(redact(e.data)),
        ownerOf(e.data),
        // bytea in COPY's text format: copyField doubles the backslash of \x, as it does for a Buffer.
        e.hash ? `\\x${e.hash}` : null,
        chain,
      ]);
    }
    // COPY: a rebuild writes a million of these rows (docs/projections.md, "Bulk writes").
    await copyRows(trx, t, AUDIT_COLUMNS, rows);
  },
};
