// Imports over HTTP (API.md, Imports and bulk changes): the CSV body (415, 413), the job run by the
// worker to its end, every rule refused with its row and column, atomic against best-effort, a
// dry run writing nothing, errors.csv, the same file twice, lab roles, and the samples created
// carrying the import id as correlation id.
import test, { type ExecutionContext } from 'ava';
import { asUser, expectProblem, type Client } from '../support/client.ts';
import { newUser, startTestService, type Answer, type TestService, type TestUser } from '../support/service.ts';

let svc: TestService;
let lee: TestUser;
let asLee: Client;
let asKim: Client;
test.before(async () => {
  svc = await startTestService();
  lee = await newUser(svc.api, 'lee');
  asLee = asUser(svc.api, lee);
  asKim = asUser(svc.api, await newUser(svc.api, 'kim'));
});
test.after.always(async () => {
  await svc?.stop();
});

const HEADER = 'barcode,sampleType,subjectId,collectionDate,status,quantity,unit,box,position,notes';
let fileNo = 0;
/** A CSV made unique by a note, so files of different tests never count as the same file. */
const csv = (...rows: string[]) => `${HEADER}\r\n${rows.join('\r\n')}\r\n`;
const row = (subject = 'P001', type = 'blood', date = '2026-01-05', notes = `file ${++fileNo}`) =>
  `,${type},${subject},${date},,,,,,${notes}`;

async function upload(
  body: string | Uint8Array,
  query: string,
  user: TestUser = lee,
  type = 'text/csv',
): Promise<Answer> {
  const response = await fetch(`${svc.api}/imports?${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': type },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);
async function settled(id: string, dryRun = false): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const r = await asLee.get(`/imports/${id}`);
    const status = r.body.status as string;
    if (FINAL.has(status) || (dryRun && status === 'validated')) return r.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('import did not end');
}

async function importOf(t: ExecutionContext, body: string, query = '', dryRun = false) {
  const r = await upload(body, `labId=${lee.id}${query}`);
  t.is(r.status, 202, JSON.stringify(r.body));
  return settled(r.body.id as string, dryRun);
}

async function createdBy(importId: string): Promise<number> {
  const r = await svc.service.infrastructure.knex.raw(
    `SELECT count(*)::int AS n FROM events WHERE type = 'SampleRegistered' AND metadata->>'correlationId' = ?`,
    [importId],
  );
  return (r.rows[0] as { n: number }).n;
}

test('POST /imports: 202 with the job and Location; the worker completes it and its samples carry its id', async (t) => {
  const r = await upload(csv(row('P001'), row('P002', 'saliva')), `labId=${lee.id}`);
  t.is(r.status, 202);
  t.is(r.headers.get('location'), `/api/v1/imports/${r.body.id as string}`);
  t.like(r.body, { status: 'validating' });
  const job = await settled(r.body.id as string);
  t.like(job, { status: 'completed', rows: 2, validRows: 2, invalidRows: 0, created: 2, progress: 1, mode: 'atomic' });
  t.is(await createdBy(r.body.id as string), 2);
});

test('OpenAPI: POST /imports takes a text/csv body', async (t) => {
  const doc = (await (await fetch(`${svc.api}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
  };
  t.deepEqual(Object.keys(doc.paths['/api/v1/imports']?.post?.requestBody?.content ?? {}), ['text/csv']);
});

test('POST /imports: a body that is not text/csv is 415', async (t) => {
  expectProblem(t, await upload('{}', `labId=${lee.id}`, lee, 'application/json'), 415, 'unsupported_media_type');
});

test('POST /imports: a body over 10 MiB is 413', async (t) => {
  const big = new Uint8Array(10 * 1024 * 1024 + 1).fill(0x41);
  expectProblem(t, await upload(big, `labId=${lee.id}`), 413, 'payload_too_large');
});

