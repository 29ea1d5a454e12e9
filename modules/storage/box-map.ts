// A box's map, as pure functions of its grid and the samples in its slots: JSON (every position
// in reading order, with its sample or null) and a printable SVG picture (a grid of slots,
// occupied ones coloured by sample type and labelled with the barcode, a legend of the types).
import type { Grid } from './events.ts';
import { positionsInReadingOrder } from './grid.ts';

export interface MapSample {
  readonly id: string;
  /** Null until the sample has a barcode; the picture then shows the start of its id. */
  readonly barcode: string | null;
  readonly sampleType: string;
  readonly subjectId: string;
  readonly status: string;
}

export interface BoxMap {
  readonly rows: number;
  readonly columns: number;
  readonly positions: readonly { readonly position: string; readonly sample: MapSample | null }[];
}

export function boxMap(grid: Grid, slots: ReadonlyMap<string, MapSample>): BoxMap {
  return {
    rows: grid.rows,
    columns: grid.columns,
    positions: positionsInReadingOrder(grid).map((position) => ({ position, sample: slots.get(position) ?? null })),
  };
}

/** Fill colours by sample type: light enough for black text, distinct in print. */
export const sampleTypeColours: Readonly<Record<string, string>> = {
  blood: '#f4a3a3',
  plasma: '#f7e08a',
  serum: '#f6c27a',
  buffy_coat: '#e8dcc4',
  saliva: '#a9d3f0',
  tissue: '#e6b3e0',
  dna: '#a8dcaa',
  rna: '#c7b8f0',
};
const OTHER_TYPE = '#cfcfcf';
const FREE = '#ffffff';

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

/** Slot and margin sizes in the picture's own units; printed at most 0.22 mm a unit, and 180 mm wide (A4 or Letter). */
const CELL = 64;
const MARGIN = 36;
const LEGEND = 40;
const MAX_UNIT_MM = 0.22;
const MAX_WIDTH_MM = 180;

const labelOf = (s: MapSample): string => s.barcode ?? s.id.slice(0, 8);

/** Text that fits a slot: up to 12 characters on one line, the middle elided beyond. */
function fitLabel(text: string): string {
  return text.length <= 12 ? text : `${text.slice(0, 5)}…${text.slice(-6)}`;
}

function slotSvg(position: string, x: number, y: number, sample: MapSample | undefined): string {
  const fill = sample ? (sampleTypeColours[sample.sampleType] ?? OTHER_TYPE) : FREE;
  const title = sample
    ? `${position}: ${labelOf(sample)} (${sample.sampleType}, ${sample.subjectId}, ${sample.status})`
    : `${position}: free`;
  const label = sample
    ? `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" class="b">${escapeXml(fitLabel(labelOf(sample)))}</text>`
    : `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" class="p">${position}</text>`;
  return (
    `<g data-position="${position}"${sample ? ` data-sample-type="${escapeXml(sample.sampleType)}"` : ''}>` +
    `<title>${escapeXml(title)}</title>` +
    `<rect x="${x + 2}" y="${y + 2}" width="${CELL - 4}" height="${CELL - 4}" rx="6" fill="${fill}" stroke="#333" stroke-width="1.5"/>` +
    `${label}</g>`
  );
}

function legendSvg(types: readonly string[], y: number): string {
  return types
    .map((type, i) => {
      const x = MARGIN + i * 150;
      const fill = sampleTypeColours[type] ?? OTHER_TYPE;
      return (
        `<rect x="${x}" y="${y}" width="20" height="20" fill="${fill}" stroke="#333"/>` +
        `<text x="${x + 26}" y="${y + 15}" class="l">${escapeXml(type)}</text>`
      );
    })
    .join('');
}

/** The picture: `title` (the box's path) on top, row letters and column numbers round the grid. */
export function boxMapSvg(title: string, grid: Grid, slots: ReadonlyMap<string, MapSample>): string {
  const width = MARGIN + grid.columns * CELL + 8;
  const gridTop = MARGIN + 28;
  const height = gridTop + grid.rows * CELL + 12 + LEGEND;
  const mm = Math.min(MAX_UNIT_MM, MAX_WIDTH_MM / width);
  const parts: string[] = [];
  for (let c = 0; c < grid.columns; c++)
    parts.push(`<text x="${MARGIN + c * CELL + CELL / 2}" y="${gridTop - 8}" class="h">${c + 1}</text>`);
  positionsInReadingOrder(grid).forEach((position, i) => {
    const row = Math.floor(i / grid.columns);
    const column = i % grid.columns;
    if (column === 0)
      parts.push(`<text x="${MARGIN / 2}" y="${gridTop + row * CELL + CELL / 2 + 6}" class="h">${position[0]}</text>`);
    parts.push(slotSvg(position, MARGIN + column * CELL, gridTop + row * CELL, slots.get(position)));
  });
  const types = [...new Set([...slots.values()].map((s) => s.sampleType))].sort();
  const occupied = slots.size;
  const heading = `${title} — ${occupied} of ${grid.rows * grid.columns} slots occupied`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${(width * mm).toFixed(1)}mm" height="${(height * mm).toFixed(1)}mm">`,
    `<title>${escapeXml(heading)}</title>`,
    '<style>text{font-family:Helvetica,Arial,sans-serif;fill:#000}.h{font-size:18px;text-anchor:middle;font-weight:bold}' +
      '.b{font-size:11px;text-anchor:middle}.p{font-size:11px;text-anchor:middle;fill:#888}.l{font-size:14px}.t{font-size:20px;font-weight:bold}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${MARGIN}" y="26" class="t">${escapeXml(heading)}</text>`,
    ...parts,
    legendSvg(types, gridTop + grid.rows * CELL + 12),
    '</svg>',
  ].join('\n');
}
