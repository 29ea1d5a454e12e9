// npm run audit:deps on saved `npm audit --json` reports: a high or critical advisory fails unless
// docs/security.md explains it by id; moderate ones pass; an unreachable endpoint passes only when
// the audit is not required.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(tmpdir(), 'vialog-audit-'));
function audit(report: unknown, env: Record<string, string> = {}) {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(report));
  return spawnSync(process.execPath, ['.ci/audit-dependencies.ts'], {
    encoding: 'utf8',
    env: { ...process.env, VIALOG_AUDIT_REPORT: file, ...env },
  });
}
const vulnerable = (severity: string, id: string) => ({
  auditReportVersion: 2,
  vulnerabilities: {
    somepkg: {
      severity,
      via: [{ source: 1, name: 'somepkg', title: 'bad', url: `https://github.com/advisories/${id}`, severity }],
    },
  },
});

test('a high advisory not explained in docs/security.md fails, naming it', (t) => {
  const r = audit(vulnerable('high', 'GHSA-zzzz-zzzz-zzzz'));
  t.is(r.status, 1, r.stdout);
  t.regex(r.stdout, /high: somepkg — GHSA-zzzz-zzzz-zzzz/);
});

test('moderate advisories and a clean report pass', (t) => {
  t.is(audit(vulnerable('moderate', 'GHSA-yyyy-yyyy-yyyy')).status, 0);
  const clean = audit({ auditReportVersion: 2, vulnerabilities: {} });
  t.is(clean.status, 0);
  t.regex(clean.stdout, /no high or critical advisory/);
});

test('an unreachable advisory endpoint passes with a warning, fails when the audit is required', (t) => {
  const offline = {
    message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
    statusCode: 405,
  };
  const lenient = audit(offline);
  t.is(lenient.status, 0);
  t.regex(lenient.stdout, /NOT checked/);
  t.is(audit(offline, { VIALOG_REQUIRE_AUDIT: '1' }).status, 1);
});
