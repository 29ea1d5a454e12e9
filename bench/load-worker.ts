// Runs autocannon in a child process, so the load generator does not share the event loop of the
// server it measures (autocannon changes its behaviour inside worker threads, hence a process).
// Input: the LoadRequest as JSON in argv[2]; output: the LoadResult as JSON on stdout.
import autocannon from 'autocannon';

export interface LoadRequest {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Headers added to each request in turn (e.g. one bearer token per user). */
  readonly rotateHeaders?: readonly Record<string, string>[];
  /** Paths used in turn instead of the URL's own. */
  readonly rotatePaths?: readonly string[];
  /** Whole requests used in turn (a mixed load); overrides method, body and rotatePaths. */
  readonly rotateRequests?: readonly {
    readonly method: 'GET' | 'POST' | 'PATCH';
    readonly path: string;
    readonly body?: string;
  }[];
  /** A steady load: at most this many requests per second over all connections. */
  readonly overallRate?: number;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly total: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Answers per HTTP status. */
  readonly statusCodes?: Record<string, number>;
}

const request = JSON.parse(process.argv[2] ?? '{}') as LoadRequest;
let turn = 0;
const result = await autocannon({
  url: request.url,
  connections: request.connections,
  duration: request.seconds,
  method: request.method ?? 'GET',
  headers: request.headers ?? {},
  ...(request.body !== undefined ? { body: request.body } : {}),
  ...(request.overallRate !== undefined ? { overallRate: request.overallRate } : {}),
  ...(request.rotateHeaders || request.rotatePaths || request.rotateRequests
    ? {
        requests: [
          {
            setupRequest: (req: autocannon.Request) => {
              turn += 1;
              const headers = request.rotateHeaders
                ? request.rotateHeaders[turn % request.rotateHeaders.length]
                : undefined;
              const path = request.rotatePaths ? request.rotatePaths[turn % request.rotatePaths.length] : undefined;
              const whole = request.rotateRequests
                ? request.rotateRequests[turn % request.rotateRequests.length]
                : undefined;
              if (whole) {
                const content = whole.body !== undefined ? { 'content-type': 'application/json' } : {};
                return {
                  ...req,
                  method: whole.method,
                  path: whole.path,
                  body: whole.body ?? '',
                  headers: { ...req.headers, ...content, ...headers },
                };
              }
              return { ...req, ...(path ? { path } : {}), headers: { ...req.headers, ...headers } };
            },
          },
        ],
      }
    : {}),
});
const answer: LoadResult = {
  requestsPerSecond: result.requests.total / request.seconds,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  total: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors,
  statusCodes: Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, (stats as { count: number }).count]),
  ),
};
process.stdout.write(JSON.stringify(answer));
