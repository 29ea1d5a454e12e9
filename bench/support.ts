// Shared by the HTTP benchmarks: the load generator (in a child process) and a JSON POST.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LoadRequest, LoadResult } from './load-worker.ts';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs autocannon in a child process (never in the event loop of the server it measures). */
export async function load(request: LoadRequest): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, [path.join(here, 'load-worker.ts'), JSON.stringify(request)], { maxBuffer: 1 << 22 });
  return JSON.parse(stdout) as LoadResult;
}

export async function postJson(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
}

export type { LoadRequest, LoadResult };
