// Accounts: registration (with its name reservations), the first admin, password changes and
// what administrators do to an account.
import { randomUUID } from 'node:crypto';
import { eventsOrThrow, fail } from '../../../platform/commands/decision.ts';
import type { CommandCause } from '../../../platform/eventstore/metadata.ts';
import type { ExpectedRevision } from '../../../platform/eventstore/port.ts';
import { reservationConflict, systemActor, userDecider, type Actor, type ChangePassword } from '../decide.ts';
import { isRegistered, type UserState } from '../evolve.ts';
import { identityStreams, streamOf, type IdentityEvent, type IdentityEventOf, type Role } from '../events.ts';
import * as queries from '../queries.ts';
import { validatePassword, validateRegistration } from '../rules.ts';
import type { IdentityPipeline } from './pipeline.ts';
import type { FanOut } from './sessions.ts';

export interface NewAccount {
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly role?: Role;
}

type Registration = [
  IdentityEventOf<'UsernameReserved'>,
  IdentityEventOf<'EmailReserved'>,
  IdentityEventOf<'UserRegistered'>,
];

/** Expected revision for taking a reservation: free if it never existed or was released last. */
async function reservationExpected(pipeline: IdentityPipeline, streamId: string): Promise<ExpectedRevision | 'taken'> {
  const last = (await pipeline.deps.store.readStream(streamId)).at(-1);
  if (!last) return 'no_stream';
  return last.type === 'UsernameReleased' || last.type === 'EmailReleased' ? last.revision : 'taken';
}

/**
 * Takes a name reservation: appended with "no stream" (or at its released revision), so of two
 * parallel registrations of one name exactly one gets it. Returns the revision to release it at.
 */
async function reserve(pipeline: IdentityPipeline, event: IdentityEvent, cause: CommandCause): Promise<number> {
  const streamId = streamOf(event);
  const expected = await reservationExpected(pipeline, streamId);
  const taken =
    expected === 'taken' ? undefined : await pipeline.appender.tryAppend(streamId, [event], cause, expected);
  return taken?.nextExpectedRevision ?? fail(reservationConflict(streamId)!); // held, or lost the race
}

/** Gives a reservation back; best effort (a failed registration or an erasure goes on without it). */
export async function release(
  pipeline: IdentityPipeline,
  event: IdentityEventOf<'UsernameReleased' | 'EmailReleased'>,
  revision: number,
  cause: CommandCause,
): Promise<void> {
  await pipeline.appender.append(streamOf(event), [event], cause, revision).catch(() => undefined);
}

/** The account as registered, from the read model or (when it is late) from the event itself. */
async function registeredView(pipeline: IdentityPipeline, registered: Registration[2]): Promise<queries.UserView> {
  const d = registered.data;
  const view = await queries.getUser(pipeline.deps.knex, d.userId);
  return (
    view ?? {
      id: d.userId,
      username: d.username,
      email: d.email,
      role: d.role,
      isActive: true,
      createdAt: d.registeredAt,
    }
  );
}

