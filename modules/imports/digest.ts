// The file's identity for the duplicate check: SHA-256 of its exact bytes (a byte-order mark or
// line ends changed make another file), computed as the bytes stream past.
import { createHash } from 'node:crypto';
import type { ByteSource } from './parse.ts';

export interface FileDigest {
  readonly sha256: string;
  readonly bytes: number;
}

export async function digestFile(source: ByteSource): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    bytes += buffer.byteLength;
    hash.update(buffer);
  }
  return { sha256: hash.digest('hex'), bytes };
}
