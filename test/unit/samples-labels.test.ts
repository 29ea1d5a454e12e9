// Labels read back: PNG (magic, size, 300 dpi, and the barcode decoded by ZXing), SVG (the
// barcode text as <title> and <text>), PDF (magic, one 50 × 25 mm page per label in the order
// given, each page's text).
import test from 'ava';
import zxing from '@zxing/library';
import { PNG } from 'pngjs';
import { inflateSync } from 'node:zlib';
import {
  labelPng,
  labelsPdf,
  labelSvg,
  LabelError,
  layoutLabel,
  renderLabel,
  type LabelContent,
  type Symbology,
} from '../../modules/samples/physical/labels.ts';

const content: LabelContent = {
  barcode: 'VL-3F9K2M7QXA',
  subjectId: 'P001',
  sampleType: 'plasma',
  collectionDate: '2026-11-01',
};
const formats: Record<Symbology, zxing.BarcodeFormat> = {
  code128: zxing.BarcodeFormat.CODE_128,
  datamatrix: zxing.BarcodeFormat.DATA_MATRIX,
  qrcode: zxing.BarcodeFormat.QR_CODE,
};

/**
 * ZXing's decode of the label's barcode. A 2D symbol is looked for in the label's left square,
 * where a scanner is aimed: ZXing's DataMatrix detector searches outwards from the image's
 * centre, which on this label is the text.
 */
function decodePng(png: Buffer, symbology: Symbology): string {
  const image = PNG.sync.read(png);
  const width = symbology === 'code128' ? image.width : image.height;
  const luminance = new Uint8ClampedArray(width * image.height);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < width; x++) luminance[y * width + x] = image.data[(y * image.width + x) * 4]!;
  }
  const source = new zxing.RGBLuminanceSource(luminance, width, image.height);
  const hints = new Map<zxing.DecodeHintType, unknown>([
    [zxing.DecodeHintType.POSSIBLE_FORMATS, [formats[symbology]]],
    [zxing.DecodeHintType.TRY_HARDER, true],
  ]);
  const reader = new zxing.MultiFormatReader();
  return reader.decode(new zxing.BinaryBitmap(new zxing.HybridBinarizer(source)), hints).getText();
}

/** The text of every FlateDecode stream of a PDF, inflated. */
function pdfStreams(pdf: Buffer): string[] {
  const streams: string[] = [];
  const text = pdf.toString('latin1');
  for (let at = text.indexOf('stream\n'); at >= 0; at = text.indexOf('stream\n', at + 1)) {
    const end = text.indexOf('\nendstream', at);
    try {
      streams.push(inflateSync(pdf.subarray(at + 7, end)).toString('latin1'));
    } catch {
      // not a deflated stream (e.g. the xref or metadata)
    }
  }
  return streams;
}
/** How pdfkit writes a standard font's text: hex of the WinAnsi codes. */
const pdfHex = (text: string) => Buffer.from(text, 'latin1').toString('hex');

for (const symbology of ['code128', 'datamatrix', 'qrcode'] as const) {
  test(`PNG label (${symbology}) decodes back to the barcode`, (t) => {
    const png = labelPng(layoutLabel(content, symbology));
    t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    t.is(decodePng(png, symbology), content.barcode);
  });
}

test('PNG label is 50 × 25 mm at 300 dpi', (t) => {
  const png = labelPng(layoutLabel(content, 'code128'));
  const image = PNG.sync.read(png);
  t.is(Math.round((image.width / 300) * 25.4), 50);
  t.is(Math.round((image.height / 300) * 25.4), 25);
  const phys = png.indexOf('pHYs');
  t.is(png.readUInt32BE(phys + 4), 11811); // dots per metre = 300 dpi
});

test('SVG label carries the barcode text as <title> and <text>, sized 50 × 25 mm', (t) => {
  const svg = labelSvg(layoutLabel(content, 'datamatrix'));
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="50mm" height="25mm"'));
  t.regex(svg, /<title>VL-3F9K2M7QXA — P001, plasma, 2026-11-01<\/title>/);
  for (const text of ['VL-3F9K2M7QXA', 'P001', 'plasma', '2026-11-01']) t.true(svg.includes(`>${text}</text>`), text);
});

test('SVG text is escaped', (t) => {
  const svg = labelSvg(layoutLabel({ ...content, sampleType: '<b>&' }, 'qrcode'));
  t.true(svg.includes('&lt;b&gt;&amp;'));
  t.false(svg.includes('<b>'));
});

test('PDF batch: one 50 × 25 mm page per label, in the order given', async (t) => {
  const barcodes = ['TUBE-003', 'TUBE-001', 'TUBE-002'];
  const pdf = await labelsPdf(barcodes.map((barcode) => layoutLabel({ ...content, barcode }, 'code128')));
  t.is(pdf.subarray(0, 5).toString(), '%PDF-');
  t.true(pdf.subarray(-6).toString().includes('%%EOF'));
  const text = pdf.toString('latin1');
  t.is(text.match(/\/Type \/Page\b/g)?.length, 3);
  t.regex(text, /\/MediaBox \[0 0 141\.73\d* 70\.86\d*\]/);
  const pages = pdfStreams(pdf).filter((s) => s.includes(' Tf'));
  t.deepEqual(
    pages.map((page) => barcodes.find((b) => page.includes(pdfHex(b)))),
    barcodes,
  );
  t.true(pages[0]!.includes(pdfHex('P001  plasma  2026-11-01')));
});

test('a barcode too long for Code 128 on this stock is refused; DataMatrix takes 64 characters', (t) => {
  const long = { ...content, barcode: 'A'.repeat(64) };
  t.throws(() => layoutLabel(long, 'code128'), { instanceOf: LabelError });
  t.is(decodePng(labelPng(layoutLabel(long, 'datamatrix')), 'datamatrix'), long.barcode);
});

test('renderLabel answers each format with its content type', async (t) => {
  t.like(await renderLabel(content, 'svg', 'code128'), { contentType: 'image/svg+xml; charset=utf-8' });
  t.like(await renderLabel(content, 'png', 'qrcode'), { contentType: 'image/png' });
  const pdf = await renderLabel(content, 'pdf', 'datamatrix');
  t.is(pdf.contentType, 'application/pdf');
  t.is((pdf.body as Buffer).subarray(0, 5).toString(), '%PDF-');
});
