// The assistant's knowledge of tubes: where a sample came from (its lineage), how much of it is
// left and where it is stored, asked by id or barcode, over the caller's labs only; every answer
// says which lab. The same lookups serve the offline assistant (text) and the model's tools (JSON).
import type { Amount, PhysicalLine, SampleFacts } from './sample-facts.ts';
import type { StorageFacts } from './storage-facts.ts';

export interface Origin {
  readonly sample: PhysicalLine;
  /** Root first, as far as the caller can see. */
  readonly ancestors: PhysicalLine[];
  /** The chain goes on into a lab the caller is not a member of. */
  readonly beyondYourLabs: boolean;
}

export interface Location {
  readonly sample: PhysicalLine;
  /** The box and position; null when it has none. */
  readonly place: { readonly path: string; readonly position: string } | null;
}

/** The lineage of every sample of the caller's labs with this id or barcode. */
export async function originsOf(facts: SampleFacts, userId: string, ref: string): Promise<Origin[]> {
  const found = await facts.findSamples(userId, ref);
  return Promise.all(
    found.map(async (sample) => {
      const ancestors = sample.parentId ? await facts.ancestors(userId, sample.id) : [];
      return { sample, ancestors, beyondYourLabs: (ancestors[0] ?? sample).parentId !== null };
    }),
  );
}

/** Where every sample of the caller's labs with this id or barcode is stored. */
export async function locationsOf(
  facts: SampleFacts,
  storage: StorageFacts | undefined,
  userId: string,
  ref: string,
): Promise<Location[]> {
  const found = await facts.findSamples(userId, ref);
  const located = await Promise.all(
    found.map(async (sample) => {
      const place = storage ? await storage.whereIs(userId, sample.id) : null;
      return place === undefined ? [] : [{ sample, place }];
    }),
  );
  return located.flat();
}

// --- text ---------------------------------------------------------------------------------------

const amount = (a: Amount) => `${a.value} ${a.unit}`;
const nameOf = (s: PhysicalLine) => (s.barcode ? `${s.barcode} (id ${s.id})` : s.id);
/** "a primary blood sample of P001", "an aliquot ...". */
const kindOf = (s: PhysicalLine) =>
  `${/^[aeiou]/i.test(s.lineage) ? 'an' : 'a'} ${s.lineage} ${s.sampleType} sample of ${s.subjectId}`;

/** How much of a sample is left, in words. */
export function leftOf(s: PhysicalLine): string {
  if (s.status === 'consumed') return 'nothing is left (consumed)';
  if (s.status === 'disposed') return 'it was disposed';
  if (!s.remaining) return 'its amount is not tracked';
  return `${amount(s.remaining)} left${s.quantity ? ` of ${amount(s.quantity)}` : ''}`;
}

function originText({ sample, ancestors, beyondYourLabs }: Origin): string {
  const head = `${nameOf(sample)} is ${kindOf(sample)} in lab ${sample.lab}`;
  const parent = ancestors.at(-1);
  if (!sample.parentId) return `${head}: collected from subject ${sample.subjectId} on ${sample.collectionDate}.`;
  if (!parent) return `${head}: its parent ${sample.parentId} is in a lab you are not a member of.`;
  const chain = [...ancestors, sample].map((s) => s.barcode ?? s.id).join(' → ');
  return [
    `${head}: it came from ${nameOf(parent)}, ${kindOf(parent)} in lab ${parent.lab}.`,
    `Lineage, root first: ${chain}${beyondYourLabs ? ' (earlier generations are in a lab you are not a member of)' : ''}.`,
  ].join('\n');
}

function locationText({ sample, place }: Location): string {
  const head = `${nameOf(sample)} (lab ${sample.lab})`;
  if (place) return `${head} is in ${place.path}, position ${place.position}.`;
  return `${head} has no place in a box${sample.storageLocation ? `; its storage location is ${sample.storageLocation}` : ''}.`;
}

// A reference: an id or a barcode, holding a digit, a hyphen or an underscore so that "where is
// my sample?" is not one (an assigned barcode such as VL-LFDVPAUSDB may hold no digit).
const REF = String.raw`((?=[A-Za-z0-9._-]*[0-9_-])[A-Za-z0-9._-]{1,64})`;
const NOUN = String.raw`(?:(?:the\s+)?(?:sample|tube|aliquot|derivative|vial)\s+)?`;
const ORIGIN = new RegExp(
  String.raw`\b(?:where\s+(?:did|does)\s+${NOUN}${REF}\s+come\s+from|(?:origin|parent|lineage)\s+of\s+${NOUN}${REF})`,
  'i',
);
const LEFT = new RegExp(
  String.raw`\bhow\s+much\s+(?:is\s+)?(?:left|remains|remaining)\s+(?:of|in)\s+${NOUN}${REF}`,
  'i',
);
const WHERE = new RegExp(String.raw`\bwhere\s+is\s+${NOUN}${REF}`, 'i');

const refIn = (match: RegExpExecArray | null) => (match?.[1] ?? match?.[2])?.replace(/\.+$/, '');
const none = (ref: string) => `You have no sample ${ref} in your labs.`;

/** The offline answer to a question about one tube, or undefined when the question is not one. */
export async function physicalAnswer(
  question: string,
  userId: string,
  facts: SampleFacts,
  storage?: StorageFacts,
): Promise<string | undefined> {
  const origin = refIn(ORIGIN.exec(question));
  if (origin) {
    const found = await originsOf(facts, userId, origin);
    return found.length === 0 ? none(origin) : found.map(originText).join('\n');
  }
  const left = refIn(LEFT.exec(question));
  if (left) {
    const found = await facts.findSamples(userId, left);
    if (found.length === 0) return none(left);
    return found.map((s) => `${nameOf(s)}, ${kindOf(s)} in lab ${s.lab}: ${leftOf(s)}.`).join('\n');
  }
  const where = refIn(WHERE.exec(question));
  if (where) {
    const found = await locationsOf(facts, storage, userId, where);
    return found.length === 0 ? none(where) : found.map(locationText).join('\n');
  }
  return undefined;
}
