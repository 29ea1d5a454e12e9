// The identity command side, by resource (commands/*.ts), all on the one command pipeline:
// routes, the CLI and the start-up bootstrap come through here; HTTP knows nothing of it and it
// nothing of HTTP.
import { accountCommands } from './commands/accounts.ts';
import { apiKeyCommands } from './commands/api-keys.ts';
import { erasureCommands } from './commands/erasure.ts';
import { identityPipeline, type IdentityCommandDeps } from './commands/pipeline.ts';
import { sessionCommands } from './commands/sessions.ts';

export type { IdentityCommandDeps, PasswordAttempt, PasswordAttempts } from './commands/pipeline.ts';
export type { TokenPair } from './commands/sessions.ts';

export function createIdentityCommands(deps: IdentityCommandDeps) {
  const pipeline = identityPipeline(deps);
  const sessions = sessionCommands(pipeline);
  const apiKeys = apiKeyCommands(pipeline);
  const fanOut = { revokeOpenSessions: sessions.revokeOpenSessions, revokeAllApiKeys: apiKeys.revokeAllApiKeys };
  const accounts = accountCommands(pipeline, fanOut);
  const { erase } = erasureCommands(pipeline, fanOut);
  return {
    ...accounts,
    logIn: sessions.logIn,
    refresh: sessions.refresh,
    logOut: sessions.logOut,
    erase,
    createApiKey: apiKeys.createApiKey,
    revokeApiKey: apiKeys.revokeApiKey,
    recordApiKeyUse: apiKeys.recordApiKeyUse,
    /** Waits for work the answers did not wait for (stop() of the module). */
    drain: pipeline.drain,
  };
}

export type IdentityCommands = ReturnType<typeof createIdentityCommands>;
