// The model's tools over tubes and boxes: a sample by id or barcode (amounts, lineage), its
// origin, its place in storage, a box's free slots. Each reads the caller's labs only and names
// the lab; arguments are validated, and a bad call gets an error the model can read.
import { z } from 'zod';
import { locationsOf, originsOf } from './physical-answers.ts';
import type { ToolDefinition } from './provider.ts';
import type { SampleFacts } from './sample-facts.ts';
import type { StorageFacts } from './storage-facts.ts';

const ref = {
  type: 'string',
  description: 'A sample id (UUID) or its barcode, e.g. TUBE-001 (case-insensitive)',
  pattern: '^[A-Za-z0-9._-]{1,64}$',
};
const byRef = (name: string, description: string): ToolDefinition => ({
  name,
  description,
  parameters: { type: 'object', properties: { ref }, required: ['ref'], additionalProperties: false },
});

export const physicalSampleTools: readonly ToolDefinition[] = [
  byRef(
    'find_sample',
    "A sample of the user's labs by id or barcode: its lab, type, subject, status, lineage, parent, " +
      'quantity and remaining amount ("how much is left of TUBE-001?").',
  ),
  byRef(
    'sample_origin',
    'Where a sample came from: its ancestors (root first), each with barcode, lab and type ("where did aliquot X come from?").',
  ),
];

export const storageTools: readonly ToolDefinition[] = [
  byRef('sample_location', 'Where a sample is stored: the path of its box and the position in it, and its lab.'),
  {
    name: 'box_free_slots',
    description: "The free slots of the user's boxes with this name (case-insensitive), each with its path and lab.",
    parameters: {
      type: 'object',
      properties: { box: { type: 'string', description: 'The box name, e.g. Box 7' } },
      required: ['box'],
      additionalProperties: false,
    },
  },
];

const refArgs = z.object({ ref: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) });
const boxArgs = z.object({ box: z.string().trim().min(1).max(200) });
const notFound = { samples: [], note: "No sample with this id or barcode in the user's labs." };

/** Runs one of these tools for the caller; undefined when the name is not one of them. */
export async function runPhysicalTool(
  name: string,
  args: unknown,
  userId: string,
  facts: SampleFacts,
  storage: StorageFacts | undefined,
): Promise<string | undefined> {
  if (name === 'box_free_slots' && storage) {
    const parsed = boxArgs.safeParse(args);
    if (!parsed.success) return JSON.stringify({ error: 'box must be a box name' });
    return JSON.stringify({ boxes: await storage.freeSlots(userId, parsed.data.box) });
  }
  const tools = ['find_sample', 'sample_origin', ...(storage ? ['sample_location'] : [])];
  if (!tools.includes(name)) return undefined;
  const parsed = refArgs.safeParse(args);
  if (!parsed.success) return JSON.stringify({ error: 'ref must be a sample id or barcode ([A-Za-z0-9._-], 1–64)' });
  const key = parsed.data.ref;
  const found =
    name === 'find_sample'
      ? await facts.findSamples(userId, key)
      : name === 'sample_origin'
        ? await originsOf(facts, userId, key)
        : await locationsOf(facts, storage, userId, key);
  return JSON.stringify(found.length === 0 ? notFound : { samples: found });
}