export function accountCommands(pipeline: IdentityPipeline, fanOut: FanOut) {
  const { deps, now, users } = pipeline;

  async function register(input: NewAccount, cause: CommandCause): Promise<queries.UserView> {
    // Cheap rules first: no argon2 work for a request that breaks them.
    const errors = validateRegistration(input, { allowReserved: input.role === 'admin' });
    if (errors.length > 0) fail({ code: 'validation_failed', message: 'the registration breaks some rules', errors });
    const userId = randomUUID();
    const passwordHash = await deps.hasher.hash(input.password);
    const data = { ...input, userId, passwordHash, role: input.role ?? 'user', now: now() };
    const decision = userDecider.decide({ type: 'RegisterUser', data }, userDecider.initialState());
    const [username, email, registered] = eventsOrThrow(decision) as Registration;
    // What a later step fails to take is released again, so a failed registration holds nothing.
    const usernameRevision = await reserve(pipeline, username, cause);
    let emailRevision: number | undefined;
    try {
      emailRevision = await reserve(pipeline, email, cause);
      const result = await users.append(streamOf(registered), [registered], cause, 'no_stream');
      await pipeline.settle(result.position);
    } catch (error) {
      const released = { ...cause, reason: 'registration did not complete' };
      await release(pipeline, { type: 'UsernameReleased', data: username.data }, usernameRevision, released);
      if (emailRevision !== undefined)
        await release(pipeline, { type: 'EmailReleased', data: email.data }, emailRevision, released);
      throw error;
    }
    return registeredView(pipeline, registered);
  }

  /**
   * The first admin (ADMIN_USERNAME / ADMIN_PASSWORD at start-up, or `vialog users create --admin`):
   * registers the account, or promotes an existing one. Idempotent.
   */
  async function ensureAdmin(
    input: Omit<NewAccount, 'role'>,
    cause: CommandCause,
  ): Promise<'created' | 'promoted' | 'unchanged'> {
    const holder = (await deps.store.readStream(identityStreams.usernameReservation(input.username))).at(-1);
    if (holder?.type !== 'UsernameReserved') {
      await register({ ...input, role: 'admin' }, cause);
      return 'created';
    }
    const streamId = identityStreams.user((holder.data as { userId: string }).userId);
    const user = await users.load(streamId);
    if (!isRegistered(user.state))
      fail({ code: 'conflict', message: `the username ${input.username} is held by an account that is not active` });
    if (user.state.role === 'admin') return 'unchanged';
    const command = { type: 'ChangeUserRole', data: { actor: systemActor, role: 'admin', now: now() } } as const;
    await users.handle(streamId, command, cause, { known: user });
    return 'promoted';
  }

  /** The change as the decider takes it: the current password checked, the new one hashed if it will be accepted. */
  async function passwordChange(
    actor: Actor,
    current: string,
    next: string,
    state: UserState,
  ): Promise<ChangePassword> {
    const currentPasswordVerified = isRegistered(state) && (await deps.hasher.verify(state.passwordHash, current));
    // Hash only a password the decider will accept; otherwise it refuses before using the hash.
    const acceptable = isRegistered(state) && validatePassword(next, state.username, 'newPassword').length === 0;
    const newPasswordHash = currentPasswordVerified && acceptable ? await deps.hasher.hash(next) : '';
    const data = { actor, currentPasswordVerified, newPassword: next, newPasswordHash, now: now() };
    return { type: 'ChangePassword', data };
  }

  /** Ends every session and revokes every API key: whoever held the old password may have made them. */
  async function changePassword(actor: Actor, currentPassword: string, newPassword: string, cause: CommandCause) {
    const change = (state: UserState) => passwordChange(actor, currentPassword, newPassword, state);
    await pipeline.withPasswordAttempt(`account:${actor.userId}`, () =>
      users.handle(identityStreams.user(actor.userId), change, cause),
    );
    const sessions = await fanOut.revokeOpenSessions(actor.userId, 'password_changed', systemActor, cause);
    const keys = await fanOut.revokeAllApiKeys(actor.userId, cause);
    await pipeline.settle(keys ?? sessions);
  }

  async function setActive(actor: Actor, userId: string, active: boolean, cause: CommandCause): Promise<void> {
    const command = { type: active ? 'ActivateUser' : 'DeactivateUser', data: { actor, now: now() } } as const;
    await users.handle(identityStreams.user(userId), command, cause);
    if (!active) await pipeline.settle(await fanOut.revokeOpenSessions(userId, 'user_deactivated', systemActor, cause));
  }

  async function changeRole(actor: Actor, userId: string, role: Role, cause: CommandCause): Promise<void> {
    const command = { type: 'ChangeUserRole', data: { actor, role, now: now() } } as const;
    await users.handle(identityStreams.user(userId), command, cause);
  }

  return {
    register,
    ensureAdmin,
    changePassword,
    setActive,
    changeRole,
    loadUser: (userId: string) => users.load(identityStreams.user(userId)),
  };
}
