// Errors as RFC 9457 problem details (application/problem+json), never a stack trace, SQL text
// or secret: route code throws HttpProblem; anything else becomes a generic 500, logged with the
// request id. Answers that Koa or the router produce without a body (404, 405, 501) become
// problems too.
import type { Context, Middleware } from 'koa';
import { DomainError, type FieldError } from '../commands/decision.ts';
import type { AppState } from './state.ts';

export type { FieldError };

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The code used when nothing more specific is known about a status. */
const DEFAULT_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  412: 'version_mismatch',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
  501: 'not_implemented',
  503: 'not_ready',
};

export const INTERNAL_ERROR_DETAIL = 'Something went wrong on our side. Quote the request id when reporting it.';

export interface HttpProblemOptions {
  readonly errors?: readonly FieldError[];
  readonly headers?: Record<string, string>;
  /** Extra members of the problem body (RFC 9457 extensions), e.g. per-check detail. */
  readonly extensions?: Record<string, unknown>;
}

/** Throw this from route code: it becomes a problem+json answer with the given status and code. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  readonly status: number;
  readonly code: string;
  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly extensions: Readonly<Record<string, unknown>>;
  constructor(status: number, code: string, detail: string, options: HttpProblemOptions = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export function problemBody(problem: HttpProblem, requestId: string): ProblemBody {
  return {
    ...problem.extensions,
    type: `/problems/${problem.code}`,
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    requestId,
    ...(problem.errors ? { errors: [...problem.errors] } : {}),
  };
}

export function sendProblem(ctx: Context, problem: HttpProblem): void {
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.status = problem.status;
  ctx.type = 'application/problem+json';
  ctx.body = problemBody(problem, (ctx.state as AppState).requestId);
}

function problemForStatus(status: number, path: string): HttpProblem {
  const code = DEFAULT_CODES[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
  if (status === 404) return new HttpProblem(404, code, `No resource at ${path}.`);
  if (status === 405) return new HttpProblem(405, code, 'This method is not allowed here; see the Allow header.');
  if (status === 501) return new HttpProblem(501, code, 'This method is not supported.');
  return new HttpProblem(status, code, TITLES[status] ?? 'Error');
}

interface HttpErrorLike {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  type?: unknown;
  message?: unknown;
}

/** A module's refusal: its status and code, its message as the detail ("sample not found" → "Sample not found."). */
export function domainProblem(error: DomainError): HttpProblem {
  if (error.code === 'version_mismatch' && error.currentVersion !== undefined) {
    // The current ETag comes along, so the client can refetch.
    return new HttpProblem(
      412,
      'version_mismatch',
      `The resource has changed: its current version is ${error.currentVersion}.`,
      {
        headers: { ETag: `"${error.currentVersion}"` },
      },
    );
  }
  const detail =
    error.message.charAt(0).toUpperCase() + error.message.slice(1) + (/[.!?]$/.test(error.message) ? '' : '.');
  return new HttpProblem(error.status, error.code, detail, {
    ...(error.errors.length > 0 ? { errors: error.errors } : {}),
    headers: { ...error.headers },
  });
}

/** Maps client errors thrown by Koa, the router and the body parser; undefined = unexpected. */
function toProblem(error: unknown, path: string): HttpProblem | undefined {
  if (error instanceof HttpProblem) return error;
  if (error instanceof DomainError) return domainProblem(error);
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as HttpErrorLike;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === 501) return problemForStatus(501, path);
  if (status === undefined || status < 400 || status >= 500) return undefined;
  if (status === 413)
    return new HttpProblem(413, 'payload_too_large', 'The request body is larger than the limit.', {
      headers: { Connection: 'close' },
    });
  if (status === 415 || e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return new HttpProblem(415, 'unsupported_media_type', 'Send the body as application/json (UTF-8, not compressed).');
  }
  if (
    status === 400 &&
    (e.type === 'entity.parse.failed' ||
      e.type === 'entity.verify.failed' ||
      (typeof e.message === 'string' && /json/i.test(e.message)))
  ) {
    return new HttpProblem(400, 'malformed_json', 'The request body is not valid JSON.');
  }
  if (status === 400 && e.type === 'request.aborted')
    return new HttpProblem(400, 'bad_request', 'The request body was cut off.');
  // http-errors marks 4xx messages as safe to show (expose); anything else gets the status title.
  const problem = problemForStatus(status, path);
  return e.expose === true && typeof e.message === 'string' && e.message !== ''
    ? new HttpProblem(status, problem.code, e.message)
    : problem;
}

export function problemMiddleware(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Statuses set without a body (unknown route, 405 from allowedMethods, ...) become problems.
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null))
        sendProblem(ctx, problemForStatus(ctx.status, ctx.path));
    } catch (error) {
      const problem = toProblem(error, ctx.path);
      if (problem) {
        sendProblem(ctx, problem);
        return;
      }
      (ctx.state as AppState).log.error({ err: error }, 'unhandled error');
      sendProblem(ctx, new HttpProblem(500, 'internal_error', INTERNAL_ERROR_DETAIL));
    }
  };
}
