// The benchmarks' LLM provider: the tests' fake OpenAI-compatible server, in a process of its own
// (a real provider is remote; in the service's process its work would count as our overhead).
// Prints its URL as the first line of stdout and runs until stdin closes or it is killed.
import { startFakeLlm } from '../test/support/fake-llm.ts';

const llm = await startFakeLlm();
process.stdout.write(`${llm.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => void llm.close().then(() => process.exit(0)));
