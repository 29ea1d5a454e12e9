// A state change may say why: header X-Change-Reason (URL-encoded if it needs non-ASCII) or body
// field `reason`, at most 500 characters. The header wins when both are sent. The reason goes into
// the event metadata and shows in history. Either must be text (platform/text.ts): the header is
// checked after URL-decoding, so `%00` is refused like a raw U+0000.
import type { Context } from 'koa';
import { textProblem } from '../text.ts';
import { HttpProblem } from './problem.ts';

export const MAX_REASON_LENGTH = 500;

function decodeHeader(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // not URL-encoded after all: take it as sent
  }
}

/**
 * The change reason for the event metadata, or null; 422 validation_failed when over 500
 * characters or not text.
 */
export function changeReason(ctx: Context, bodyReason?: string | null): string | null {
  const header = ctx.get('x-change-reason').trim();
  const fromHeader = header !== '';
  const reason = (fromHeader ? decodeHeader(header) : (bodyReason ?? '')).trim();
  const path = fromHeader ? 'X-Change-Reason' : 'reason';
  if (reason.length > MAX_REASON_LENGTH) {
    const errors = [{ path, message: `at most ${MAX_REASON_LENGTH} characters` }];
    throw new HttpProblem(422, 'validation_failed', 'The change reason is too long.', { errors });
  }
  const problem = textProblem(reason);
  if (problem) {
    const errors = [{ path, message: problem }];
    const detail = 'The change reason holds characters that are not text.';
    throw new HttpProblem(422, 'validation_failed', detail, { errors });
  }
  return reason === '' ? null : reason;
}
