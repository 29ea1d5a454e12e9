// Any OpenAI-compatible /v1/chat/completions server (OpenAI, Ollama, vLLM, llama.cpp server),
// through the official `openai` client. What this adapter adds:
//   - a timeout on every call (LLM_TIMEOUT_MS), and the caller's abort signal;
//   - retries with backoff (honouring Retry-After) only on 429, 5xx and network errors, and only
//     before the first streamed byte: a reply that started is never sent twice;
//   - every reply and stream chunk validated with zod (provider output is untrusted); usage optional.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { z } from 'zod';
import { meter } from '../../platform/telemetry.ts';
import type { Usage } from './events.ts';

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text as the model wrote it: parse and validate before use. */
  readonly arguments: string;
}

export type ChatMessage =
  | { readonly role: 'system' | 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly content: string | null; readonly toolCalls?: readonly ToolCall[] }
  | { readonly role: 'tool'; readonly content: string; readonly toolCallId: string };

export interface ToolDefinition {
  readonly name: string;
  readonly description: string;
  /** JSON schema of the arguments. */
  readonly parameters: Record<string, unknown>;
}

export interface CompletionRequest {
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ToolDefinition[];
  readonly signal?: AbortSignal;
  /** Streams the reply: called with each piece of text as it arrives. */
  readonly onDelta?: (text: string) => void;
}

export interface Completion {
  readonly content: string;
  readonly model: string;
  readonly usage: Usage | null;
  readonly toolCalls: readonly ToolCall[];
}

export interface ChatProvider {
  readonly model: string;
  complete(request: CompletionRequest): Promise<Completion>;
}

export type UpstreamFailure =
  'timeout' | 'rate_limited' | 'server_error' | 'network' | 'bad_reply' | 'refused' | 'aborted';

/** The provider failed (after retries where they apply). `reason` goes into AssistantReplyFailed. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly kind: UpstreamFailure;
  /** Text received before a stream broke off. */
  readonly partialContent: string;
  constructor(kind: UpstreamFailure, message: string, partialContent = '') {
    super(message);
    this.kind = kind;
    this.partialContent = partialContent;
  }
}

export interface ProviderConfig {
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  /** First backoff; doubles each retry (with jitter). */
  readonly retryBaseMs?: number;
}

// --- what we accept from the provider ---------------------------------------------------------------

const usageSchema = z
  .object({ prompt_tokens: z.number().int().min(0), completion_tokens: z.number().int().min(0) })
  .loose()
  .nullish();
const toolCallSchema = z.object({
  id: z.string().max(200),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().max(100), arguments: z.string().max(20_000) }),
});
const replySchema = z.object({
  model: z.string().max(200).optional(),
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().max(200_000).nullish(),
          tool_calls: z.array(toolCallSchema).max(16).nullish(),
        }),
      }),
    )
    .min(1),
  usage: usageSchema,
});
const chunkSchema = z.object({
  model: z.string().max(200).optional(),
  choices: z
    .array(
      z.object({
        delta: z
          .object({
            content: z.string().max(100_000).nullish(),
            tool_calls: z
              .array(
                z.object({
                  index: z.number().int().min(0).max(15),
                  id: z.string().max(200).nullish(),
                  function: z
                    .object({ name: z.string().max(100).nullish(), arguments: z.string().max(20_000).nullish() })
                    .nullish(),
                }),
              )
              .nullish(),
          })
          .nullish(),
      }),
    )
    .default([]),
  usage: usageSchema,
});

const toUsage = (u: z.infer<typeof usageSchema>): Usage | null =>
  u ? { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens } : null;

function toOpenAiMessages(messages: readonly ChatMessage[]): OpenAI.Chat.Completions.ChatCompletionMessageParam[] {
  return messages.map((m) => {
    if (m.role === 'tool') return { role: 'tool', content: m.content, tool_call_id: m.toolCallId };
    if (m.role === 'assistant') {
      return {
        role: 'assistant',
        content: m.content,
        ...(m.toolCalls && m.toolCalls.length > 0
          ? {
              tool_calls: m.toolCalls.map((c) => ({
                id: c.id,
                type: 'function' as const,
                function: { name: c.name, arguments: c.arguments },
              })),
            }
          : {}),
      };
    }
    return { role: m.role, content: m.content };
  });
}

function classify(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof APIUserAbortError) return new UpstreamError('aborted', 'the request was aborted');
  if (error instanceof APIConnectionTimeoutError)
    return new UpstreamError('timeout', 'the provider did not answer in time');
  if (error instanceof APIConnectionError) return new UpstreamError('network', 'the provider could not be reached');
  if (error instanceof APIError) {
    if (error.status === 429) return new UpstreamError('rate_limited', 'the provider is rate limiting us');
    if (error.status !== undefined && error.status >= 500)
      return new UpstreamError('server_error', `the provider failed (HTTP ${error.status})`);
    return new UpstreamError('refused', `the provider refused the request (HTTP ${error.status ?? '?'})`);
  }
  if (error instanceof z.ZodError)
    return new UpstreamError('bad_reply', 'the provider sent a reply of an unexpected shape');
  if (error instanceof Error && error.name === 'AbortError')
    return new UpstreamError('aborted', 'the request was aborted');
  return new UpstreamError('network', 'the provider call failed');
}

