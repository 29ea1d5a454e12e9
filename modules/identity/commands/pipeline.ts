// What every identity command shares: the command handlers of the user, session and API key
// streams (platform/commands/handler.ts), with personal data sealed under its user's key before
// each append; the caller-cache eviction once the read model has a change; password attempts;
// work the answer does not wait for.
import type { Knex } from 'knex';
import { accept, DomainError } from '../../../platform/commands/decision.ts';
import { CommandHandler, type EventCodec } from '../../../platform/commands/handler.ts';
import { sealFields, type PersonalDataVault } from '../../../platform/crypto/personal-data.ts';
import { comparePositions, type EventStore, type Position } from '../../../platform/eventstore/port.ts';
import { apiKeyDecider, sessionDecider, userDecider } from '../decide.ts';
import { callerChangingEvents, identityEvents, sealedFields, streamOf, type IdentityEvent } from '../events.ts';
import type { PasswordHasher } from '../passwords.ts';
import type { AccessTokens } from '../tokens.ts';

/** One password attempt, counted before the password is checked. */
export interface PasswordAttempt {
  /** The password was right: the account's failures are forgotten. */
  succeeded(): Promise<void>;
  /** Something else than a wrong password ended the attempt: it does not count. */
  release(): Promise<void>;
}

/**
 * Limits password checks (login, password change, erasure) per account, counting each attempt
 * before argon2 runs: throws (429) when the account has none left. A wrong password keeps its
 * attempt counted.
 */
export interface PasswordAttempts {
  reserve(account: string): Promise<PasswordAttempt>;
}

export interface IdentityCommandDeps {
  readonly store: EventStore;
  readonly knex: Knex;
  readonly hasher: PasswordHasher;
  /** Seals the personal data of identity events (sealedFields); erasure destroys the key. */
  readonly vault: PersonalDataVault;
  /** Attempt limits on password checks (the HTTP service's; none from the command line). */
  readonly passwordAttempts?: PasswordAttempts;
  /** After an erasure: forget what else is kept of the user (e.g. kept Idempotency-Key answers). */
  readonly onErased?: (userId: string) => Promise<void>;
  /** Work the answer does not wait for (the record of a failed login) that failed. */
  readonly onBackgroundError?: (error: unknown) => void;
  readonly accessTokens: AccessTokens;
  readonly refreshTokenTtlDays: number;
  /** Read-your-writes: resolves once the identity read model reached the position (bounded). */
  readonly waitForReadModel: (position: Position) => Promise<boolean>;
  /** Called once the read model has a change that can refuse or alter a user's callers (cache eviction). */
  readonly onCallerChanged?: (userId: string) => void;
  readonly now?: () => Date;
}

/** The identity event with its personal data (sealedFields) sealed with its user's key. */
async function sealed<E extends IdentityEvent>(vault: PersonalDataVault, event: E): Promise<E> {
  const fields = sealedFields[event.type];
  if (fields.length === 0) return event;
  return { ...event, data: await sealFields(vault.scope(), event.data.userId, event.data, fields) };
}

/**
 * Sealed fields stay sealed when a stream is loaded (no `open`): no decision reads them, and the
 * erasure opens the one it needs itself.
 */
const codecOf = <E extends IdentityEvent>(vault: PersonalDataVault): EventCodec<E> => ({
  ...identityEvents,
  parse: (type, data) => identityEvents.parse(type, data) as E,
  seal: (event) => sealed(vault, event),
  streamOf,
});

const noDecisions = { decide: () => accept<IdentityEvent>(), evolve: () => null, initialState: () => null };

/**
 * Caller-cache eviction: users whose callers an append changed are remembered with its position;
 * once the read model reached it (settle), their cached callers are dropped.
 */
function callerChanges(deps: IdentityCommandDeps) {
  const changedUsers = new Map<string, Position>();
  return {
    onAppended: (_streamId: string, events: readonly { type: string; data: object }[], position: Position): void => {
      for (const e of events)
        if (callerChangingEvents.has(e.type)) changedUsers.set((e.data as { userId: string }).userId, position);
    },
    settle: async (position: Position | undefined): Promise<boolean> => {
      if (!position) return true;
      const caughtUp = await deps.waitForReadModel(position);
      for (const [userId, changedAt] of changedUsers) {
        if (comparePositions(changedAt, position) > 0) continue; // another command's, settled by it
        changedUsers.delete(userId);
        deps.onCallerChanged?.(userId);
      }
      return caughtUp;
    },
  };
}

export type IdentityPipeline = ReturnType<typeof identityPipeline>;

export function identityPipeline(deps: IdentityCommandDeps) {
  const now = deps.now ?? (() => new Date());
  const { settle, onAppended } = callerChanges(deps);
  const handlerDeps = { store: deps.store, now, waitForReadModels: settle, onAppended };

  /** Work the answer does not wait for, whose refusal nobody reads (a failed login's record); drain() waits for it. */
  const pending = new Set<Promise<unknown>>();
  function inBackground(work: Promise<unknown>): void {
    const tracked = work
      .catch((error: unknown) => void (error instanceof DomainError || deps.onBackgroundError?.(error)))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
  }

  /**
   * Runs a password check under one attempt of the account's (or unknown login name's) budget,
   * reserved before it: a wrong password keeps the attempt counted, the right one clears the
   * failures, anything else gives the attempt back.
   */
  async function withPasswordAttempt<T>(account: string, check: () => Promise<T>): Promise<T> {
    const attempt = await deps.passwordAttempts?.reserve(account);
    try {
      const result = await check();
      await attempt?.succeeded();
      return result;
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'invalid_credentials')) await attempt?.release();
      throw error;
    }
  }

  return {
    deps,
    now,
    users: new CommandHandler(handlerDeps, userDecider, codecOf(deps.vault)),
    sessions: new CommandHandler(handlerDeps, sessionDecider, codecOf(deps.vault)),
    apiKeys: new CommandHandler(handlerDeps, apiKeyDecider, codecOf(deps.vault)),
    /** Appends outside a decision (name reservations and releases, a key's daily use): sealed and checked alike. */
    appender: new CommandHandler(handlerDeps, noDecisions, codecOf<IdentityEvent>(deps.vault)),
    settle,
    inBackground,
    withPasswordAttempt,
    drain: async (): Promise<void> => void (await Promise.all(pending)),
  };
}
