// The built-in assistant when no LLM provider is configured (the embedded default): it answers
// the questions it can from the caller's own sample read models, and says plainly what it cannot.
import type { SampleFacts, SampleLine } from './sample-facts.ts';

export const OFFLINE_MODEL = 'vialog-offline';

const SUBJECT = /\b([A-Z][0-9]{3,})\b/;

const describe = (s: SampleLine) =>
  `- ${s.collectionDate}: ${s.sampleType} of ${s.subjectId}, ${s.status}${s.storageLocation ? `, in ${s.storageLocation}` : ''}, lab ${s.lab} (id ${s.id})`;

export const OFFLINE_HELP = [
  'I am the offline assistant: no language model is configured (set LLM_BASE_URL for one).',
  'I can answer these questions about your own samples:',
  '- how many samples you have, by status and by type ("how many samples do I have?")',
  '- the samples of one subject ("samples of P001")',
  '- your most recent samples ("show my recent samples")',
  '- where a sample came from, by id or barcode ("where did aliquot TUBE-001-A come from?")',
  '- how much of a sample is left ("how much is left of TUBE-001?")',
  '- where a sample is stored ("where is TUBE-001?") and a box\'s free slots ("how many free slots in Box 7?")',
].join('\n');

export async function offlineAnswer(question: string, ownerId: string, facts: SampleFacts): Promise<string> {
  const subject = SUBJECT.exec(question)?.[1];
  if (subject) {
    const samples = await facts.subjectSamples(ownerId, subject, 20);
    if (samples.length === 0) return `You have no samples of subject ${subject}.`;
    return [
      `Your samples of subject ${subject} (${samples.length}${samples.length === 20 ? ', the newest 20' : ''}):`,
      ...samples.map(describe),
    ].join('\n');
  }
  if (/\b(how many|count|counts|number of|total|stat|stats|statistics|overview|status|statuses)\b/i.test(question)) {
    const c = await facts.counts(ownerId);
    if (c.total === 0) return 'You have no samples yet.';
    return [
      `You have ${c.total} sample${c.total === 1 ? '' : 's'}.`,
      `By status: ${c.byStatus.collected} collected, ${c.byStatus.processing} processing, ${c.byStatus.archived} archived.`,
      `By type: ${c.byType.blood} blood, ${c.byType.saliva} saliva, ${c.byType.tissue} tissue.`,
      `By lab: ${c.byLab.map((l) => `${l.lab} ${l.total}`).join(', ')}.`,
    ].join('\n');
  }
  if (/\b(recent|latest|last|newest|new)\b/i.test(question)) {
    const samples = await facts.recentSamples(ownerId, 5);
    if (samples.length === 0) return 'You have no samples yet.';
    return ['Your most recently registered samples:', ...samples.map(describe)].join('\n');
  }
  return `I cannot answer that offline.\n\n${OFFLINE_HELP}`;
}
