// npm run bench:import — the import pipeline without the service: generated CSV files of 50,000
// and 100,000 rows streamed through parse + validation (the contract's rules, file rules against an
// in-memory lab), each size in its own process so its peak RSS is its own; then PostgreSQL's
// COPY of the same 100,000 rows into a plain table in a scratch database, the physical limit.
// Prints rows/s and peak RSS per size. Creating the samples (the import pass) is pending wiring.
// Env: BENCH_IMPORT_SIZES (default 50000,100000).
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { contractRowRules } from '../modules/imports/contract-rules.ts';
import { parseImport } from '../modules/imports/parse.ts';
import type { LabLookups } from '../modules/imports/rules.ts';
import { validateImport, ValidationTally } from '../modules/imports/validate.ts';
import { Progress } from '../platform/progress.ts';

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes\n';
const TYPES = ['blood', 'saliva', 'plasma', 'serum', 'dna'];
const STATUSES = ['collected', 'processing', 'archived'];
const POSITIONS = Array.from(
  { length: 96 },
  (_, i) => `${String.fromCharCode(65 + Math.floor(i / 12))}${(i % 12) + 1}`,
);

/** One data line: every column filled, one in ten notes quoted with a comma and a newline. */
function line(i: number): string {
  const day = String((i % 28) + 1).padStart(2, '0');
  const notes = i % 10 === 0 ? `"thawed once, re-frozen\nbatch ${i % 97}"` : `lot ${i % 1000}`;
  const box = `Freezer ${i % 4} / Rack ${i % 10} / Box ${Math.floor(i / 96)}`;
  return `BC-${i},${TYPES[i % TYPES.length]},P${String(i % 9000).padStart(4, '0')},2026-0${(i % 9) + 1}-${day},${STATUSES[i % 3]},${(i % 50) / 10 + 0.5},mL,${box},${POSITIONS[i % 96]},${notes}\n`;
}

/** The file as chunks of about 64 KiB, never whole in memory. */
function* file(rows: number): Generator<Buffer> {
  let chunk = HEADER;
  for (let i = 0; i < rows; i++) {
    chunk += line(i);
    if (chunk.length >= 65_536) {
      yield Buffer.from(chunk);
      chunk = '';
    }
  }
  if (chunk !== '') yield Buffer.from(chunk);
}

/** A lab with every box, none of the barcodes, every place free: the rules run, nothing refuses. */
const lab: LabLookups = {
  knownBarcodes: () => Promise.resolve(new Set()),
  positionFree: (places) => Promise.resolve(places.map((p) => ({ state: 'free' as const, unitId: p.box }))),
};

interface Measured {
  rows: number;
  validRows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMB: number;
}

async function validateWorker(rows: number): Promise<Measured> {
  const progress = new Progress(`parse + validate ${rows.toLocaleString('en-US')}`, rows);
  const tally = new ValidationTally();
  const rules = contractRowRules(() => new Date('2026-11-22T10:00:00Z'));
  const started = performance.now();
  let n = 0;
  for await (const checked of validateImport(parseImport(file(rows)), { rules, lookups: lab })) {
    tally.add(checked);
    if (++n % 1000 === 0) progress.update(n);
  }
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  const summary = tally.summary();
  if (summary.rows !== rows || summary.invalidRows !== 0) throw new Error(`unexpected: ${JSON.stringify(summary)}`);
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  return { rows, validRows: summary.validRows, seconds, rowsPerSecond: Math.round(rows / seconds), peakRssMB };
}

async function copyBaseline(rows: number): Promise<{ seconds: number; rowsPerSecond: number }> {
  // Loaded here, not above: a worker's peak RSS is the pipeline's, not the service's modules'.
  const { default: pg } = await import('pg');
  const { from: copyFrom } = await import('pg-copy-streams');
  const { scratchDatabase } = await import('./support.ts');
  const db = await scratchDatabase('import');
  const client = new pg.Client({ connectionString: db.url });
  try {
    await client.connect();
    await client.query(`CREATE TABLE plain (barcode text, sample_type text, subject_id text, collection_date date,
      status text, quantity numeric, unit text, box text, position text, notes text)`);
    const started = performance.now();
    await pipeline(
      Readable.from(file(rows)),
      client.query(copyFrom('COPY plain FROM STDIN (FORMAT csv, HEADER true)')),
    );
    const seconds = (performance.now() - started) / 1000;
    const { rows: counted } = await client.query<{ n: string }>('SELECT count(*) AS n FROM plain');
    if (Number(counted[0]!.n) !== rows) throw new Error(`COPY wrote ${counted[0]!.n} rows`);
    return { seconds, rowsPerSecond: Math.round(rows / seconds) };
  } finally {
    await client.end();
    await db.drop();
  }
}

const worker = process.argv[2] === '--worker' ? Number(process.argv[3]) : undefined;
if (worker !== undefined) {
  process.stdout.write(JSON.stringify(await validateWorker(worker)));
} else {
  const sizes = (process.env.BENCH_IMPORT_SIZES ?? '50000,100000').split(',').map(Number);
  const run = promisify(execFile);
  const self = fileURLToPath(import.meta.url);
  const measured: Measured[] = [];
  for (const size of sizes) {
    // stderr stays the terminal's, so the child's progress line shows there.
    const child = run(process.execPath, [self, '--worker', String(size)], { maxBuffer: 1 << 20 });
    child.child.stderr?.pipe(process.stderr);
    measured.push(JSON.parse((await child).stdout) as Measured);
  }
  const largest = Math.max(...sizes);
  const copy = await copyBaseline(largest);
  const fmt = (n: number) => n.toLocaleString('en-US');
  for (const m of measured) {
    console.log(
      `parse + validate ${fmt(m.rows)} rows: ${m.seconds.toFixed(2)} s, ${fmt(m.rowsPerSecond)} rows/s, peak RSS ${m.peakRssMB} MB`,
    );
  }
  const ours = measured.find((m) => m.rows === largest)!;
  console.log(
    `COPY of the same ${fmt(largest)} rows into a plain table: ${copy.seconds.toFixed(2)} s, ${fmt(copy.rowsPerSecond)} rows/s`,
  );
  console.log(`parse + validate runs at ${(ours.rowsPerSecond / copy.rowsPerSecond).toFixed(2)} × COPY's rate`);
  console.log('committing the samples (the import pass through the command pipeline): pending wiring');
  const { saveResult } = await import('./support.ts');
  saveResult('import', { validate: measured, copy: { rows: largest, ...copy } });
}
