// `vialog import <file.csv> --lab <id> [--as <user id>] [--dry-run] [--mode atomic|best-effort]
// [--allow-duplicate]`: the same job as POST /imports, run by this process (a service started
// later resumes it if this one is stopped). A progress bar with an ETA on a terminal, nothing but
// the result in CI. The samples are the submitter's: `--as`, by default the lab's id (a personal
// lab is its user's).
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { DomainError } from '../platform/commands/decision.ts';
import type { Config } from '../platform/config.ts';
import { PersonalDataVault } from '../platform/crypto/personal-data.ts';
import { systemCause } from '../platform/eventstore/metadata.ts';
import { Progress } from '../platform/progress.ts';
import { ProjectionEngine } from '../projections/engine/index.ts';
import { MAX_IMPORT_BYTES } from '../modules/imports/columns.ts';
import { importView, isFinal } from '../modules/imports/decide.ts';
import { importModes, type ImportMode } from '../modules/imports/events.ts';
import { importJobs } from '../modules/imports/module.ts';
import { submitImport } from '../modules/imports/submit.ts';
import { importSamplePorts } from './imports-batch.ts';
import { openInfrastructure } from './infrastructure.ts';
import { allProjections } from './modules.ts';
import { storageLabAccess } from './storage-wiring.ts';

function usage(message: string): never {
  console.error(`vialog import: ${message}`);
  process.exit(2);
}

function options(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      lab: { type: 'string' },
      as: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      mode: { type: 'string', default: 'atomic' },
      'allow-duplicate': { type: 'boolean', default: false },
    },
  });
  const [file] = positionals;
  const lab = values.lab;
  if (!file || !lab) usage('usage: vialog import <file.csv> --lab <id> [--dry-run] [--mode best-effort]');
  if (!(importModes as readonly string[]).includes(values.mode)) usage(`--mode is one of ${importModes.join(', ')}`);
  if (statSync(file).size > MAX_IMPORT_BYTES) usage(`${file} is larger than ${MAX_IMPORT_BYTES} bytes`);
  return { ...values, file, lab, mode: values.mode as ImportMode };
}

export async function importFile(config: Config, logger: Logger, args: string[]): Promise<void> {
  const o = options(args);
  const infrastructure = await openInfrastructure(config, logger);
  const { knex, store } = infrastructure;
  const engine = new ProjectionEngine({
    projections: allProjections(new PersonalDataVault(knex, config.personalDataKey), store),
    store,
    knex,
    databaseUrl: infrastructure.databaseUrl,
    logger,
  });
  engine.start(); // stands by if a running service leads the projections; leads them otherwise
  const labs = storageLabAccess(knex);
  const roleIn = (userId: string, labId: string) => labs.roleIn(userId, labId);
  const jobs = importJobs({
    knex,
    store,
    databaseUrl: infrastructure.databaseUrl,
    logger,
    waitForProjections: (names, position) => engine.waitForProjections(names, position, { timeoutMs: 30_000 }),
    samples: importSamplePorts(knex, store, roleIn),
  });
  try {
    // A database fresh from `migrate` gets the read model's table once the projection starts.
    for (let i = 0; i < 300 && !(await knex.schema.hasTable('imports')); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const input = { labId: o.lab, ownerId: o.as ?? o.lab, content: readFileSync(o.file), ...o };
    const id = await submitImport(
      jobs,
      { ...input, dryRun: o['dry-run'], allowDuplicate: o['allow-duplicate'] },
      systemCause('vialog import (command line)'),
    );
    const progress = new Progress(`import ${id}`, 1000);
    const timer = setInterval(() => {
      void jobs.commands
        .load(id)
        .then((s) => s.kind === 'job' && progress.update(Math.round(importView(s).progress * 1000)));
    }, 250);
    await jobs.worker.idle();
    clearInterval(timer);
    progress.done();
    const job = await jobs.commands.load(id);
    if (job.kind !== 'job') throw new Error('the import vanished');
    console.log(JSON.stringify(importView(job), null, 2));
    if (!isFinal(job) || job.status === 'failed' || job.status === 'cancelled') process.exitCode = 1;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    console.error(`vialog import: ${error.message} (${error.code})`);
    process.exitCode = 1;
  } finally {
    await engine.stop();
    await infrastructure.close();
  }
}
