// Dialog limits small enough that a test reaches each of them in a few commands.
import type { DialogCommandDeps } from '../../modules/dialog/commands.ts';

export const testDialogLimits: DialogCommandDeps['limits'] = {
  maxMessageChars: 100,
  maxMessagesPerConversation: 10,
  contextTokens: 1000,
  dailyMessages: 10,
  dailyTokens: 1000,
};
