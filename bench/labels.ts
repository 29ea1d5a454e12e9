// npm run bench:labels — 10,000 sample labels as one PDF (one 50 × 25 mm label per page), written
// as a stream to a temporary file: time, labels/s, file size and peak memory (RSS and heap), plus
// for scale 1,000 single PNG and SVG labels. Progress on a terminal, quiet otherwise (CI).
// Env: BENCH_LABELS (default 10,000), BENCH_SYMBOLOGY (code128 | datamatrix | qrcode, default code128).
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateBarcode } from '../modules/samples/physical/barcode.ts';
import {
  labelPng,
  labelSvg,
  layoutLabel,
  symbologies,
  writeLabelsPdf,
  type LabelLayout,
  type Symbology,
} from '../modules/samples/physical/labels.ts';
import { Progress } from '../platform/progress.ts';
import { randomBytes } from 'node:crypto';

const LABELS = Number(process.env.BENCH_LABELS ?? 10_000);
const symbology = (process.env.BENCH_SYMBOLOGY ?? 'code128') as Symbology;
if (!symbologies.includes(symbology)) throw new Error(`BENCH_SYMBOLOGY must be one of ${symbologies.join(', ')}`);
const here = path.dirname(fileURLToPath(import.meta.url));
const quiet = !process.stderr.isTTY || process.env.CI !== undefined;
const types = ['blood', 'saliva', 'tissue', 'plasma', 'serum', 'buffy_coat', 'dna', 'rna'];
const MiB = 1024 * 1024;

function* labels(count: number): Generator<LabelLayout> {
  for (let i = 0; i < count; i++) {
    const content = {
      barcode: generateBarcode(randomBytes),
      subjectId: `P${String(i % 5000).padStart(4, '0')}`,
      sampleType: types[i % types.length]!,
      collectionDate: `2026-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
    };
    yield layoutLabel(content, symbology);
  }
}

let peakRss = process.memoryUsage.rss();
let peakHeap = process.memoryUsage().heapUsed;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 20);
const startRss = process.memoryUsage.rss();

const dir = mkdtempSync(path.join(tmpdir(), 'vialog-labels-'));
const file = path.join(dir, 'labels.pdf');
const progress = quiet ? undefined : new Progress(`${LABELS} labels → PDF`, LABELS);
const started = performance.now();
const pages = await writeLabelsPdf(labels(LABELS), createWriteStream(file), (n) => progress?.update(n));
const seconds = (performance.now() - started) / 1000;
progress?.done();
clearInterval(sampler);
const bytes = statSync(file).size;
rmSync(dir, { recursive: true, force: true });

const SINGLE = 1_000;
const singles = [...labels(SINGLE)];
let t0 = performance.now();
for (const layout of singles) labelPng(layout);
const pngMs = (performance.now() - t0) / SINGLE;
t0 = performance.now();
for (const layout of singles) labelSvg(layout);
const svgMs = (performance.now() - t0) / SINGLE;

const result = {
  labels: pages,
  symbology,
  seconds: Number(seconds.toFixed(2)),
  labelsPerSecond: Math.round(pages / seconds),
  pdfMiB: Number((bytes / MiB).toFixed(1)),
  peakRssMiB: Math.round(peakRss / MiB),
  rssGrowthMiB: Math.round((peakRss - startRss) / MiB),
  peakHeapMiB: Math.round(peakHeap / MiB),
  maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  pngMsPerLabel: Number(pngMs.toFixed(2)),
  svgMsPerLabel: Number(svgMs.toFixed(3)),
};
console.log(
  `${pages.toLocaleString('en-US')} ${symbology} labels → one PDF of ${result.pdfMiB} MiB in ${result.seconds} s ` +
    `(${result.labelsPerSecond.toLocaleString('en-US')} labels/s); peak RSS ${result.peakRssMiB} MiB ` +
    `(+${result.rssGrowthMiB} MiB while writing), peak heap ${result.peakHeapMiB} MiB`,
);
console.log(`single labels: PNG ${result.pngMsPerLabel} ms, SVG ${result.svgMsPerLabel} ms each`);
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'labels.json'), `${JSON.stringify(result, null, 2)}\n`);
