// A fake OpenAI-compatible /v1/chat/completions server for the dialog tests (the only fake we
// use: the LLM provider is not ours). Behaviour is chosen per request by a scenario marker in the
// last user message, "[s:<name>]", so tests running at once do not share a script:
//   reply       a normal reply (content echoes the question), with usage
//   stream      a streamed reply in 3 chunks, usage in the last chunk
//   slowstream  a streamed reply, one chunk every 200 ms, 10 chunks
//   flaky429    429 (Retry-After: 0) on the first call, then a reply
//   down        500 every time
//   hang        never answers (the client's timeout must fire)
//   tool:<name>:<json args>  first call asks for the tool, the next call answers with the tool result it got
//   bad         a reply of the wrong shape
//   hostile     a reply holding U+0000 and a lone surrogate, with token counts beyond a 32-bit integer
//   delay:<ms>  a normal reply after <ms> milliseconds (the benchmark's provider)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  readonly scenario: string;
  readonly body: {
    model: string;
    stream?: boolean;
    messages: { role: string; content: string | null; tool_call_id?: string }[];
    tools?: unknown[];
  };
}

export interface FakeLlm {
  readonly url: string;
  readonly requests: FakeRequest[];
  /** Requests of one scenario marker. */
  of(scenario: string): FakeRequest[];
  close(): Promise<void>;
}

const read = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve(body));
  });

const completion = (content: string | null, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-fake',
  object: 'chat.completion',
  created: Math.floor(Date.now() / 1000),
  model: 'fake-model-1',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content, ...extra } }],
  usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
});

const chunk = (delta: Record<string, unknown>, usage?: unknown) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: 'fake-model-1', choices: delta ? [{ index: 0, delta, finish_reason: null }] : [], ...(usage ? { usage } : {}) })}\n\n`;

export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: FakeRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = JSON.parse(await read(req)) as FakeRequest['body'];
    const lastUser = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const scenario = /\[s:([^\]]+)\]/.exec(lastUser)?.[1] ?? 'reply';
    requests.push({ scenario, body });
    const seen = requests.filter((r) => r.scenario === scenario).length;
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    const streamOut = async (pieces: string[], delayMs: number) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of pieces) {
        if (res.destroyed) return;
        res.write(chunk({ content: piece }));
        await new Promise((r) => setTimeout(r, delayMs));
      }
      res.write(chunk({}, { prompt_tokens: 5, completion_tokens: pieces.length }));
      res.end('data: [DONE]\n\n');
    };

    if (scenario.startsWith('tool:')) {
      const [, name, args] = /^tool:([a-z_]+):(.*)$/.exec(scenario) ?? [];
      const toolResult = body.messages.find((m) => m.role === 'tool');
      if (!toolResult)
        return json(
          200,
          completion(null, { tool_calls: [{ id: 'call_1', type: 'function', function: { name, arguments: args } }] }),
        );
      return json(200, completion(`TOOL RESULT: ${toolResult.content}`));
    }
    if (scenario.startsWith('hang')) {
      hanging.add(res); // "hang", "hang-…": never answers
      return undefined;
    }
    const delay = /^delay:(\d+)$/.exec(scenario);
    if (delay) {
      await new Promise((r) => setTimeout(r, Number(delay[1])));
      return json(200, completion(`answer to: ${lastUser}`));
    }
    switch (scenario) {
      case 'stream':
        return streamOut(['Hel', 'lo ', 'there'], 5);
      case 'slowstream':
        return streamOut(
          Array.from({ length: 10 }, (_, i) => `part${i} `),
          200,
        );
      case 'flaky429':
        if (seen === 1) return json(429, { error: { message: 'slow down' } }, { 'retry-after': '0' });
        return json(200, completion(`answer to: ${lastUser}`));
      case 'down':
        return json(500, { error: { message: 'boom' } });
      case 'bad':
        return json(200, { choices: 'nope' });
      case 'hostile':
        return json(200, {
          ...completion('bad\u0000 text\ud800 end'),
          usage: { prompt_tokens: 2 ** 40, completion_tokens: 2 ** 40, total_tokens: 2 ** 41 },
        });
      default:
        if (body.stream) return streamOut([`answer to: ${lastUser}`], 1);
        return json(200, completion(`answer to: ${lastUser}`));
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    of: (scenario) => requests.filter((r) => r.scenario === scenario),
    close: () =>
      new Promise((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
