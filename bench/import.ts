// npm run bench:import — an import end to end, beside PostgreSQL's COPY of the same rows.
// Per size (BENCH_IMPORT_SIZES, default 50000,100000), in a process of its own so its peak RSS is
// its own: the whole service (API, import worker, projections) on a scratch database, a lab with
// the boxes the file names, then POST /imports of a generated file (every column filled: barcode,
// quantity, a box and a position per row) in best-effort mode. The clock runs from the POST until
// the job is completed AND every read model has applied the log up to its head. Also: the parse +
// validation pass alone over the same file (no service), and COPY of the largest file into a plain
// table in a scratch database, the physical limit. Progress with an ETA on a terminal, none in CI.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
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
  const b = Math.floor(i / 96);
  const box = `F${b % 4} / R${b % 10} / B${b}`;
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

interface Validated {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMB: number;
}

interface Imported {
  rows: number;
  created: number;
  bytes: number;
  /** POST → the job completed (validation + import pass). */
  committedSeconds: number;
  /** POST → completed and every read model at the log's head. */
  seconds: number;
  rowsPerSecond: number;
  validationSeconds: number;
  importSeconds: number;
  events: number;
  /** The service process's: API, import worker and projections. */
  peakRssMB: number;
}

const quiet = process.env.CI === 'true' || process.env.CI === '1';
const progressOf = (label: string, total: number) => (quiet ? undefined : new Progress(label, total));
const peakRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function validateWorker(rows: number): Promise<Validated> {
  const progress = progressOf(`parse + validate ${rows.toLocaleString('en-US')}`, rows);
  const tally = new ValidationTally();
  const rules = contractRowRules(() => new Date('2026-11-22T10:00:00Z'));
  const started = performance.now();
  let n = 0;
  for await (const checked of validateImport(parseImport(file(rows)), { rules, lookups: lab })) {
    tally.add(checked);
    if (++n % 1000 === 0) progress?.update(n);
  }
  progress?.done();
  const seconds = (performance.now() - started) / 1000;
  const summary = tally.summary();
  if (summary.rows !== rows || summary.invalidRows !== 0) throw new Error(`unexpected: ${JSON.stringify(summary)}`);
  return { rows, seconds, rowsPerSecond: Math.round(rows / seconds), peakRssMB: peakRssMB() };
}

/** The lab's tree: F0–F3, R0–R9 in each, and the boxes B0… the file names (96 rows each). */
async function createBoxes(api: string, token: string, labId: string, rows: number): Promise<void> {
  const { postJson } = await import('./support.ts');
  // A loaded machine can outlast the bounded read-your-writes wait of the lab's creation: try again.
  const unit = async (body: Record<string, unknown>): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await postJson(`${api}/storage/units`, { labId, ...body }, token)).id as string;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  const freezers = await Promise.all(
    [0, 1, 2, 3].map((f) => unit({ name: `F${f}`, kind: 'freezer', temperatureC: -80 })),
  );
  const racks = new Map<string, string>();
  for (const [f, freezer] of freezers.entries())
    for (let r = 0; r < 10; r++) racks.set(`${f} ${r}`, await unit({ name: `R${r}`, kind: 'rack', parentId: freezer }));
  const boxes = Math.ceil(rows / 96);
  let next = 0;
  const grid = { rows: 8, columns: 12 };
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let b = next++; b < boxes; b = next++)
        await unit({ name: `B${b}`, kind: 'box', parentId: racks.get(`${b % 4} ${b % 10}`), grid });
    }),
  );
}

async function importWorker(rows: number): Promise<Imported> {
  const { loadConfig } = await import('../platform/config.ts');
  const { benchEnvironment, scratchDatabase, signUp, startBenchService } = await import('./support.ts');
  const db = await scratchDatabase('import');
  const env = { ...benchEnvironment(db.url), DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? '8' };
  // The whole service in this process, as `vialog serve` runs it: API, import worker and projections.
  const service = await startBenchService(loadConfig(env));
  try {
    const api = `${service.url!}/api/v1`;
    const token = await signUp(api, 'import_bench');
    const auth = { authorization: `Bearer ${token}` };
    const labId = ((await (await fetch(`${api}/auth/me`, { headers: auth })).json()) as { id: string }).id;
    await createBoxes(api, token, labId, rows);
    const body = Buffer.concat([...file(rows)]);
    const store = service.infrastructure.store;
    const eventsBefore = await store.countAfter({ commit: -1n, prepare: -1n });
    const started = performance.now();
    const submittedAt = new Date().toISOString();
    const submitted = await fetch(`${api}/imports?labId=${labId}&mode=best-effort`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/csv' },
      body,
    });
    if (submitted.status !== 202) throw new Error(`import refused: ${submitted.status} ${await submitted.text()}`);
    const { id } = (await submitted.json()) as { id: string };
    const job = await untilDone(`${api}/imports/${id}`, auth, rows);
    const committed = performance.now();
    const head = await store.headPosition();
    const names = (await service.engine.status()).map((s) => s.name);
    if (!head || !(await service.engine.waitForProjections(names, head, { timeoutMs: 900_000 })))
      throw new Error('the read models did not catch up');
    const seconds = (performance.now() - started) / 1000;
    const listed = await fetch(`${api}/samples?labId=${labId}&limit=1`, { headers: auth });
    const total = ((await listed.json()) as { total: number }).total;
    if (job.created !== rows || total !== rows) throw new Error(`created ${job.created}, listed ${total} of ${rows}`);
    const at = (text: string) => new Date(text).getTime() / 1000;
    return {
      rows,
      created: job.created,
      bytes: body.length,
      committedSeconds: (committed - started) / 1000,
      seconds,
      rowsPerSecond: Math.round(rows / seconds),
      validationSeconds: at(job.startedAt) - at(submittedAt),
      importSeconds: at(job.finishedAt) - at(job.startedAt),
      events: (await store.countAfter({ commit: -1n, prepare: -1n })) - eventsBefore,
      peakRssMB: peakRssMB(),
    };
  } finally {
    await service.stop();
    await db.drop();
  }
}

