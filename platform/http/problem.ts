// Errors as RFC 9457 problem details (application/problem+json), never a stack trace.
import type { Context, Middleware } from 'koa';
import type { AppState } from './state.ts';

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Throw this from route code: it becomes a problem+json answer with the given code. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  readonly status: number;
  readonly code: string;
  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: string, detail: string, options: { errors?: readonly FieldError[]; headers?: Record<string, string> } = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
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
}

export function sendProblem(ctx: Context, problem: HttpProblem): void {
  const state = ctx.state as AppState;
  const body: ProblemBody = {
    type: `/problems/${problem.code}`,
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    requestId: state.requestId,
    ...(problem.errors ? { errors: [...problem.errors] } : {}),
  };
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.status = problem.status;
  ctx.type = 'application/problem+json';
  ctx.body = body;
}

interface HttpErrorLike {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message?: string;
}

/** Maps errors thrown by Koa and its body parser to problems; anything unknown is a 500. */
function toProblem(error: unknown): HttpProblem | undefined {
  if (error instanceof HttpProblem) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as HttpErrorLike;
  const status = e.status ?? e.statusCode;
  if (status === 501) return new HttpProblem(501, 'not_implemented', 'This method is not supported.');
  if (typeof status !== 'number' || status >= 500 || status < 400) return undefined;
  if (status === 413) return new HttpProblem(413, 'payload_too_large', 'The request body is larger than the limit.');
  if (status === 415) return new HttpProblem(415, 'unsupported_media_type', 'Send the body as application/json.');
  if (status === 400 && (e.type === 'entity.parse.failed' || /json/i.test(e.message ?? ''))) {
    return new HttpProblem(400, 'malformed_json', 'The request body is not valid JSON.');
  }
  if (status === 400 && e.type === 'encoding.unsupported') return new HttpProblem(415, 'unsupported_media_type', 'Unsupported content encoding.');
  const code = status === 404 ? 'not_found' : status === 405 ? 'method_not_allowed' : 'bad_request';
  return new HttpProblem(status, code, e.expose && e.message ? e.message : (TITLES[status] ?? 'Bad request'));
}

export function problemMiddleware(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpProblem(404, 'not_found', `No resource at ${ctx.path}.`);
      }
    } catch (error) {
      const problem = toProblem(error);
      if (problem) {
        sendProblem(ctx, problem);
        return;
      }
      (ctx.state as AppState).log.error({ err: error }, 'unhandled error');
      sendProblem(ctx, new HttpProblem(500, 'internal_error', 'Something went wrong on our side. Quote the request id when reporting it.'));
    }
  };
}