test('POST /imports: a lab the caller is not a member of is 404, and so is its import', async (t) => {
  const kim = await newUser(svc.api, 'kim');
  expectProblem(t, await upload(csv(row()), `labId=${lee.id}`, kim), 404, 'not_found');
  const r = await upload(csv(row()), `labId=${lee.id}&dryRun=true`);
  expectProblem(t, await asKim.get(`/imports/${r.body.id as string}`), 404, 'not_found');
  expectProblem(t, await asKim.get(`/imports/${r.body.id as string}/errors.csv`), 404, 'not_found');
});

test('every rule is refused with its row, column and code', async (t) => {
  const file = csv(
    `B-1,plasmaX,P001,2026-01-05,,,,,,`,
    `B-2,blood,p1,2026-01-05,,,,,,`,
    `B-3,blood,P001,2999-01-01,,,,,,`,
    `B-4,blood,P001,2026-01-05,lost,,,,,`,
    `B-5,blood,P001,2026-01-05,,1,,,,`,
    `B-6,blood,P001,2026-01-05,,,,Nowhere Box,A1,`,
    `b-1,blood,P001,2026-01-05,,,,,,`,
    `B-8,blood,P001,2026-01-05,,,,,,${'x'.repeat(2001)}`,
    `B-9,blood,P001`,
    `B 10,blood,P001,2026-01-05,,,,,,`,
  );
  const job = await importOf(t, file, '&dryRun=true', true);
  t.like(job, { status: 'validated', rows: 10, validRows: 0, invalidRows: 10 });
  const errors = (job.errors as { row: number; column: string | null; code: string }[]).map(
    (e) => `${e.row} ${e.column} ${e.code}`,
  );
  for (const expected of [
    '2 sampleType invalid_value',
    '3 subjectId invalid_value',
    '4 collectionDate invalid_value',
    '5 status invalid_value',
    '6 unit required',
    '7 box unknown_box',
    '8 barcode duplicate_barcode',
    '9 notes invalid_value',
    '10 null field_count',
    '11 barcode invalid_value',
  ])
    t.true(errors.includes(expected), `${expected} in ${JSON.stringify(errors)}`);
});

test('atomic (the default): one refused row and nothing is created', async (t) => {
  const job = await importOf(t, csv(row('P001'), row('bad')));
  t.like(job, { status: 'failed', created: 0, invalidRows: 1 });
  t.is(await createdBy(job.id as string), 0);
});

test('best-effort: the valid rows are created, the refused ones are in errors.csv', async (t) => {
  const job = await importOf(t, csv(row('P001'), row('bad'), row('P003')), '&mode=best-effort');
  t.like(job, { status: 'completed', created: 2, validRows: 2, invalidRows: 1 });
  t.is(await createdBy(job.id as string), 2);
  const response = await fetch(`${svc.api}/imports/${job.id as string}/errors.csv`, {
    headers: { authorization: `Bearer ${lee.accessToken}` },
  });
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/csv; charset=utf-8');
  const lines = (await response.text()).trim().split('\r\n');
  t.is(lines.length, 2);
  t.true(lines[0]!.endsWith(',errors'));
  t.true(lines[1]!.includes(',bad,'));
  t.true(lines[1]!.includes('subjectId:'));
});

test('a dry run ends validated and writes no sample', async (t) => {
  const job = await importOf(t, csv(row('P001'), row('P002')), '&dryRun=true', true);
  t.like(job, { status: 'validated', dryRun: true, validRows: 2, created: 0 });
  t.is(await createdBy(job.id as string), 0);
});

test('the same file into the same lab twice is 409 duplicate_import, unless allowDuplicate=true', async (t) => {
  const file = csv(row('P001'));
  await importOf(t, file);
  expectProblem(t, await upload(file, `labId=${lee.id}`), 409, 'duplicate_import');
  const again = await importOf(t, file, '&allowDuplicate=true');
  t.like(again, { status: 'completed', created: 1 });
});