const retryable = (e: UpstreamError) => e.kind === 'rate_limited' || e.kind === 'server_error' || e.kind === 'network';

function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof APIError)) return undefined;
  const headers: unknown = error.headers;
  const header = headers instanceof Headers ? headers.get('retry-after') : undefined;
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) ? seconds * 1000 : undefined;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

export function openAiCompatibleProvider(config: ProviderConfig): ChatProvider {
  // Retries are ours (the client's would also retry 408/409 and timeouts, and mid-way is not ours to decide).
  const client = new OpenAI({
    baseURL: config.baseUrl,
    apiKey: config.apiKey ?? 'not-needed',
    timeout: config.timeoutMs,
    maxRetries: 0,
  });
  const baseMs = config.retryBaseMs ?? 250;

  /** Calls `start` until it resolves, retrying what may be retried; nothing of the reply has been seen yet. */
  async function withRetries<T>(signal: AbortSignal | undefined, start: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await start();
      } catch (error) {
        const failure = classify(error);
        if (!retryable(failure) || attempt >= config.maxRetries || signal?.aborted) throw failure;
        const backoff = Math.min(5_000, retryAfterMs(error) ?? baseMs * 2 ** attempt * (0.5 + Math.random()));
        await sleep(backoff, signal);
      }
    }
  }

  const calls = meter().createCounter('vialog.llm.calls', { description: 'Provider calls, by outcome' });
  const latency = meter().createHistogram('vialog.llm.duration', { description: 'Provider call duration', unit: 's' });
  const tokens = meter().createCounter('vialog.llm.tokens', {
    description: 'Tokens reported by the provider, by kind',
  });

  async function completeOnce(request: CompletionRequest): Promise<Completion> {
    const messages = toOpenAiMessages(request.messages);
    const tools = request.tools?.map((t) => ({
      type: 'function' as const,
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    const body = { model: config.model, messages, ...(tools && tools.length > 0 ? { tools } : {}) };
    const options = request.signal ? { signal: request.signal } : {};

    if (!request.onDelta) {
      const raw = await withRetries(request.signal, () =>
        client.chat.completions.create({ ...body, stream: false }, options),
      );
      let reply;
      try {
        reply = replySchema.parse(raw);
      } catch (error) {
        throw classify(error);
      }
      const message = reply.choices[0]!.message;
      return {
        content: message.content ?? '',
        model: reply.model ?? config.model,
        usage: toUsage(reply.usage),
        toolCalls: (message.tool_calls ?? []).map((c) => ({
          id: c.id,
          name: c.function.name,
          arguments: c.function.arguments,
        })),
      };
    }

    // Streaming: retries end where the stream begins.
    const stream = await withRetries(request.signal, () =>
      client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, options),
    );
    let content = '';
    let model = config.model;
    let usage: Usage | null = null;
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    try {
      for await (const raw of stream) {
        const chunk = chunkSchema.parse(raw);
        if (chunk.model) model = chunk.model;
        if (chunk.usage) usage = toUsage(chunk.usage);
        for (const choice of chunk.choices) {
          const delta = choice.delta;
          if (delta?.content) {
            content += delta.content;
            request.onDelta(delta.content);
          }
          for (const t of delta?.tool_calls ?? []) {
            const call = calls.get(t.index) ?? { id: '', name: '', arguments: '' };
            if (t.id) call.id = t.id;
            if (t.function?.name) call.name += t.function.name;
            if (t.function?.arguments) call.arguments += t.function.arguments;
            calls.set(t.index, call);
          }
        }
      }
    } catch (error) {
      const failure = classify(error);
      throw new UpstreamError(failure.kind, failure.message, content);
    }
    // An aborted stream may just end (no error): it is still not a whole reply.
    if (request.signal?.aborted) throw new UpstreamError('aborted', 'the request was aborted', content);
    return { content, model, usage, toolCalls: [...calls.values()].filter((c) => c.name !== '') };
  }

  return {
    model: config.model,
    async complete(request) {
      const started = performance.now();
      try {
        const completion = await completeOnce(request);
        calls.add(1, { outcome: 'ok', model: config.model });
        if (completion.usage) {
          tokens.add(completion.usage.promptTokens, { kind: 'prompt', model: config.model });
          tokens.add(completion.usage.completionTokens, { kind: 'completion', model: config.model });
        }
        return completion;
      } catch (error) {
        calls.add(1, { outcome: error instanceof UpstreamError ? error.kind : 'error', model: config.model });
        throw error;
      } finally {
        latency.record((performance.now() - started) / 1000, { model: config.model });
      }
    },
  };
}
