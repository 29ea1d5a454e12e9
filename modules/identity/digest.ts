// SHA-256 digests of high-entropy secrets (refresh tokens, API keys) and of normalized emails
// (reservation stream ids), compared in constant time. Passwords never come here: they use argon2id.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time equality of two hex digests; false (not an exception) when lengths differ. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
