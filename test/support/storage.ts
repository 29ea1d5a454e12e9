// Storage fixtures for HTTP tests: a service with a user, units created through the API, samples
// to place, and what a box's map shows in a slot.
import type { TestFn } from 'ava';
import { asUser, type Client } from './client.ts';
import { newUser, startTestService, type TestService, type TestUser } from './service.ts';

/** A service of the file's own and one user of it with their client (set before the first test). */
export interface StorageBed {
  svc: TestService;
  user: TestUser;
  as: Client;
}

/** Starts the service and the user before the file's tests, stops it after them. */
export function storageBed(test: TestFn, username = 'lee'): StorageBed {
  const bed = {} as StorageBed;
  test.before(async () => {
    bed.svc = await startTestService();
    bed.user = await newUser(bed.svc.api, username);
    bed.as = asUser(bed.svc.api, bed.user);
  });
  test.after.always(async () => {
    await bed.svc?.stop();
  });
  return bed;
}

export type Unit = { id: string; path: string; [k: string]: unknown };

/** A unit of the lab, created through POST /storage/units (throws unless 201). */
export async function createUnit(who: Client, labId: string, body: Record<string, unknown>): Promise<Unit> {
  const r = await who.post('/storage/units', { labId, ...body });
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Unit;
}

/** Freezer A / Rack 2 / Box 7 and Box 8 (8 × 12 each), fresh for each call. */
export async function freezerTree(who: Client, labId: string) {
  const freezer = await createUnit(who, labId, { name: 'Freezer A', kind: 'freezer', temperatureC: -80 });
  const rack = await createUnit(who, labId, { name: 'Rack 2', kind: 'rack', parentId: freezer.id });
  const grid = { rows: 8, columns: 12 };
  const box = await createUnit(who, labId, { name: 'Box 7', kind: 'box', parentId: rack.id, grid });
  const other = await createUnit(who, labId, { name: 'Box 8', kind: 'box', parentId: rack.id, grid });
  return { freezer, rack, box, other };
}

/** A sample registered through POST /samples (tissue gets a freezer location); its id and barcode. */
export async function newSample(
  who: Client,
  fields: { sampleType?: string; subjectId?: string; labId?: string } = {},
): Promise<{ id: string; barcode: string }> {
  const sampleType = fields.sampleType ?? 'blood';
  const r = await who.post('/samples', {
    sampleType,
    subjectId: fields.subjectId ?? 'P001',
    collectionDate: '2026-01-05',
    ...(fields.labId ? { labId: fields.labId } : {}),
    ...(sampleType === 'tissue' ? { storageLocation: 'freezer-1-rowA' } : {}),
  });
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.id as string, barcode: r.body.barcode as string };
}

/** Places the sample through PUT /samples/{id}/location (throws unless 200); the answer's body. */
export async function placeSample(who: Client, sampleId: string, unitId: string, position: string) {
  const r = await who.put(`/samples/${sampleId}/location`, { unitId, position });
  if (r.status !== 200) throw new Error(`placement failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The id of the sample the box's map shows at the position, or null. */
export async function holderOf(who: Client, boxId: string, position: string): Promise<string | null> {
  const map = await who.get(`/storage/units/${boxId}/map`);
  const slot = (map.body.positions as { position: string; sample: { id: string } | null }[]).find(
    (p) => p.position === position,
  );
  return slot?.sample?.id ?? null;
}
