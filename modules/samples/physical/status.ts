// Statuses, types and dates of physical samples (API.md, Physical samples). `consumed` and
// `disposed` are final: nothing moves out of them. Disposal needs a reason, as does a re-analysis
// (archived → processing). How old a collection may be is configurable (SAMPLES_MAX_AGE_YEARS)
// so legacy collections can be loaded.
import type { FieldError } from '../../../platform/commands/decision.ts';

export const physicalSampleTypes = [
  'blood',
  'saliva',
  'tissue',
  'plasma',
  'serum',
  'buffy_coat',
  'dna',
  'rna',
] as const;
export type PhysicalSampleType = (typeof physicalSampleTypes)[number];
export const physicalStatuses = ['collected', 'processing', 'archived', 'consumed', 'disposed'] as const;
export type PhysicalStatus = (typeof physicalStatuses)[number];
export const lineages = ['primary', 'aliquot', 'derivative'] as const;
export type Lineage = (typeof lineages)[number];

export const finalStatuses: ReadonlySet<PhysicalStatus> = new Set(['consumed', 'disposed']);
export const isFinal = (status: PhysicalStatus): boolean => finalStatuses.has(status);

/** Every allowed move. `consumed` is also set on its own when the remaining amount reaches 0. */
export const physicalStatusMoves: Readonly<Record<PhysicalStatus, readonly PhysicalStatus[]>> = {
  collected: ['processing', 'archived', 'consumed', 'disposed'],
  processing: ['archived', 'consumed', 'disposed'],
  archived: ['processing', 'consumed', 'disposed'],
  consumed: [],
  disposed: [],
};
const needsReason = (from: PhysicalStatus, to: PhysicalStatus): boolean =>
  to === 'disposed' || (from === 'archived' && to === 'processing');

export type MoveCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

export function checkPhysicalStatusMove(from: PhysicalStatus, to: PhysicalStatus, reason: string | null): MoveCheck {
  if (isFinal(from)) return { ok: false, message: `a ${from} sample is final and cannot change` };
  if (!physicalStatusMoves[from].includes(to))
    return { ok: false, message: `a sample cannot move from ${from} to ${to}` };
  if (needsReason(from, to) && (reason === null || reason.trim() === '')) {
    return { ok: false, message: `moving from ${from} to ${to} needs a reason` };
  }
  return { ok: true };
}

/** The status graph as a mermaid state diagram (docs/samples.md shows this very text). */
export function statusGraphMermaid(): string {
  const lines = ['stateDiagram-v2', '  [*] --> collected'];
  for (const from of physicalStatuses) {
    for (const to of physicalStatusMoves[from]) {
      const label = to === 'consumed' ? 'remaining reaches 0' : needsReason(from, to) ? 'reason required' : '';
      lines.push(`  ${from} --> ${to}${label ? `: ${label}` : ''}`);
    }
  }
  for (const final of finalStatuses) lines.push(`  ${final} --> [*]`);
  return lines.join('\n');
}

/** What each type may be derived into (DOMAIN.md: plasma or serum from blood, DNA or RNA from tissue or blood). */
export const derivableTypes: Readonly<Record<PhysicalSampleType, readonly PhysicalSampleType[]>> = {
  blood: ['plasma', 'serum', 'buffy_coat', 'dna', 'rna'],
  saliva: ['dna', 'rna'],
  tissue: ['dna', 'rna'],
  buffy_coat: ['dna', 'rna'],
  plasma: ['dna', 'rna'],
  serum: [],
  dna: [],
  rna: [],
};

export const DEFAULT_MAX_AGE_YEARS = 10;

/** SAMPLES_MAX_AGE_YEARS: a whole number of years, default 10, 0 for no limit. */
export function parseMaxAgeYears(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_AGE_YEARS;
  if (!/^\d{1,3}$/.test(raw.trim())) throw new RangeError('SAMPLES_MAX_AGE_YEARS must be a whole number from 0 to 999');
  return Number(raw.trim());
}

/** The oldest collection date accepted on `today` (same calendar day `years` back); null: no limit. */
export function oldestCollectionDateFor(today: string, years: number): string | null {
  if (years === 0) return null;
  const [y, m, d] = today.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y - years, m - 1, d)).toISOString().slice(0, 10);
}

/** The collection-age rule: not in the future, not older than the configured limit. */
export function checkCollectionAge(collectionDate: string, today: string, years: number): FieldError | null {
  if (collectionDate > today) return { path: 'collectionDate', message: 'must not be in the future' };
  const oldest = oldestCollectionDateFor(today, years);
  if (oldest !== null && collectionDate < oldest) {
    return { path: 'collectionDate', message: `must not be older than ${years} years` };
  }
  return null;
}
