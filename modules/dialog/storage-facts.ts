// What the assistant knows of storage ("where is <sample>?", "how many free slots in Box 7?"):
// the storage module answers, app/ passes it in (modules do not import each other).
export interface BoxFreeSlots {
  readonly path: string;
  /** The name of the lab the box belongs to. */
  readonly lab: string;
  readonly free: number;
  readonly capacity: number;
}

export interface StorageFacts {
  /** The place of one of the caller's samples: undefined when it is not one of theirs. */
  whereIs(userId: string, sampleId: string): Promise<{ path: string; position: string } | null | undefined>;
  /** The boxes of the caller's labs with this name (case-insensitive). */
  freeSlots(userId: string, boxName: string): Promise<BoxFreeSlots[]>;
}

const FREE = /\bfree\s+(?:slots?|positions?|places?)\s+(?:are\s+)?(?:there\s+)?in\s+(.+?)\s*\??$/i;

/** The answer to "how many free slots in <box>?", or undefined when the question is not that. */
export async function freeSlotsAnswer(
  question: string,
  userId: string,
  facts: StorageFacts,
): Promise<string | undefined> {
  const boxName = FREE.exec(question.trim())?.[1];
  if (!boxName) return undefined;
  const boxes = await facts.freeSlots(userId, boxName);
  if (boxes.length === 0) return `You have no box named ${boxName}.`;
  return boxes.map((b) => `${b.path} (lab ${b.lab}): ${b.free} of ${b.capacity} slots free.`).join('\n');
}
