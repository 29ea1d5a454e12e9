// Sample labels for 50 × 25 mm stock (API.md, Physical samples): the barcode (Code 128,
// DataMatrix or QR, encoded by bwip-js) with the barcode text, subject, type and collection date.
// One layout, measured in printer dots at 300 dpi so every module is a whole number of dots,
// drawn three ways: SVG (vector, text as <text> and <title>), PNG (rasterised here, text in
// bwip-js's built-in OCR-B), and PDF through pdfkit, one label per page.
import bwipjs from 'bwip-js';
import PDFDocument from 'pdfkit';
import { PassThrough, type Writable } from 'node:stream';
import { crc32, deflateSync } from 'node:zlib';

export const symbologies = ['code128', 'datamatrix', 'qrcode'] as const;
export type Symbology = (typeof symbologies)[number];
export const labelFormats = ['svg', 'png', 'pdf'] as const;
export type LabelFormat = (typeof labelFormats)[number];

export interface LabelContent {
  readonly barcode: string;
  readonly subjectId: string;
  readonly sampleType: string;
  readonly collectionDate: string;
}

/** A label that cannot be made as asked (the route answers 400). */
export class LabelError extends Error {
  override readonly name = 'LabelError';
}

export const DPI = 300;
export const LABEL_MM = { width: 50, height: 25 } as const;
const W = Math.round((LABEL_MM.width / 25.4) * DPI);
const H = Math.round((LABEL_MM.height / 25.4) * DPI);
const MARGIN = 12;
/** Smallest module: 2 dots (0.17 mm), what common scanners still read from thermal labels. */
const MIN_MODULE = 2;
/** Width of a character per unit of font size (OCR-B and Courier are monospaced, ~0.6 em). */
const ADVANCE = 0.64;

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}
interface TextLine {
  readonly text: string;
  readonly x: number;
  /** Baseline. */
  readonly y: number;
  readonly size: number;
}
export interface LabelLayout {
  readonly width: number;
  readonly height: number;
  readonly rects: readonly Rect[];
  readonly lines: readonly TextLine[];
  readonly content: LabelContent;
}

const fit = (text: string, width: number, preferred: number) =>
  Math.max(8, Math.min(preferred, Math.floor(width / (ADVANCE * Math.max(1, text.length)))));

function linearLayout(content: LabelContent, sbs: readonly number[]): LabelLayout {
  const modules = sbs.reduce((sum, n) => sum + n, 0);
  const module = Math.floor(W / (modules + 20)); // 10 modules of quiet zone each side
  if (module < MIN_MODULE) {
    throw new LabelError(`the barcode is too long for Code 128 on a 50 × 25 mm label; use datamatrix or qrcode`);
  }
  const left = Math.round((W - modules * module) / 2);
  const top = 18;
  const barHeight = 160;
  const rects: Rect[] = [];
  let x = left;
  sbs.forEach((width, i) => {
    if (i % 2 === 0) rects.push({ x, y: top, w: width * module, h: barHeight });
    x += width * module;
  });
  const details = `${content.subjectId}  ${content.sampleType}  ${content.collectionDate}`;
  const line = (text: string, y: number, preferred: number): TextLine => {
    const size = fit(text, W - 2 * MARGIN, preferred);
    return { text, x: Math.round((W - text.length * ADVANCE * size) / 2), y, size };
  };
  return { width: W, height: H, rects, content, lines: [line(content.barcode, 218, 38), line(details, 262, 32)] };
}

function matrixLayout(content: LabelContent, symbol: MatrixSymbol, quiet: number): LabelLayout {
  const available = H - 2 * MARGIN;
  const module = Math.floor(available / (Math.max(symbol.columns, symbol.rows) + 2 * quiet));
  if (module < MIN_MODULE) throw new LabelError('the barcode is too long for this symbology on a 50 × 25 mm label');
  const left = MARGIN + quiet * module;
  const top = Math.round((H - symbol.rows * module) / 2);
  const rects: Rect[] = [];
  for (let row = 0; row < symbol.rows; row++) {
    for (let col = 0; col < symbol.columns;) {
      if (!symbol.dark(row, col)) {
        col++;
        continue;
      }
      const start = col;
      while (col < symbol.columns && symbol.dark(row, col)) col++;
      rects.push({ x: left + start * module, y: top + row * module, w: (col - start) * module, h: module });
    }
  }
  const textLeft = left + symbol.columns * module + quiet * module + MARGIN;
  const chunks = content.barcode.match(/.{1,16}/g) ?? [content.barcode];
  const texts = [...chunks, content.subjectId, content.sampleType, content.collectionDate];
  const pitch = Math.floor(available / texts.length);
  const size = Math.min(34, Math.floor(pitch / 1.15), ...texts.map((t) => fit(t, W - textLeft - MARGIN, 34)));
  const lines = texts.map((text, i) => ({ text, x: textLeft, y: MARGIN + pitch * i + Math.round(pitch * 0.8), size }));
  return { width: W, height: H, rects, content, lines };
}

interface MatrixSymbol {
  readonly rows: number;
  readonly columns: number;
  dark(row: number, column: number): boolean;
}

