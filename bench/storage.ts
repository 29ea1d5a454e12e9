// npx node bench/storage.ts — placements and the box map, on BENCH_SERVER:
//   (a) a freezer of 50 boxes × 96 slots created through the API, then every slot filled through
//       PUT /samples/{id}/location (the box's claim, the sample's SamplePlaced, read-your-writes
//       included) at concurrency 32: placements per second
//   (b) GET /storage/units/{id}/map (JSON and SVG) of a full box and of an empty one, side by side:
//       median and p99 over 200 rounds, each round asking the four in turn (so a noisy minute
//       weighs on all four alike); the full box should answer in about the time of the empty one
// Env: BENCH_BOXES (default 50), BENCH_CONCURRENCY (default 32). Figures go to bench/results/storage.json.
// Progress with an ETA on a terminal; quiet when CI is set or stderr is not a terminal.
import { positionsInReadingOrder } from '../modules/storage/grid.ts';
import { loadConfig } from '../platform/config.ts';
import { Progress } from '../platform/progress.ts';
import {
  benchEnvironment,
  median,
  postJson as post,
  saveResult,
  scratchDatabase,
  startBenchService,
} from './support.ts';

const BOXES = Number(process.env.BENCH_BOXES ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = 200;
const WARM_UP = 20;
const quiet = !process.stderr.isTTY || process.env.CI !== undefined;
const say = (line: string) => console.log(line);
const progressOf = (label: string, total: number) => (quiet ? undefined : new Progress(label, total));

const db = await scratchDatabase('storage');
// Development mode: the audit signing key is generated under DATA_DIR (production requires one).
const config = loadConfig({
  ...benchEnvironment(db.url),
  NODE_ENV: 'development',
  DATA_DIR: '.data/bench-storage',
  // The server is shared: a small pool.
  DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? '8',
});
const service = await startBenchService(config);
try {
  const api = `${service.url!}/api/v1`;
  const password = 'violet-Harbor-bench-kestrel';
  const user = await post(`${api}/auth/register`, { username: 'storage_bench', email: 'sb@lab.example', password });
  const { accessToken: token } = (await post(`${api}/auth/login`, { login: 'storage_bench', password })) as {
    accessToken: string;
  };
  const labId = user.id as string;

  /** Runs `work(i)` for i in [0, n) with `CONCURRENCY` at a time. */
  async function pool(label: string, n: number, work: (i: number) => Promise<void>): Promise<void> {
    const progress = progressOf(label, n);
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          await work(next++);
          progress?.update(++done);
        }
      }),
    );
    progress?.done();
  }

  const unit = async (body: Record<string, unknown>) =>
    (await post(`${api}/storage/units`, { labId, ...body }, token)).id as string;
  const freezer = await unit({ name: 'Freezer A', kind: 'freezer', temperatureC: -80 });
  const racks = await Promise.all(
    [1, 2, 3, 4, 5].map((n) => unit({ name: `Rack ${n}`, kind: 'rack', parentId: freezer })),
  );
  const boxes: string[] = [];
  for (let b = 0; b < BOXES; b++)
    boxes.push(
      await unit({ name: `Box ${b + 1}`, kind: 'box', parentId: racks[b % 5], grid: { rows: 8, columns: 12 } }),
    );
  const empty = await unit({ name: 'Empty box', kind: 'box', parentId: racks[0], grid: { rows: 8, columns: 12 } });

  const slots = positionsInReadingOrder({ rows: 8, columns: 12 });
  const total = BOXES * slots.length;
  const samples: string[] = new Array<string>(total);
  await pool('registering samples', total, async (i) => {
    const s = await post(
      `${api}/samples`,
      { sampleType: 'blood', subjectId: `P${100 + (i % 900)}`, collectionDate: '2026-01-05' },
      token,
    );
    samples[i] = s.id as string;
  });

  const place = async (sampleId: string, unitId: string, position: string) => {
    const r = await fetch(`${api}/samples/${sampleId}/location`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ unitId, position }),
    });
    await r.text();
    if (r.status !== 200) throw new Error(`placement ${r.status}`);
  };
  // Placements spread over the boxes as a team filling a freezer would: each client on its own box at a time.
  const order = Array.from({ length: total }, (_, i) => ({
    box: boxes[i % BOXES]!,
    position: slots[Math.floor(i / BOXES)]!,
    sample: samples[i]!,
  }));
  const started = performance.now();
  await pool('placing samples', total, async (i) => {
    const o = order[i]!;
    await place(o.sample, o.box, o.position);
  });
  const claimSeconds = (performance.now() - started) / 1000;

  const maps = {
    fullJson: { id: boxes[0]!, format: 'json' },
    emptyJson: { id: empty, format: 'json' },
    fullSvg: { id: boxes[0]!, format: 'svg' },
    emptySvg: { id: empty, format: 'svg' },
  } as const;
  type MapKind = keyof typeof maps;
  const kinds = Object.keys(maps) as MapKind[];
  const times = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<MapKind, number[]>;
  const mapProgress = progressOf('box maps', WARM_UP + ROUNDS);
  // Each round asks the four maps in turn, starting with a different one each time; the first
  // rounds warm up (JIT, connections) and are not counted.
  for (let round = 0; round < WARM_UP + ROUNDS; round++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(round + k) % kinds.length]!;
      const t0 = performance.now();
      const r = await fetch(`${api}/storage/units/${maps[kind].id}/map?format=${maps[kind].format}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await r.text();
      if (r.status !== 200) throw new Error(`map ${r.status}`);
      if (round >= WARM_UP) times[kind].push(performance.now() - t0);
    }
    mapProgress?.update(round + 1);
  }
  mapProgress?.done();
  const figures = (kind: MapKind) => {
    const sorted = [...times[kind]].sort((a, b) => a - b);
    return { median: +median(sorted).toFixed(2), p99: +sorted[Math.floor(sorted.length * 0.99)]!.toFixed(2) };
  };
  const map = Object.fromEntries(kinds.map((k) => [k, figures(k)])) as Record<MapKind, { median: number; p99: number }>;
  const result = {
    boxes: BOXES,
    placements: total,
    concurrency: CONCURRENCY,
    placementsPerSecond: Math.round(total / claimSeconds),
    mapMs: map,
    fullOverEmptyJson: +(map.fullJson.median / map.emptyJson.median).toFixed(2),
    fullOverEmptySvg: +(map.fullSvg.median / map.emptySvg.median).toFixed(2),
  };
  say(`placements: ${total} in ${claimSeconds.toFixed(1)} s, ${result.placementsPerSecond}/s (${CONCURRENCY} clients)`);
  say(`map of a box (ms, ${ROUNDS} rounds)   full median / p99   empty median / p99   full ÷ empty (median)`);
  for (const format of ['Json', 'Svg'] as const) {
    const [full, emptyBox] = [map[`full${format}`], map[`empty${format}`]];
    const ratio = format === 'Json' ? result.fullOverEmptyJson : result.fullOverEmptySvg;
    say(
      `  ${format.toUpperCase().padEnd(34)} ${`${full.median} / ${full.p99}`.padEnd(19)} ${`${emptyBox.median} / ${emptyBox.p99}`.padEnd(20)} ${ratio}`,
    );
  }
  saveResult('storage', result);
} finally {
  await service.stop();
  await db.drop();
}
