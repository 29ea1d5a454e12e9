// npm run bench:dialog — what the dialog module adds to a provider's own time: messages/s at
// concurrency 32 against a fake OpenAI-compatible provider that always takes 50 ms, and the
// overhead per message (latency minus those 50 ms: storing the question, reading the context,
// storing the reply, read-your-writes). Target: overhead p50 < 10 ms.
// Env: BENCH_DATABASE_URL (server for the scratch database), BENCH_SECONDS (default 10),
// BENCH_CONNECTIONS (default 32).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../platform/config.ts';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  benchEnvironment,
  cpuPerUnit,
  load,
  machineCpu,
  postJson as post,
  saveResult,
  scratchDatabase,
  signUp,
  startBenchService,
} from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PROVIDER_MS = 50;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const CONVERSATIONS = 320;
const here = path.dirname(fileURLToPath(import.meta.url));

const scratch = await scratchDatabase('dialog');
const url = scratch.url;
// The provider runs in a child process, as a remote provider would: its work is not our overhead.
const provider = spawn(process.execPath, [path.join(here, 'fake-provider.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
const [firstLine] = (await once(provider.stdout, 'data')) as [Buffer];
const llm = {
  url: firstLine.toString().trim().split('\n')[0]!,
  close: async () => {
    provider.stdin.end();
    await once(provider, 'exit');
  },
};
const config = loadConfig({
  ...benchEnvironment(url),
  LLM_BASE_URL: llm.url,
  DIALOG_DAILY_MESSAGES: '1000000',
  DIALOG_DAILY_TOKENS: '1000000000',
  DIALOG_MAX_MESSAGES_PER_CONVERSATION: '10000',
  DATABASE_POOL_MAX: process.env.BENCH_POOL ?? '20',
});
const service = await startBenchService(config);
const api = `${service.url!}/api/v1`;
try {
  const accessToken = await signUp(api, 'bench_dialog');
  const ids: string[] = [];
  for (let i = 0; i < CONVERSATIONS; i++)
    ids.push(String((await post(`${api}/dialog/conversations`, { title: `bench ${i}` }, accessToken)).id));
  // The provider alone, same load: its own latency under this concurrency is the baseline.
  const providerCpuStart = machineCpu();
  const providerAlone = await load({
    url: `${llm.url}/chat/completions`,
    connections: CONNECTIONS,
    seconds: Math.max(3, Math.floor(SECONDS / 2)),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `hi [s:delay:${PROVIDER_MS}]` }] }),
  });
  const providerCpu = cpuPerUnit(providerCpuStart, providerAlone.total, 'request');
  const oursCpuStart = machineCpu();
  const ours = await load({
    url: `${api}/dialog/conversations/${ids[0]}/messages`,
    connections: CONNECTIONS,
    seconds: SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ content: `How are the samples? [s:delay:${PROVIDER_MS}]` }),
    rotatePaths: ids.map((id) => `/api/v1/dialog/conversations/${id}/messages`),
  });
  const oursCpu = cpuPerUnit(oursCpuStart, ours.total, 'message');
  const overheadP50 = ours.p50Ms - providerAlone.p50Ms;
  const overheadP99 = ours.p99Ms - providerAlone.p99Ms;
  console.log(
    `provider alone: ${Math.round(providerAlone.requestsPerSecond)} req/s, p50 ${providerAlone.p50Ms} ms, p99 ${providerAlone.p99Ms} ms (fixed ${PROVIDER_MS} ms reply time)`,
  );
  console.log(
    `messages:       ${Math.round(ours.requestsPerSecond)}/s at concurrency ${CONNECTIONS}, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, non-2xx ${ours.non2xx}`,
  );
  console.log(
    `overhead per message beyond the provider: p50 ${overheadP50.toFixed(1)} ms, p99 ${overheadP99.toFixed(1)} ms (target p50 < 10 ms)`,
  );
  // What the target asks of the CPU: every client waiting at most provider + 10 ms per message.
  let ourMicros: number | undefined;
  if (oursCpu && providerCpu) {
    ourMicros = oursCpu.microsPerUnit - providerCpu.microsPerUnit; // the provider's and the load generator's share taken out
    const targetRate = CONNECTIONS / ((PROVIDER_MS + 10) / 1000);
    console.log(
      `${oursCpu.line}; of which ours (the provider's and the load generator's share, measured alone, taken out): ${Math.round(ourMicros).toLocaleString('en-US')} µs`,
    );
    console.log(
      `at the target (overhead < 10 ms at concurrency ${CONNECTIONS}: ${Math.round(targetRate)} messages/s) the whole machine would be ${((oursCpu.microsPerUnit * targetRate) / 1e6).toFixed(1)} cores busy of ${oursCpu.cores}`,
    );
  }
  saveResult('dialog', {
    seconds: SECONDS,
    providerAlone,
    ours,
    overheadP50,
    overheadP99,
    cpuMicrosPerMessage: oursCpu?.microsPerUnit,
    ourCpuMicrosPerMessage: ourMicros,
  });
} finally {
  await service.stop();
  await llm.close();
  await scratch.drop();
}