interface JobView {
  status: string;
  created: number;
  progress: number;
  startedAt: string;
  finishedAt: string;
}

/** Polls the job to its end, with progress (validation, then the import pass) on a terminal. */
async function untilDone(url: string, headers: Record<string, string>, rows: number): Promise<JobView> {
  let progress = progressOf(`validate ${rows.toLocaleString('en-US')}`, rows);
  for (let phase = 'validating'; ;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const job = (await (await fetch(url, { headers })).json()) as JobView;
    if (job.status !== phase && job.status === 'importing') {
      progress?.update(rows);
      progress?.done();
      progress = progressOf(`import ${rows.toLocaleString('en-US')}`, rows);
      phase = job.status;
    }
    if (job.status === 'importing') progress?.update(Math.round(job.progress * rows));
    if (['completed', 'failed', 'cancelled'].includes(job.status)) {
      progress?.done();
      if (job.status !== 'completed') throw new Error(`the import ended ${job.status}: ${JSON.stringify(job)}`);
      return job;
    }
  }
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

const [mode, size] = [process.argv[2], Number(process.argv[3])];
if (mode === '--validate') process.stdout.write(JSON.stringify(await validateWorker(size)));
else if (mode === '--import') process.stdout.write(JSON.stringify(await importWorker(size)));
else await main();

async function main() {
  const sizes = (process.env.BENCH_IMPORT_SIZES ?? '50000,100000').split(',').map(Number);
  const self = fileURLToPath(import.meta.url);
  /** A worker in its own process; its stderr is the terminal's, so its progress line shows there. */
  const inChild = async <T>(flag: string, rows: number): Promise<T> => {
    const child = spawn(process.execPath, [self, flag, String(rows)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`${flag} ${rows} exited with ${code}`);
    return JSON.parse(out) as T;
  };
  const validated: Validated[] = [];
  const imported: Imported[] = [];
  for (const rows of sizes) validated.push(await inChild<Validated>('--validate', rows));
  for (const rows of sizes) imported.push(await inChild<Imported>('--import', rows));
  const largest = Math.max(...sizes);
  const copy = await copyBaseline(largest);
  const fmt = (n: number) => n.toLocaleString('en-US');
  for (const m of validated)
    console.log(
      `parse + validate ${fmt(m.rows)} rows (no service): ${m.seconds.toFixed(2)} s, ${fmt(m.rowsPerSecond)} rows/s, peak RSS ${m.peakRssMB} MB`,
    );
  for (const m of imported)
    console.log(
      `import ${fmt(m.rows)} rows end to end (${(m.bytes / 1048576).toFixed(1)} MiB, ${fmt(m.events)} events): ` +
        `${m.seconds.toFixed(1)} s to read models caught up (committed at ${m.committedSeconds.toFixed(1)} s; ` +
        `validation ${m.validationSeconds.toFixed(1)} s, import pass ${m.importSeconds.toFixed(1)} s), ` +
        `${fmt(m.rowsPerSecond)} rows/s, peak RSS ${m.peakRssMB} MB (the whole service)`,
    );
  console.log(
    `COPY of the same ${fmt(largest)} rows into a plain table: ${copy.seconds.toFixed(2)} s, ${fmt(copy.rowsPerSecond)} rows/s`,
  );
  const ours = imported.find((m) => m.rows === largest)!;
  console.log(
    `end to end runs at ${(ours.rowsPerSecond / copy.rowsPerSecond).toFixed(3)} × COPY's rate; target: ${fmt(largest)} rows under 60 s ` +
      `(${ours.seconds < 60 ? 'met' : 'NOT met'}), peak RSS under 300 MB (${ours.peakRssMB < 300 ? 'met' : 'NOT met'})`,
  );
  const { saveResult } = await import('./support.ts');
  saveResult('import', { validate: validated, import: imported, copy: { rows: largest, ...copy } });
}
