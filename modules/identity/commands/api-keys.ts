// API keys: made and revoked by their owner's login session, revoked with every key of a user on
// a password change or erasure; their first use of a day is recorded once.
import { randomUUID } from 'node:crypto';
import type { CommandCause } from '../../../platform/eventstore/metadata.ts';
import type { Position } from '../../../platform/eventstore/port.ts';
import { systemActor, type Actor } from '../decide.ts';
import { initialApiKeyState } from '../evolve.ts';
import { identityStreams, streamOf, type IdentityEvent } from '../events.ts';
import * as queries from '../queries.ts';
import { generateApiKey } from '../tokens.ts';
import type { IdentityPipeline } from './pipeline.ts';

export interface CreatedApiKey {
  readonly id: string;
  readonly name: string;
  /** The secret: shown once, never kept. */
  readonly key: string;
  readonly createdAt: string;
}

export function apiKeyCommands(pipeline: IdentityPipeline) {
  const { deps, now, apiKeys } = pipeline;

  async function createApiKey(actor: Actor, name: string, cause: CommandCause): Promise<CreatedApiKey> {
    const keyId = randomUUID();
    const generated = generateApiKey(keyId);
    const owner = await queries.getUser(deps.knex, actor.userId);
    const data = {
      keyId,
      owner: { userId: actor.userId, isActive: owner?.isActive ?? false },
      name,
      prefix: generated.prefix,
      secretHash: generated.secretHash,
      now: now(),
    };
    const handled = await apiKeys.handle(identityStreams.apiKey(keyId), { type: 'CreateApiKey', data }, cause, {
      known: { state: initialApiKeyState(), expected: 'no_stream' },
    });
    const created = handled.events[0];
    if (created?.type !== 'ApiKeyCreated') throw new Error('unexpected decision');
    return { id: keyId, name: created.data.name, key: generated.key, createdAt: created.data.createdAt };
  }

  /** Owner-only: another user's key is not found, whatever the caller's role. */
  async function revokeApiKey(actor: Actor, keyId: string, cause: CommandCause): Promise<void> {
    const owner = { userId: actor.userId, role: 'user' } as const;
    await apiKeys.handle(
      identityStreams.apiKey(keyId),
      { type: 'RevokeApiKey', data: { actor: owner, now: now() } },
      cause,
    );
  }

  /** Revokes every active API key of a user; the position of the last revocation (not yet waited for). */
  async function revokeAllApiKeys(userId: string, cause: CommandCause): Promise<Position | undefined> {
    const streamIds = (await queries.activeApiKeyIds(deps.knex, userId)).map(identityStreams.apiKey);
    return apiKeys.handleEach(streamIds, { type: 'RevokeApiKey', data: { actor: systemActor, now: now() } }, cause);
  }

  /** The day's first use of a key, recorded once ("no stream" append; a conflict means already recorded). */
  async function recordApiKeyUse(keyId: string, userId: string, cause: CommandCause): Promise<void> {
    const at = now().toISOString();
    const event: IdentityEvent = { type: 'ApiKeyUsed', data: { keyId, userId, day: at.slice(0, 10), firstUsedAt: at } };
    await pipeline.appender.tryAppend(streamOf(event), [event], cause, 'no_stream');
  }

  return { createApiKey, revokeApiKey, revokeAllApiKeys, recordApiKeyUse };
}