test('GET /imports?labId= lists the lab imports, newest first', async (t) => {
  const job = await importOf(t, csv(row('P001')), '&dryRun=true', true);
  const list = await asLee.get(`/imports?labId=${lee.id}`);
  t.is(list.status, 200);
  const items = list.body.items as { id: string }[];
  t.true(items.some((i) => i.id === job.id));
  expectProblem(t, await asKim.get(`/imports?labId=${lee.id}`), 404, 'not_found');
});

test('POST /imports/{id}/cancel: an ended import cannot be cancelled', async (t) => {
  const job = await importOf(t, csv(row('P001')));
  expectProblem(t, await asLee.post(`/imports/${job.id as string}/cancel`), 422, 'invalid_transition');
});

async function exportOf(user: TestUser, query = ''): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${svc.api}/samples/export?format=csv&labId=${user.id}${query}`, {
    headers: { authorization: `Bearer ${user.accessToken}` },
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** Imports the file into the user's lab and waits until the samples list shows `lines` of it. */
async function importAndExport(user: TestUser, file: string, lines: number, query = '') {
  const submitted = await upload(file, `labId=${user.id}`, user);
  if (submitted.status !== 202) throw new Error(`import refused: ${JSON.stringify(submitted.body)}`);
  for (let i = 0; i < 200; i++) {
    const exported = await exportOf(user, query);
    if (exported.text.trim().split('\r\n').length >= lines) return exported;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const job = await asUser(svc.api, user).get(`/imports/${submitted.body.id as string}`);
  throw new Error(`the samples did not show: ${JSON.stringify(job.body)}`);
}

test('GET /samples/export?format=csv imports back unchanged', async (t) => {
  const ana = await newUser(svc.api, 'ana');
  const bo = await newUser(svc.api, 'bo');
  const file = csv(
    `,blood,P001,2026-01-05,,,,,,"spun twice, 2,000 g"`,
    `,saliva,P002,2026-01-04,processing,,,,,"label re-printed\r\nafter a spill"`,
    `,blood,P003,2026-01-03,archived,,,,,"a ""quoted"" note"`,
    `,saliva,P004,2026-01-02,,,,,,`,
  );
  // The header and 4 rows, one holding a line break.
  const exported = await importAndExport(ana, file, 6);
  t.is(exported.status, 200);
  t.is(exported.type, 'text/csv; charset=utf-8');
  t.is((await importAndExport(bo, exported.text, 6)).text, exported.text);
});

/** Freezer A / Rack 2 / Box 7 (8 × 12) in the user's lab. */
async function boxIn(user: TestUser): Promise<string> {
  const as = asUser(svc.api, user);
  const unit = async (body: Record<string, unknown>) => {
    const r = await as.post('/storage/units', { labId: user.id, ...body });
    if (r.status !== 201) throw new Error(`unit refused: ${JSON.stringify(r.body)}`);
    return r.body.id as string;
  };
  const freezer = await unit({ name: 'Freezer A', kind: 'freezer', temperatureC: -80 });
  const rack = await unit({ name: 'Rack 2', kind: 'rack', parentId: freezer });
  return unit({ name: 'Box 7', kind: 'box', parentId: rack, grid: { rows: 8, columns: 12 } });
}

test('export -> import round trips barcodes, quantities and places: the samples sit in their slots', async (t) => {
  const ana = await newUser(svc.api, 'ana');
  const bo = await newUser(svc.api, 'bo');
  const [anaBox, boBox] = [await boxIn(ana), await boxIn(bo)];
  const file = csv(
    `TB-0001,blood,P001,2026-01-05,,4.5,mL,Freezer A / Rack 2 / Box 7,A1,`,
    `tb-0002,plasma,P001,2026-01-04,processing,0.002,g,${anaBox},B12,"spun twice, 2,000 g"`,
    `,saliva,P002,2026-01-03,,,,,,`,
    `TB-0004,dna,P003,2026-01-02,archived,1e6,cells,Freezer A / Rack 2 / Box 7,H1,`,
  );
  const exported = await importAndExport(ana, file, 5);
  const lines = exported.text.trim().split('\r\n');
  t.is(lines[1], 'TB-0001,blood,P001,2026-01-05,collected,4.5,mL,Freezer A / Rack 2 / Box 7,A1,');
  t.is(
    lines[2],
    'tb-0002,plasma,P001,2026-01-04,processing,0.002,g,Freezer A / Rack 2 / Box 7,B12,"spun twice, 2,000 g"',
  );
  t.regex(lines[3]!, /^VL-[0-9A-Z]{10},saliva,P002,2026-01-03,collected,,,,,$/);
  t.is(lines[4], 'TB-0004,dna,P003,2026-01-02,archived,1000000,cells,Freezer A / Rack 2 / Box 7,H1,');
  t.is((await importAndExport(bo, exported.text, 5)).text, exported.text);
  // The box holds them: its map and the storage read model agree with the file.
  const map = await asUser(svc.api, bo).get(`/storage/units/${boBox}/map`);
  const held = (map.body.positions as { position: string; sample: { barcode: string } | null }[])
    .filter((p) => p.sample !== null)
    .map((p) => `${p.position} ${p.sample!.barcode}`);
  t.deepEqual(held, ['A1 TB-0001', 'B12 tb-0002', 'H1 TB-0004']);
});

test('a barcode the lab already has is refused at validation (barcode_taken)', async (t) => {
  const first = await importOf(t, csv(`TB-X1,blood,P001,2026-01-05,,,,,,${++fileNo}`));
  t.like(first, { status: 'completed', created: 1 });
  const job = await importOf(t, csv(`tb-x1,blood,P002,2026-01-05,,,,,,${++fileNo}`), '&dryRun=true', true);
  const errors = (job.errors as { row: number; column: string | null; code: string }[]).map(
    (e) => `${e.row} ${e.column} ${e.code}`,
  );
  t.deepEqual(errors, ['2 barcode barcode_taken']);
});

test('GET /samples/export: the list filters apply; a lab the caller is not in is 404', async (t) => {
  const ana = await newUser(svc.api, 'ana');
  await importAndExport(ana, csv(`,blood,P001,2026-01-05,,,,,,`, `,saliva,P002,2026-01-04,,,,,,`), 3);
  const saliva = await exportOf(ana, '&sampleType=saliva');
  t.is(saliva.text.trim().split('\r\n').length, 2);
  t.true(saliva.text.includes(',saliva,P002,'));
  const response = await fetch(`${svc.api}/samples/export?format=csv&labId=${ana.id}`, {
    headers: { authorization: `Bearer ${lee.accessToken}` },
  });
  t.is(response.status, 404);
});

test('POST /imports/{id}/cancel while importing: it stops after the batch in hand, created exact', async (t) => {
  const rows = Array.from({ length: 1500 }, (_, i) => `,blood,P${1000 + i},2026-01-05,,,,,,cancel ${fileNo}`);
  const r = await upload(csv(...rows), `labId=${lee.id}&mode=best-effort`);
  t.is(r.status, 202);
  const id = r.body.id as string;
  for (let i = 0; i < 400 && (await asLee.get(`/imports/${id}`)).body.status !== 'importing'; i++)
    await new Promise((resolve) => setTimeout(resolve, 25));
  const cancel = await asLee.post(`/imports/${id}/cancel`);
  t.is(cancel.status, 202);
  const job = await settled(id);
  t.is(job.status, 'cancelled');
  t.true((job.created as number) < 1500);
  t.is(job.created, await createdBy(id));
});

test('a row POST /samples would refuse is refused at validation: the samples module rules judge it too', async (t) => {
  // Derivative types such as plasma are samples too; tissue needs a freezer, which only the samples
  // module's rules (with the storage tree) know.
  const job = await importOf(t, csv(row('P001', 'plasma'), row('P002', 'tissue')), '&dryRun=true', true);
  const errors = (job.errors as { row: number; column: string | null; code: string }[]).map(
    (e) => `${e.row} ${e.column} ${e.code}`,
  );
  t.deepEqual(errors, ['3 box invalid_value']);
});
