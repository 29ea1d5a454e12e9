// The dialog module as the composition root sees it: the assistant (an OpenAI-compatible
// provider when LLM_BASE_URL is set, the offline assistant otherwise) and the routes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../../platform/config.ts';
import type { PlatformServices } from '../../platform/module-context.ts';
import type { AppRouter } from '../../platform/http/state.ts';
import { llmAssistant, offlineAssistant, type Assistant } from './assistant.ts';
import { createDialogCommands } from './commands.ts';
import { openAiCompatibleProvider } from './provider.ts';
import { dialogRouters } from './routes.ts';
import { sampleFacts } from './sample-facts.ts';
import type { StorageFacts } from './storage-facts.ts';

export const dialogReadModels = ['dialog'] as const;

export interface DialogModuleContext extends Pick<
  PlatformServices,
  'config' | 'vault' | 'knex' | 'store' | 'openapi' | 'waitForProjections'
> {
  /** Storage answers for the offline assistant (wired in app/). */
  readonly storage?: StorageFacts | undefined;
}

export const systemPrompt = (): string => readFileSync(path.join(import.meta.dirname, 'system-prompt.md'), 'utf8');

export function assistantFor(config: Config, knex: Knex, storage?: StorageFacts): Assistant {
  const facts = sampleFacts(knex);
  if (!config.LLM_BASE_URL) return offlineAssistant(facts, storage);
  const provider = openAiCompatibleProvider({
    baseUrl: config.LLM_BASE_URL,
    model: config.LLM_MODEL,
    apiKey: config.LLM_API_KEY,
    timeoutMs: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
  });
  return llmAssistant(provider, facts, systemPrompt(), storage);
}

export function dialogModule(context: DialogModuleContext): { routers: AppRouter[] } {
  const { config } = context;
  const commands = createDialogCommands({
    store: context.store,
    knex: context.knex,
    vault: context.vault,
    assistant: assistantFor(config, context.knex, context.storage),
    waitForReadModel: (position) => context.waitForProjections(dialogReadModels, position),
    limits: {
      maxMessageChars: config.DIALOG_MAX_MESSAGE_CHARS,
      maxMessagesPerConversation: config.DIALOG_MAX_MESSAGES_PER_CONVERSATION,
      contextTokens: config.DIALOG_CONTEXT_TOKENS,
      dailyMessages: config.DIALOG_DAILY_MESSAGES,
      dailyTokens: config.DIALOG_DAILY_TOKENS,
    },
  });
  return {
    routers: dialogRouters({
      commands,
      knex: context.knex,
      openapi: context.openapi,
      maxMessageChars: config.DIALOG_MAX_MESSAGE_CHARS,
    }),
  };
}