/** The label's geometry; LabelError when the barcode does not fit the symbology on this stock. */
export function layoutLabel(content: LabelContent, symbology: Symbology): LabelLayout {
  if (symbology === 'code128') {
    const [encoded] = bwipjs.raw({ bcid: 'code128', text: content.barcode }) as { sbs: number[] }[];
    return linearLayout(content, encoded!.sbs);
  }
  const [encoded] = bwipjs.raw({ bcid: symbology, text: content.barcode }) as {
    pixs: number[];
    pixx: number;
    pixy: number;
  }[];
  const { pixs, pixx, pixy } = encoded!;
  const symbol = { rows: pixy, columns: pixx, dark: (row: number, col: number) => pixs[row * pixx + col] === 1 };
  return matrixLayout(content, symbol, symbology === 'qrcode' ? 4 : 1);
}

const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

export function labelSvg(layout: LabelLayout): string {
  const { content } = layout;
  const title = `${content.barcode} — ${content.subjectId}, ${content.sampleType}, ${content.collectionDate}`;
  const bars = layout.rects.map((r) => `M${r.x} ${r.y}h${r.w}v${r.h}h${-r.w}z`).join('');
  const texts = layout.lines
    .map((l) => `<text x="${l.x}" y="${l.y}" font-size="${l.size}">${escapeXml(l.text)}</text>`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_MM.width}mm" height="${LABEL_MM.height}mm" ` +
    `viewBox="0 0 ${layout.width} ${layout.height}" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title><rect width="100%" height="100%" fill="#fff"/>` +
    `<path fill="#000" shape-rendering="crispEdges" d="${bars}"/>` +
    `<g font-family="OCR-B, 'Courier New', monospace" fill="#000">${texts}</g></svg>`
  );
}

function drawText(pixels: Uint8Array, width: number, line: TextLine): void {
  const font = bwipjs.FontLib.lookup('OCR-B');
  let x = line.x;
  for (const char of line.text) {
    const glyph = bwipjs.FontLib.getglyph(font, char.charCodeAt(0), line.size, line.size);
    for (let j = 0; j < glyph.height; j++) {
      const py = line.y - glyph.top + j;
      for (let i = 0; i < glyph.width; i++) {
        const px = x + glyph.left + i;
        const alpha = glyph.bytes[glyph.offset + j * glyph.width + i]!;
        const at = py * width + px;
        if (alpha && px >= 0 && px < width && py >= 0 && at < pixels.length) {
          pixels[at] = Math.min(pixels[at]!, 255 - alpha);
        }
      }
    }
    x += glyph.advance;
  }
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit greyscale PNG that says 300 dpi, so it prints at 50 × 25 mm. */
export function labelPng(layout: LabelLayout): Buffer {
  const { width, height } = layout;
  const pixels = new Uint8Array(width * height).fill(255);
  for (const r of layout.rects) {
    for (let y = r.y; y < r.y + r.h; y++) pixels.fill(0, y * width + r.x, y * width + r.x + r.w);
  }
  for (const line of layout.lines) drawText(pixels, width, line);
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) rows.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8 bits, greyscale, deflate, no filter method, no interlace
  const perMetre = Math.round(DPI / 0.0254);
  const phys = Buffer.alloc(9);
  phys.writeUInt32BE(perMetre, 0);
  phys.writeUInt32BE(perMetre, 4);
  phys[8] = 1;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('pHYs', phys),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const POINTS_PER_DOT = 72 / DPI;
const PAGE: [number, number] = [(LABEL_MM.width / 25.4) * 72, (LABEL_MM.height / 25.4) * 72];

function drawPdfLabel(doc: PDFKit.PDFDocument, layout: LabelLayout): void {
  doc.save().scale(POINTS_PER_DOT);
  for (const r of layout.rects) doc.rect(r.x, r.y, r.w, r.h);
  doc.fill('#000000');
  doc.font('Courier');
  for (const line of layout.lines) {
    doc.fontSize(line.size).text(line.text, line.x, line.y, { lineBreak: false, baseline: 'alphabetic' });
  }
  doc.restore();
}

/**
 * Writes a PDF with one label per page, in the order given, to `out`; the source may be lazy
 * (an async iterable) so a large batch never sits in memory. Resolves when `out` has it all.
 */
export async function writeLabelsPdf(
  labels: Iterable<LabelLayout> | AsyncIterable<LabelLayout>,
  out: Writable,
  onPage?: (pages: number) => void,
): Promise<number> {
  const doc = new PDFDocument({ autoFirstPage: false, size: PAGE, margin: 0, info: { Title: 'Sample labels' } });
  const finished = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve).on('error', reject);
    doc.on('error', reject);
  });
  doc.pipe(out);
  let pages = 0;
  for await (const layout of labels) {
    doc.addPage({ size: PAGE, margin: 0 });
    drawPdfLabel(doc, layout);
    pages++;
    onPage?.(pages);
    // Let the consumer drain what pdfkit has pushed before the next pages pile up.
    if (pages % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  doc.end();
  await finished;
  return pages;
}

/** The PDF of these labels in memory (for a route's batch of at most a few hundred). */
export async function labelsPdf(labels: readonly LabelLayout[]): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => chunks.push(chunk));
  await writeLabelsPdf(labels, sink);
  return Buffer.concat(chunks);
}

export interface RenderedLabel {
  readonly contentType: string;
  readonly body: Buffer | string;
}

/** One label in the asked format and symbology (GET /samples/{id}/label). */
export async function renderLabel(
  content: LabelContent,
  format: LabelFormat,
  symbology: Symbology,
): Promise<RenderedLabel> {
  const layout = layoutLabel(content, symbology);
  if (format === 'svg') return { contentType: 'image/svg+xml; charset=utf-8', body: labelSvg(layout) };
  if (format === 'png') return { contentType: 'image/png', body: labelPng(layout) };
  return { contentType: 'application/pdf', body: await labelsPdf([layout]) };
}
