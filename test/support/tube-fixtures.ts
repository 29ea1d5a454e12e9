// A lab with a box and a tube in it, for the assistant's tube questions: lab "Hematology", Freezer
// A / Box 7 (8 × 12), TUBE-001 (2 mL of blood of P001) split into aliquots and placed in the box.
import type { Client } from './client.ts';

export interface TubeLab {
  readonly labId: string;
  readonly tubeId: string;
  readonly aliquots: { id: string; barcode: string }[];
}

export async function tubeLab(
  as: Client,
  options: { aliquots: number; aliquotAmount: { value: number; unit: string }; position: string },
): Promise<TubeLab> {
  const labId = (await as.post('/labs', { name: 'Hematology' })).body.id as string;
  const unit = async (body: Record<string, unknown>) =>
    (await as.post('/storage/units', { labId, ...body })).body.id as string;
  const freezer = await unit({ name: 'Freezer A', kind: 'freezer' });
  const box = await unit({ name: 'Box 7', kind: 'box', parentId: freezer, grid: { rows: 8, columns: 12 } });
  const tube = await as.post('/samples', {
    labId,
    sampleType: 'blood',
    subjectId: 'P001',
    collectionDate: '2026-01-05',
    barcode: 'TUBE-001',
    quantity: { value: 2, unit: 'mL' },
  });
  const tubeId = tube.body.id as string;
  const split = await as.post(`/samples/${tubeId}/aliquots`, {
    count: options.aliquots,
    quantity: options.aliquotAmount,
  });
  await as.put(`/samples/${tubeId}/location`, { unitId: box, position: options.position });
  return { labId, tubeId, aliquots: split.body.items as { id: string; barcode: string }[] };
}

/** Asks a question in a new conversation: the assistant's answer. */
export async function askOnce(who: Client, content: string): Promise<string> {
  const id = (await who.post('/dialog/conversations', {})).body.id as string;
  const r = await who.post(`/dialog/conversations/${id}/messages`, { content });
  return (r.body.assistantMessage as { content: string }).content;
}
