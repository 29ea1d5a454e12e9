// Optimistic concurrency over HTTP: single resources carry ETag "<version>" (the stream version),
// and a write may send If-Match "<version>"; the route compares it with the stream's version and
// answers versionMismatch (412) when stale.
import type { Context } from 'koa';
import { HttpProblem } from './problem.ts';

export function setETag(ctx: Context, version: number): void {
  ctx.set('ETag', `"${version}"`);
}

/**
 * The version an If-Match header asks for; undefined when none was sent or it is `*` (any).
 * A malformed header is 400 `invalid_if_match`: guessing would risk overwriting a newer version.
 */
export function expectedVersionFromIfMatch(ctx: Context): number | undefined {
  const header = ctx.get('if-match').trim();
  if (header === '' || header === '*') return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header);
  if (!match)
    throw new HttpProblem(400, 'invalid_if_match', 'If-Match must be one quoted version, e.g. "3".', {
      errors: [{ path: 'If-Match', message: 'expected a quoted version such as "3"' }],
    });
  return Number(match[1]);
}
