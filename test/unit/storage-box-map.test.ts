// The box map as JSON and as a picture (API.md, Storage: GET /storage/units/{id}/map).
import test from 'ava';
import { boxMap, boxMapSvg, sampleTypeColours, type MapSample } from '../../modules/storage/box-map.ts';

const grid = { rows: 8, columns: 12 };
const sample = (n: number, sampleType = 'blood', barcode: string | null = `TUBE-${String(n).padStart(3, '0')}`) =>
  ({
    id: `0000000${n}-0000-4000-8000-000000000000`.slice(-36),
    barcode,
    sampleType,
    subjectId: 'P001',
    status: 'collected',
  }) satisfies MapSample;

test('JSON: every position in reading order, with its sample or null', (t) => {
  const map = boxMap(grid, new Map([['A2', sample(1)]]));
  t.is(map.rows, 8);
  t.is(map.columns, 12);
  t.is(map.positions.length, 96);
  t.deepEqual(map.positions[0], { position: 'A1', sample: null });
  t.deepEqual(map.positions[1], { position: 'A2', sample: sample(1) });
  t.is(map.positions[12]!.position, 'B1');
});

test('SVG: one slot per position, occupied ones coloured by type and labelled with the barcode', (t) => {
  const svg = boxMapSvg(
    'Freezer A / Rack 2 / Box 7',
    grid,
    new Map([
      ['A1', sample(1, 'blood')],
      ['H12', sample(2, 'tissue')],
    ]),
  );
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  t.is(svg.match(/<g data-position=/g)?.length, 96);
  t.regex(
    svg,
    /<g data-position="A1" data-sample-type="blood"><title>A1: TUBE-001 \(blood, P001, collected\)<\/title><rect [^>]*fill="#f4a3a3"/,
  );
  t.regex(svg, new RegExp(`data-position="H12" data-sample-type="tissue">.*fill="${sampleTypeColours.tissue}"`));
  t.regex(svg, />TUBE-002<\/text>/);
  t.regex(svg, /Freezer A \/ Rack 2 \/ Box 7 — 2 of 96 slots occupied/);
  t.regex(svg, /width="[\d.]+mm" height="[\d.]+mm"/, 'printable at a physical size');
});

test('SVG: text from users is escaped; a long barcode is shortened on the slot, whole in its title', (t) => {
  const svg = boxMapSvg('Box <7> & "x"', grid, new Map([['A1', sample(1, 'blood', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')]]));
  t.false(svg.includes('<7>'));
  t.true(svg.includes('Box &lt;7&gt; &amp; &quot;x&quot;'));
  t.true(svg.includes('>ABCDE…UVWXYZ</text>'));
  t.true(svg.includes('A1: ABCDEFGHIJKLMNOPQRSTUVWXYZ'));
});

test('SVG: a sample without a barcode shows the start of its id; an unknown type is grey', (t) => {
  const svg = boxMapSvg('Box', grid, new Map([['A1', sample(3, 'urine', null)]]));
  t.regex(svg, />00000003<\/text>/);
  t.regex(svg, /fill="#cfcfcf"/);
});

test('SVG: the picture of a full box has the size of an empty one', (t) => {
  const full = new Map(boxMap(grid, new Map()).positions.map((p, i) => [p.position, sample(i)]));
  const viewBox = (svg: string) => /viewBox="([^"]+)"/.exec(svg)?.[1];
  t.is(viewBox(boxMapSvg('Box', grid, full)), viewBox(boxMapSvg('Box', grid, new Map())));
});
