// What the offline assistant knows of storage ("where is <sample>?", "how many free slots in Box
// 7?"): the storage module answers, app/ passes it in (modules do not import each other).
export interface BoxFreeSlots {
  readonly path: string;
  readonly free: number;
  readonly capacity: number;
}

export interface StorageFacts {
  /** The place of one of the caller's samples: undefined when it is not one of theirs. */
  whereIs(userId: string, sampleId: string): Promise<{ path: string; position: string } | null | undefined>;
  /** The boxes of the caller's labs with this name (case-insensitive). */
  freeSlots(userId: string, boxName: string): Promise<BoxFreeSlots[]>;
}

const WHERE = /\bwhere\s+is\s+(?:sample\s+)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i;
const FREE = /\bfree\s+(?:slots?|positions?|places?)\s+(?:are\s+)?(?:there\s+)?in\s+(.+?)\s*\??$/i;

/** The answer to a storage question, or undefined when the question is not one. */
export async function storageAnswer(
  question: string,
  userId: string,
  facts: StorageFacts,
): Promise<string | undefined> {
  const where = WHERE.exec(question)?.[1]?.toLowerCase();
  if (where) {
    const place = await facts.whereIs(userId, where);
    if (place === undefined) return `You have no sample ${where}.`;
    if (place === null) return `Sample ${where} has no place in a box.`;
    return `Sample ${where} is in ${place.path}, position ${place.position}.`;
  }
  const boxName = FREE.exec(question.trim())?.[1];
  if (boxName) {
    const boxes = await facts.freeSlots(userId, boxName);
    if (boxes.length === 0) return `You have no box named ${boxName}.`;
    return boxes.map((b) => `${b.path}: ${b.free} of ${b.capacity} slots free.`).join('\n');
  }
  return undefined;
}
