// Liveness (the process runs) and readiness (its dependencies answer, projections keep up).
// The composition root supplies the readiness checks; each one runs with a timeout, all in
// parallel, and the answer lists every check's result. A check may also answer `degraded`:
// something is wrong that taking this instance out of service would not help (the same for every
// instance, and not in the way of most routes). Readiness stays 200 then, with the detail shown
// and the top-level status `degraded`; an alert carries it to an operator.
import Router from '@koa/router';
import { HttpProblem } from './problem.ts';

/** A check's answer when it works but something is wrong that no other instance would do better. */
export class Degraded {
  readonly reason: string;
  readonly detail: Record<string, unknown>;
  constructor(reason: string, detail: Record<string, unknown> = {}) {
    this.reason = reason;
    this.detail = detail;
  }
}

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves (optionally with detail to show, or Degraded) when serving; throws or rejects when not. */
  readonly check: () => Promise<Record<string, unknown> | Degraded | void>;
  /** Default 2000 ms; a check that takes longer counts as failed. */
  readonly timeoutMs?: number;
}

export interface CheckResult {
  readonly status: 'ok' | 'degraded' | 'failed';
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
    if (detail instanceof Degraded) {
      return { ...detail.detail, status: 'degraded', reason: detail.reason, durationMs: elapsed() };
    }
    return { ...(detail ?? {}), status: 'ok', durationMs: elapsed() };
  } catch (error) {
    return { status: 'failed', durationMs: elapsed(), error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export async function runReadinessChecks(
  checks: readonly ReadinessCheck[],
): Promise<{ ok: boolean; degraded: boolean; checks: Record<string, CheckResult> }> {
  const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
  return {
    ok: results.every(([, r]) => r.status !== 'failed'),
    degraded: results.some(([, r]) => r.status === 'degraded'),
    checks: Object.fromEntries(results),
  };
}

export function healthRouter(checks: readonly ReadinessCheck[]): Router {
  const router = new Router();
  router.get('/health/live', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/health/ready', async (ctx) => {
    const result = await runReadinessChecks(checks);
    if (!result.ok) {
      const failed = Object.entries(result.checks)
        .filter(([, r]) => r.status !== 'ok')
        .map(([name]) => name);
      throw new HttpProblem(503, 'not_ready', `Not ready: ${failed.join(', ')}.`, {
        extensions: { checks: result.checks },
        headers: { 'Retry-After': '5' },
      });
    }
    ctx.body = { status: result.degraded ? 'degraded' : 'ok', checks: result.checks };
  });
  return router;
}
