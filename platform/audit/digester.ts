// Signs audit digests: on request (GET /audit/digest, `vialog audit digest`) and on its own, every
// AUDIT_DIGEST_EVERY_EVENTS events and every AUDIT_DIGEST_INTERVAL_SECONDS, in one process only
// (an advisory lock). Each digest goes to the service's log — a copy outside the database — and
// to audit_digests.
//
// A digest continues from the last one this process signed, or else from the newest stored digest
// whose signature holds: the head it signs still carries what the log held back then, so a later
// edit of older events shows against every digest signed after it too, not only the older ones.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { tryAdvisoryLock, type AdvisoryLock } from '../database/advisory-lock.ts';
import type { EventStore } from '../eventstore/port.ts';
import { digestState, signDigest, type AuditDigest } from './digest.ts';
import { latestValidDigest, saveDigest, type DigestTrigger } from './digest-store.ts';
import type { AuditKeyRing } from './keys.ts';
import { EMPTY_LOG, advance, type LogState } from './log-head.ts';

export interface AuditDigesterOptions {
  readonly store: EventStore;
  readonly knex: Knex;
  readonly keys: AuditKeyRing;
  readonly logger: Logger;
  /** Where the leadership lock is taken (the read-model database). */
  readonly databaseUrl: string;
  /** Sign after this many new events (0: never by count). */
  readonly everyEvents: number;
  /** Sign at least this often (0: never by time). */
  readonly intervalSeconds: number;
  /** How often the leader looks for new events (default 5 s, at most the interval). */
  readonly tickMs?: number;
}

const LOCK_NAME = 'audit-digest';
/** First key of the lock ("VLDR"); the second is hashtext(LOCK_NAME). */
const LOCK_NAMESPACE = 0x564c4452;

export class AuditDigester {
  readonly #options: AuditDigesterOptions;
  /** How far this process has read the log (signed or not). */
  #scanned: LogState | undefined;
  #lastSigned: { eventCount: number; at: number } | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #stop: AbortController | undefined;
  #lock: AdvisoryLock | undefined;

  constructor(options: AuditDigesterOptions) {
    this.#options = options;
  }

  /** Signs a digest of the whole log as it stands now; stores and logs it. */
  digest(trigger: DigestTrigger): Promise<AuditDigest> {
    return this.#exclusive(async () => this.#sign(await this.#readOn(), trigger));
  }

  /** Starts the scheduled digests (stands by while another process holds the lock). */
  start(): void {
    const { everyEvents, intervalSeconds } = this.#options;
    if (this.#loop || (everyEvents === 0 && intervalSeconds === 0)) return;
    const tickMs = Math.min(this.#options.tickMs ?? 5_000, intervalSeconds > 0 ? intervalSeconds * 1000 : Infinity);
    const stop = (this.#stop = new AbortController());
    this.#loop = (async () => {
      while (!stop.signal.aborted) {
        try {
          await this.#tick();
        } catch (error) {
          this.#options.logger.warn({ err: error }, 'audit digest: scheduled signing failed; trying again');
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, tickMs);
          stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    await this.#queue.catch(() => undefined);
    await this.#lock?.release();
    this.#lock = undefined;
    this.#loop = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#lock && !(await this.#lock.alive())) {
      this.#options.logger.warn('audit digest: the leadership lock was lost');
      await this.#lock.release();
      this.#lock = undefined;
    }
    if (!this.#lock) {
      this.#lock = await tryAdvisoryLock(this.#options.databaseUrl, {
        namespace: LOCK_NAMESPACE,
        key: LOCK_NAME,
        applicationName: `vialog-lock-${LOCK_NAME}`,
      });
      if (!this.#lock) return;
      this.#options.logger.info('audit digest: this process signs the scheduled digests');
    }
    await this.#exclusive(async () => {
      const state = await this.#readOn();
      const last = this.#lastSigned ?? { eventCount: 0, at: Date.now() };
      this.#lastSigned ??= last;
      const { everyEvents, intervalSeconds } = this.#options;
      if (everyEvents > 0 && state.eventCount - last.eventCount >= everyEvents) await this.#sign(state, 'events');
      else if (intervalSeconds > 0 && Date.now() - last.at >= intervalSeconds * 1000) await this.#sign(state, 'time');
    });
  }

  /** Reads the log on from where this process stands (first: the newest valid stored digest). */
  async #readOn(): Promise<LogState> {
    if (!this.#scanned) {
      const stored = await latestValidDigest(this.#options.knex, this.#options.keys.verify);
      this.#scanned = stored ? digestState(stored) : EMPTY_LOG;
      this.#lastSigned = stored ? { eventCount: stored.eventCount, at: Date.parse(stored.signedAt) } : undefined;
    }
    const signal = this.#stop?.signal;
    this.#scanned = await advance(this.#options.store, this.#scanned, signal ? { signal } : {});
    return this.#scanned;
  }

  async #sign(state: LogState, trigger: DigestTrigger): Promise<AuditDigest> {
    const digest = signDigest(state, this.#options.keys);
    await saveDigest(this.#options.knex, digest, trigger);
    this.#lastSigned = { eventCount: state.eventCount, at: Date.parse(digest.signedAt) };
    this.#options.logger.info({ auditDigest: digest, trigger }, 'audit digest signed');
    return digest;
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
