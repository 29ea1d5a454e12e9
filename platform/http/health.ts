// Liveness (the process runs) and readiness (its dependencies answer, projections keep up).
import Router from '@koa/router';
import { HttpProblem } from './problem.ts';

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves with optional detail when healthy; throws (or rejects) when not. */
  readonly check: () => Promise<Record<string, unknown> | void>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: ReadinessCheck): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, detail: { status: 'ok', ...(detail ?? {}) } };
  } catch (error) {
    return { ok: false, detail: { status: 'failed', error: error instanceof Error ? error.message : String(error) } };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(checks: readonly ReadinessCheck[]): Router {
  const router = new Router();
  router.get('/health/live', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/health/ready', async (ctx) => {
    const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
    const body = { status: results.every(([, r]) => r.ok) ? 'ok' : 'not_ready', checks: Object.fromEntries(results.map(([name, r]) => [name, r.detail])) };
    if (body.status !== 'ok') {
      const failed = results.filter(([, r]) => !r.ok).map(([name]) => name);
      const problem = new HttpProblem(503, 'not_ready', `Not ready: ${failed.join(', ')}.`);
      ctx.status = 503;
      ctx.type = 'application/problem+json';
      ctx.body = { type: '/problems/not_ready', title: 'Service Unavailable', status: 503, detail: problem.message, code: 'not_ready', requestId: (ctx.state as { requestId: string }).requestId, checks: body.checks };
      return;
    }
    ctx.body = body;
  });
  return router;
}
