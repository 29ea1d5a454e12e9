// The assistant behind a conversation: a language model with tools over the caller's samples, or
// the offline assistant. Both answer from the same read models, scoped to the caller.
import { freeSlotsAnswer, type StorageFacts } from './storage-facts.ts';
import { z } from 'zod';
import { physicalAnswer } from './physical-answers.ts';
import { physicalSampleTools, runPhysicalTool, storageTools } from './physical-tools.ts';
import type { Usage } from './events.ts';
import type { ContextMessage } from './context.ts';
import { OFFLINE_MODEL, offlineAnswer } from './offline-assistant.ts';
import type { ChatMessage, ChatProvider, ToolCall, ToolDefinition } from './provider.ts';
import type { SampleFacts } from './sample-facts.ts';

export interface AssistantRequest {
  readonly ownerId: string;
  readonly question: string;
  /** Earlier messages that fit the context budget, oldest first. */
  readonly history: readonly ContextMessage[];
  readonly signal?: AbortSignal;
  readonly onDelta?: (text: string) => void;
}

export interface AssistantAnswer {
  readonly content: string;
  readonly model: string;
  readonly usage: Usage | null;
}

export interface Assistant {
  readonly model: string;
  answer(request: AssistantRequest): Promise<AssistantAnswer>;
}

export function offlineAssistant(facts: SampleFacts, storage?: StorageFacts): Assistant {
  return {
    model: OFFLINE_MODEL,
    async answer(request) {
      const content =
        (await physicalAnswer(request.question, request.ownerId, facts, storage)) ??
        (storage && (await freeSlotsAnswer(request.question, request.ownerId, storage))) ??
        (await offlineAnswer(request.question, request.ownerId, facts));
      request.onDelta?.(content);
      return { content, model: OFFLINE_MODEL, usage: null };
    },
  };
}

// --- tools ----------------------------------------------------------------------------------------

export const sampleTools: readonly ToolDefinition[] = [
  {
    name: 'sample_counts',
    description: "The user's samples: total, by status and by type.",
    parameters: { type: 'object', properties: {}, additionalProperties: false },
  },
  {
    name: 'subject_samples',
    description: "The user's samples of one subject, newest collection first.",
    parameters: {
      type: 'object',
      properties: { subjectId: { type: 'string', description: 'e.g. P001' } },
      required: ['subjectId'],
      additionalProperties: false,
    },
  },
  {
    name: 'recent_samples',
    description: "The user's most recently registered samples.",
    parameters: {
      type: 'object',
      properties: { limit: { type: 'integer', minimum: 1, maximum: 20 } },
      additionalProperties: false,
    },
  },
];

const toolArguments = {
  sample_counts: z.object({}).loose(),
  subject_samples: z.object({ subjectId: z.string().regex(/^[A-Z][0-9]{3,}$/) }),
  recent_samples: z.object({ limit: z.number().int().min(1).max(20).optional() }),
} as const;

/** The tools the model is offered: storage ones only where storage is wired. */
export const toolsFor = (storage: StorageFacts | undefined): readonly ToolDefinition[] => [
  ...sampleTools,
  ...physicalSampleTools,
  ...(storage ? storageTools : []),
];

/** Runs one tool call for the owner; a bad call gets an error the model can read, never another user's data. */
export async function runTool(
  call: ToolCall,
  ownerId: string,
  facts: SampleFacts,
  storage?: StorageFacts,
): Promise<string> {
  let args: unknown;
  try {
    args = JSON.parse(call.arguments || '{}');
  } catch {
    return JSON.stringify({ error: 'arguments are not JSON' });
  }
  const physical = await runPhysicalTool(call.name, args, ownerId, facts, storage);
  if (physical !== undefined) return physical;
  if (!Object.hasOwn(toolArguments, call.name)) return JSON.stringify({ error: `unknown tool ${call.name}` });
  switch (call.name) {
    case 'sample_counts':
      return JSON.stringify(await facts.counts(ownerId));
    case 'subject_samples': {
      const parsed = toolArguments.subject_samples.safeParse(args);
      if (!parsed.success) return JSON.stringify({ error: 'subjectId must be one capital letter and 3+ digits' });
      return JSON.stringify(await facts.subjectSamples(ownerId, parsed.data.subjectId, 20));
    }
    case 'recent_samples': {
      const parsed = toolArguments.recent_samples.safeParse(args);
      if (!parsed.success) return JSON.stringify({ error: 'limit must be 1–20' });
      return JSON.stringify(await facts.recentSamples(ownerId, parsed.data.limit ?? 5));
    }
    default:
      return JSON.stringify({ error: `unknown tool ${call.name}` });
  }
}

const MAX_TOOL_ROUNDS = 3;

const addUsage = (a: Usage | null, b: Usage): Usage => ({
  promptTokens: (a?.promptTokens ?? 0) + b.promptTokens,
  completionTokens: (a?.completionTokens ?? 0) + b.completionTokens,
});

export function llmAssistant(
  provider: ChatProvider,
  facts: SampleFacts,
  systemPrompt: string,
  storage?: StorageFacts,
): Assistant {
  return {
    model: provider.model,
    async answer(request) {
      const messages: ChatMessage[] = [
        { role: 'system', content: systemPrompt },
        ...request.history.map((m) => ({ role: m.role, content: m.content })),
        { role: 'user', content: request.question },
      ];
      let usage: Usage | null = null;
      for (let round = 0; ; round++) {
        const tools = round < MAX_TOOL_ROUNDS ? toolsFor(storage) : [];
        const completion = await provider.complete({
          messages,
          tools,
          ...(request.signal ? { signal: request.signal } : {}),
          ...(request.onDelta ? { onDelta: request.onDelta } : {}),
        });
        if (completion.usage) usage = addUsage(usage, completion.usage);
        if (completion.toolCalls.length === 0 || tools.length === 0)
          return { content: completion.content, model: completion.model, usage };
        messages.push({ role: 'assistant', content: completion.content || null, toolCalls: completion.toolCalls });
        for (const call of completion.toolCalls)
          messages.push({
            role: 'tool',
            toolCallId: call.id,
            content: await runTool(call, request.ownerId, facts, storage),
          });
      }
    },
  };
}
