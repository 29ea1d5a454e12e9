// Erasure (DELETE /auth/me with the password, or an administrator's): the account's personal data
// becomes unreadable (its key is destroyed), its sessions and keys stop, its email is freed.
import { ERASED } from '../../../platform/crypto/personal-data.ts';
import type { CommandCause } from '../../../platform/eventstore/metadata.ts';
import { systemActor, type Actor, type EraseUser } from '../decide.ts';
import { isRegistered, type UserState } from '../evolve.ts';
import { identityStreams } from '../events.ts';
import { release } from './accounts.ts';
import type { IdentityPipeline } from './pipeline.ts';
import type { FanOut } from './sessions.ts';

export function erasureCommands(pipeline: IdentityPipeline, fanOut: FanOut) {
  const { deps, now, users } = pipeline;

  /** Frees the email for a new registration; the username stays reserved so nobody can pose as the erased user. */
  async function releaseEmail(userId: string, email: string, cause: CommandCause): Promise<void> {
    const streamId = identityStreams.emailReservation(email);
    const last = (await deps.store.readStream(streamId)).at(-1);
    if (last?.type !== 'EmailReserved') return;
    const emailHash = streamId.slice('email-'.length);
    await release(pipeline, { type: 'EmailReleased', data: { userId, emailHash } }, last.revision, cause);
  }

  /** Erases the account; returns its email as sealed, to free its reservation. */
  async function eraseAccount(actor: Actor, userId: string, password: string | undefined, cause: CommandCause) {
    let sealedEmail: string | undefined;
    const command = async (state: UserState): Promise<EraseUser> => {
      const self = state.status !== 'unregistered' && state.userId === actor.userId;
      const checked = self && isRegistered(state) && password !== undefined;
      const passwordVerified = checked ? await deps.hasher.verify(state.passwordHash, password) : false;
      if (isRegistered(state)) sealedEmail = state.email;
      return { type: 'EraseUser', data: { actor, passwordVerified, now: now() } };
    };
    const run = () => users.handle(identityStreams.user(userId), command, cause);
    // Only a password check counts as an attempt (users erasing themselves).
    const self = password !== undefined && actor.userId === userId;
    await (self ? pipeline.withPasswordAttempt(`account:${userId}`, run) : run());
    return sealedEmail;
  }

  async function erase(actor: Actor, userId: string, password: string | undefined, cause: CommandCause) {
    const sealedEmail = await eraseAccount(actor, userId, password, cause);
    // The email is needed once more, to free its reservation: opened before the key goes.
    const email = sealedEmail === undefined ? undefined : await deps.vault.open(userId, sealedEmail);
    // Crypto-shredding: everything sealed with this user's key is unreadable from now on, in
    // every process (none keeps a key beyond one unit of work).
    await deps.vault.destroy(userId);
    await deps.onErased?.(userId);
    const sessions = await fanOut.revokeOpenSessions(userId, 'user_erased', systemActor, cause);
    const keys = await fanOut.revokeAllApiKeys(userId, cause);
    if (email !== undefined && email !== ERASED) await releaseEmail(userId, email, cause);
    await pipeline.settle(keys ?? sessions);
  }

  return { erase };
}
