// Tamper evidence, per event and per stream. Every event has a content digest and a chain hash:
//
//   digest(n) = sha256( "vialog-event/2" \n len(stream):stream \n revision \n len(type):type \n
//                       schemaVersion \n data \n metadata )                       (UTF-8; len in bytes)
//   hash(n)   = sha256( hash(n-1) || digest(n) )          hash(-1) = empty, per stream
//
// data and metadata are the stored JSON text (PostgreSQL: canonical jsonb text; EventStoreDB: the
// JSON written). The lengths make stream and type unambiguous; JSON text holds no raw newline.
// The Postgres adapter computes the hash inside the append statement; verification recomputes
// both from what is stored. The digest is also what the signed whole-log head is built from
// (platform/audit/log-head.ts), so it covers every event, also those stored without a hash.
//
// Version 1 (events appended before version 2 existed; hash_version = 1) hashed
//   hash(n) = sha256( hash(n-1) || stream \n revision \n type \n data \n metadata )
// without the schema version; such rows keep verifying under that formula.
import { createHash, hash } from 'node:crypto';

export const CURRENT_HASH_VERSION = 2;

/** The version 2 content, as SQL over a row alias with revision/type/schema_version/data/metadata columns. */
export const CONTENT_V2_SQL = (alias: string, streamColumn = '$1'): string =>
  `convert_to('vialog-event/2' || E'\\n' || octet_length(${streamColumn})::text || ':' || ${streamColumn} || E'\\n' ||
    ${alias}.revision::text || E'\\n' || octet_length(${alias}.type)::text || ':' || ${alias}.type || E'\\n' ||
    ${alias}.schema_version::text || E'\\n' || ${alias}.data::text || E'\\n' || ${alias}.metadata::text, 'UTF8')`;

/** One event's stored content, exactly as hashed. */
export interface HashedContent {
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly schemaVersion: number;
  /** The stored JSON text of the data (PostgreSQL: jsonb::text). */
  readonly dataText: string;
  readonly metadataText: string;
}

export const GENESIS = Buffer.alloc(0);

/** digest(n): sha256 of the version 2 content. */
export function eventDigest(event: HashedContent): Buffer {
  const { streamId, type } = event;
  const content =
    `vialog-event/2\n${Buffer.byteLength(streamId)}:${streamId}\n${event.revision}\n` +
    `${Buffer.byteLength(type)}:${type}\n` +
    `${event.schemaVersion}\n${event.dataText}\n${event.metadataText}`;
  return hash('sha256', content, 'buffer');
}

/** One link's input (previous hash and digest side by side), reused: verification makes millions. */
const linkInput = Buffer.alloc(64);

/** sha256(previous || digest) for a previous hash of 0 or 32 bytes. */
export function link(previous: Buffer, digest: Buffer): Buffer {
  if (previous.length > 32 || digest.length !== 32) {
    return createHash('sha256').update(previous).update(digest).digest();
  }
  previous.copy(linkInput, 0);
  digest.copy(linkInput, previous.length);
  return hash('sha256', linkInput.subarray(0, previous.length + 32), 'buffer');
}

/** Version 1: hash(n) = sha256(hash(n-1) || stream \n revision \n type \n data \n metadata). */
export function chainHashV1(previous: Buffer, row: HashedContent): Buffer {
  return createHash('sha256')
    .update(previous)
    .update(`${row.streamId}\n${row.revision}\n${row.type}\n${row.dataText}\n${row.metadataText}`, 'utf8')
    .digest();
}

/** The chain hash an event must carry after `previous`, under its hash version; `digest` = eventDigest(row). */
export function expectedChainHash(version: number, previous: Buffer, row: HashedContent, digest: Buffer): Buffer {
  return version === 1 ? chainHashV1(previous, row) : link(previous, digest);
}
