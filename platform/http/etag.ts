// Optimistic concurrency over HTTP: single resources carry ETag "<version>", and a write may send
// If-Match "<version>"; the route compares it with the stream's version (412 when stale).
import type { Context } from 'koa';
import { HttpProblem } from './problem.ts';

export function setETag(ctx: Context, version: number): void {
  ctx.set('ETag', `"${version}"`);
}

/** The version an If-Match header asks for, or undefined when none was sent. */
export function ifMatchVersion(ctx: Context): number | undefined {
  const header = ctx.get('if-match').trim();
  if (header === '') return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header);
  if (!match) throw new HttpProblem(400, 'invalid_if_match', 'If-Match must be a quoted version, e.g. "3".');
  return Number(match[1]);
}

export function versionMismatch(current: number): HttpProblem {
  return new HttpProblem(412, 'version_mismatch', `The resource has changed: its current version is ${current}.`, { headers: { ETag: `"${current}"` } });
}
