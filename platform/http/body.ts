// JSON bodies only, within a size limit. The content type and the declared length are checked
// before anything is read, and the parser stops reading at the limit (an undeclared, chunked
// body too), so an oversized body is never buffered beyond the limit; the connection is then
// closed rather than drained. Every string of a parsed body, keys included, must be text
// (platform/text.ts): U+0000, other C0 controls and lone surrogates are 422 validation_failed
// naming the JSON path, before any route sees the body.
import type { Context, Middleware, Next } from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import { unsafeTextIn } from '../text.ts';
import { HttpProblem } from './problem.ts';

const NOT_TEXT = 'The request body holds characters that are not text.';
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function payloadTooLarge(limitBytes: number): HttpProblem {
  return new HttpProblem(413, 'payload_too_large', `The request body is larger than ${limitBytes} bytes.`, {
    headers: { Connection: 'close' },
  });
}

/**
 * `ownBodies`: POST paths whose route reads the body itself (e.g. a file upload with its own type
 * and limit); the JSON parser leaves their body unread.
 */
export function jsonBodyMiddleware(limitBytes: number, ownBodies: ReadonlySet<string> = new Set()): Middleware {
  const parse = koaBody({
    json: true,
    jsonStrict: true,
    jsonLimit: limitBytes,
    multipart: false,
    urlencoded: false,
    text: false,
    encoding: 'utf-8',
    parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    onError: (error) => {
      throw error;
    },
  });
  const parseChecked = async (ctx: Context, next: Next): Promise<void> => {
    if (hasBody(ctx.req.headers)) {
      if (!ctx.is('application/json'))
        throw new HttpProblem(415, 'unsupported_media_type', 'Send the body as application/json.');
      const declared = Number(ctx.get('content-length'));
      if (Number.isFinite(declared) && declared > limitBytes) throw payloadTooLarge(limitBytes);
    }
    await parse(ctx, () => {
      const errors = unsafeTextIn(ctx.request.body);
      if (errors.length > 0) throw new HttpProblem(422, 'validation_failed', NOT_TEXT, { errors });
      return next();
    });
  };
  // Reads (GET, HEAD, OPTIONS) carry no body to check or parse.
  return (ctx, next) =>
    METHODS_WITH_BODY.has(ctx.method) && !(ctx.method === 'POST' && ownBodies.has(ctx.path))
      ? parseChecked(ctx, next)
      : next();
}
