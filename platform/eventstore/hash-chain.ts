// Tamper evidence: every event's hash chains it to the previous event of its stream,
//   hash(n) = sha256( hash(n-1) || utf8( stream \n revision \n type \n data \n metadata ) )
// with hash(-1) empty and data/metadata in PostgreSQL's canonical jsonb text form. The Postgres
// adapter computes it inside the append statement; verify recomputes it from what is stored, so an
// edited row (or a deleted or reordered one) breaks the chain at exactly that event.
import { createHash } from 'node:crypto';

/** The hashed content, as SQL over a row alias with stream/revision/type/data/metadata columns. */
export const CHAIN_CONTENT_SQL = (alias: string, streamColumn = '$1'): string =>
  `${streamColumn} || E'\\n' || ${alias}.revision::text || E'\\n' || ${alias}.type || E'\\n' || ${alias}.data::text || E'\\n' || ${alias}.metadata::text`;

export interface ChainedRow {
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  /** jsonb::text as PostgreSQL renders it. */
  readonly dataText: string;
  readonly metadataText: string;
}

export function chainHash(previous: Buffer, row: ChainedRow): Buffer {
  return createHash('sha256')
    .update(previous)
    .update(`${row.streamId}\n${row.revision}\n${row.type}\n${row.dataText}\n${row.metadataText}`, 'utf8')
    .digest();
}

export const GENESIS = Buffer.alloc(0);
