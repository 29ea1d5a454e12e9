// npm run audit:deps — `npm audit --omit=dev`: fails on any high or critical advisory in the
// production dependencies that docs/security.md does not explain by its id (GHSA-…).
// When the advisory endpoint cannot be reached (an offline mirror answers 405), it says so and
// passes, unless VIALOG_REQUIRE_AUDIT=1 (the GitHub workflow sets it), where that is a failure too.
// VIALOG_AUDIT_REPORT=<file> reads a saved `npm audit --json` report instead (tests).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const advisory = z.object({
  source: z.number().optional(),
  title: z.string().optional(),
  url: z.string().optional(),
  severity: z.string(),
  name: z.string().optional(),
});
const report = z.object({
  vulnerabilities: z.record(
    z.string(),
    z.object({ severity: z.string(), via: z.array(z.union([z.string(), advisory])) }),
  ),
});

const required = process.env.VIALOG_REQUIRE_AUDIT === '1';
const saved = process.env.VIALOG_AUDIT_REPORT;
const run = saved
  ? { stdout: readFileSync(saved, 'utf8'), stderr: '' }
  : spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
let parsed: unknown;
try {
  parsed = JSON.parse(run.stdout);
} catch {
  parsed = undefined;
}
const answer = report.safeParse(parsed);
if (!answer.success) {
  const reason =
    typeof parsed === 'object' && parsed !== null && 'message' in parsed
      ? String(parsed.message)
      : (run.stderr.trim().split('\n').at(-1) ?? 'no answer');
  console.log(
    `audit:deps: the advisory endpoint did not answer (${reason}); dependencies NOT checked${required ? '' : ' — the GitHub workflow checks them'}`,
  );
  process.exit(required ? 1 : 0);
}

const explained = readFileSync(new URL('../docs/security.md', import.meta.url), 'utf8');
const serious = Object.entries(answer.data.vulnerabilities).filter(
  ([, v]) => v.severity === 'high' || v.severity === 'critical',
);
const unexplained: string[] = [];
for (const [name, vulnerability] of serious) {
  const ids = vulnerability.via.flatMap((via) =>
    typeof via === 'string' ? [] : [via.url?.split('/').at(-1) ?? `advisory ${via.source ?? '?'}`],
  );
  for (const id of ids.length > 0
    ? ids
    : [`${name} (via ${vulnerability.via.filter((v) => typeof v === 'string').join(', ')})`]) {
    if (!explained.includes(id)) unexplained.push(`${vulnerability.severity}: ${name} — ${id}`);
  }
}
const counts = Object.values(answer.data.vulnerabilities).reduce<Record<string, number>>(
  (c, v) => ({ ...c, [v.severity]: (c[v.severity] ?? 0) + 1 }),
  {},
);
console.log(
  `audit:deps: production dependencies — ${
    Object.entries(counts)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'no advisories'
  }`,
);
if (unexplained.length > 0) {
  console.log(
    `audit:deps: high or critical advisories not explained in docs/security.md:\n  ${unexplained.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(
  `audit:deps: ${serious.length === 0 ? 'no high or critical advisory' : `${serious.length} high/critical, each explained in docs/security.md`}`,
);
