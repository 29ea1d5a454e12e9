// Liveness (the process runs) and readiness (its dependencies answer, projections keep up).
// The composition root supplies the readiness checks; each one runs with a timeout, all in
// parallel, and the answer lists every check's result.
import Router from '@koa/router';
import { HttpProblem } from './problem.ts';

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves (optionally with detail to show) when healthy; throws or rejects when not. */
  readonly check: () => Promise<Record<string, unknown> | void>;
  /** Default 2000 ms; a check that takes longer counts as failed. */
  readonly timeoutMs?: number;
}

export interface CheckResult {
  readonly status: 'ok' | 'failed';
  readonly durationMs: number;
  readonly error?: string;
  readonly [detail: string]: unknown;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2_000;

export async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  const timeoutMs = check.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ...(detail ?? {}), status: 'ok', durationMs: elapsed() };
  } catch (error) {
    return { status: 'failed', durationMs: elapsed(), error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export async function runReadinessChecks(checks: readonly ReadinessCheck[]): Promise<{ ok: boolean; checks: Record<string, CheckResult> }> {
  const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
  return { ok: results.every(([, r]) => r.status === 'ok'), checks: Object.fromEntries(results) };
}

export function healthRouter(checks: readonly ReadinessCheck[]): Router {
  const router = new Router();
  router.get('/health/live', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/health/ready', async (ctx) => {
    const result = await runReadinessChecks(checks);
    if (!result.ok) {
      const failed = Object.entries(result.checks).filter(([, r]) => r.status !== 'ok').map(([name]) => name);
      throw new HttpProblem(503, 'not_ready', `Not ready: ${failed.join(', ')}.`, { extensions: { checks: result.checks }, headers: { 'Retry-After': '5' } });
    }
    ctx.body = { status: 'ok', checks: result.checks };
  });
  return router;
}
