// GET /audit/verify: recomputes the tamper-evidence chains (platform/eventstore/hash-chain.ts):
//   - every stream's chain, from the events table: an edited event, or a hash removed after the
//     chain started, breaks it at exactly that event (each row is checked against its stored
//     predecessor; a gap in revisions breaks it at the event after the gap);
//   - for an admin, also the audit read model's chain over the whole log.
// A user's call checks the streams their events belong to; an admin's, the whole log. This shows
// what an edit that left the hashes alone did; what survives a database administrator is the
// signed digests (POST /audit/verify, platform/audit/verify-log.ts).
import type { Knex } from 'knex';
import { queryAsOwner } from '../../platform/database/owner-scope.ts';
import { StreamLinks } from '../../platform/audit/verify-log.ts';
import { eventDigest } from '../../platform/eventstore/hash-chain.ts';
import { createHash } from 'node:crypto';

export interface VerifyResult {
  readonly ok: boolean;
  readonly checkedEvents: number;
  /** "<commit>/<prepare>" of the earliest event whose hash does not hold, or null. */
  readonly firstBrokenPosition: string | null;
}

interface EventRow {
  stream_id: string;
  revision: number;
  type: string;
  schema_version: number;
  data_text: string;
  metadata_text: string;
  hash: string | null;
  hash_version: number;
  commit: string;
  prepare: string;
}

const BATCH = 2_000;

class Findings {
  checked = 0;
  first: { commit: bigint; prepare: bigint } | undefined;
  broken(commit: string, prepare: string): void {
    const c = BigInt(commit);
    const p = BigInt(prepare);
    if (!this.first || c < this.first.commit || (c === this.first.commit && p < this.first.prepare))
      this.first = { commit: c, prepare: p };
  }
  result(): VerifyResult {
    return {
      ok: this.first === undefined,
      checkedEvents: this.checked,
      firstBrokenPosition: this.first ? `${this.first.commit}/${this.first.prepare}` : null,
    };
  }
}

const SELECT_EVENTS = `SELECT stream_id, revision, type, schema_version, data::text AS data_text,
  metadata::text AS metadata_text, encode(hash, 'hex') AS hash, hash_version,
  transaction_id::text AS commit, position::text AS prepare FROM events`;

/** Walks events in (stream, revision) order and checks each against its stored predecessor. */
type ChainState = { stream: string | undefined; links: StreamLinks };

function checkRows(rows: readonly EventRow[], state: ChainState, findings: Findings): void {
  for (const row of rows) {
    if (row.stream_id !== state.stream) {
      state.stream = row.stream_id;
      state.links = new StreamLinks();
    }
    findings.checked += 1;
    const event = {
      streamId: row.stream_id,
      revision: row.revision,
      type: row.type,
      schemaVersion: row.schema_version,
      dataText: row.data_text,
      metadataText: row.metadata_text,
      hash: row.hash ?? undefined,
      hashVersion: row.hash_version,
    };
    const gap = row.revision !== state.links.revision + 1;
    if (state.links.check(event, eventDigest(event)) !== undefined || gap) findings.broken(row.commit, row.prepare);
  }
}

export async function verifyAll(knex: Knex): Promise<VerifyResult> {
  const findings = new Findings();
  const state = { stream: undefined as string | undefined, links: new StreamLinks() };
  let after: { stream: string; revision: number } | undefined;
  for (;;) {
    const rows = (
      await knex.raw<{ rows: EventRow[] }>(
        `${SELECT_EVENTS} ${after ? 'WHERE (stream_id, revision) > (?, ?)' : ''} ORDER BY stream_id, revision LIMIT ${BATCH}`,
        after ? [after.stream, after.revision] : [],
      )
    ).rows;
    checkRows(rows, state, findings);
    if (rows.length < BATCH) break;
    const last = rows.at(-1)!;
    after = { stream: last.stream_id, revision: last.revision };
  }
  // The audit read model's chain over the log.
  let chain: Buffer = Buffer.alloc(0);
  let cursor: { commit: string; prepare: string } | undefined;
  for (;;) {
    const rows = (
      await knex.raw<{ rows: { commit: string; prepare: string; event_hash: Buffer | null; chain_hash: Buffer }[] }>(
        `SELECT position_commit::text AS commit, position_prepare::text AS prepare, event_hash, chain_hash FROM audit_events
          ${cursor ? 'WHERE (position_commit, position_prepare) > (?::numeric, ?::bigint)' : ''} ORDER BY position_commit, position_prepare LIMIT ${BATCH}`,
        cursor ? [cursor.commit, cursor.prepare] : [],
      )
    ).rows;
    for (const row of rows) {
      chain = createHash('sha256')
        .update(chain)
        .update(row.event_hash ?? Buffer.alloc(0))
        .digest();
      if (!chain.equals(row.chain_hash)) {
        findings.broken(row.commit, row.prepare);
        chain = row.chain_hash; // report each break once, then go on from what is stored
      }
    }
    if (rows.length < BATCH) break;
    cursor = rows.at(-1)!;
  }
  return findings.result();
}

export async function verifyOwner(knex: Knex, ownerId: string): Promise<VerifyResult> {
  const [streams] = await queryAsOwner<[{ stream_id: string }[]]>(knex, ownerId, [
    {
      sql: 'SELECT DISTINCT stream_id FROM audit_events WHERE owner_id = $1::uuid ORDER BY stream_id',
      params: [ownerId],
    },
  ]);
  const findings = new Findings();
  const state = { stream: undefined as string | undefined, links: new StreamLinks() };
  for (let i = 0; i < streams.length; i += 200) {
    const ids = streams.slice(i, i + 200).map((s) => s.stream_id);
    const rows = (
      await knex.raw<{ rows: EventRow[] }>(`${SELECT_EVENTS} WHERE stream_id = ANY(?) ORDER BY stream_id, revision`, [
        ids,
      ])
    ).rows;
    checkRows(rows, state, findings);
  }
  return findings.result();
}
