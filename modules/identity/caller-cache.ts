// Keeps the per-request authentication off the database in the steady state, without letting a
// revocation wait: callers (by session or API key) are cached for a few seconds, and every change
// that could refuse or alter a caller evicts that user's entries at once:
//   - in this process, by the command that made the change, after the read model applied it and
//     before the command answers (so the caller's very next request is checked afresh);
//   - in other processes, through a NOTIFY the identity projection sends in the same transaction
//     that applies the change (and everything is dropped when that LISTEN connection reconnects).
// A read that raced with an eviction is not cached (generation check), so an eviction is never
// undone by a slow request putting the old row back.
import type { VerifiedAccessToken } from './tokens.ts';

export interface CachedCaller {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly role: 'user' | 'admin';
  readonly status: 'active' | 'inactive' | 'erased';
  readonly createdAt: string;
  /** The session (bearer) or key (API key) no longer holds. */
  readonly revoked: boolean;
  /** API keys: SHA-256 of the whole key. */
  readonly secretHash?: string;
}

interface Entry {
  readonly caller: CachedCaller;
  readonly expiresAt: number;
}

/** A verified access token and the cache key of its session's caller (made once, hashed once). */
export interface KnownToken {
  readonly claims: VerifiedAccessToken;
  readonly sessionKey: string;
}

interface TokenEntry extends KnownToken {
  readonly token: string;
}

/** The signature segment of a compact JWS: a short, effectively unique key for the whole token. */
const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

/** The cache key of a session's caller. */
const sessionKey = (sessionId: string): string => `session:${sessionId}`;

export class CallerCache {
  readonly #entries = new Map<string, Entry>();
  /** By signature: hashing a 43-character key instead of the whole token; the token is compared in full. */
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  #generation = 0;

  constructor(options: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /** Take before reading the database; pass to set() so a read older than an eviction is not kept. */
  generation(): number {
    return this.#generation;
  }

  get(key: string): CachedCaller | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.caller;
  }

  set(key: string, caller: CachedCaller, generationAtRead: number): void {
    if (generationAtRead !== this.#generation) return;
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!); // oldest first
    this.#entries.set(key, { caller, expiresAt: Date.now() + this.#ttlMs });
  }

  /** A verified access token, until it expires (verification is deterministic for a key ring). */
  token(token: string): KnownToken | undefined {
    const signature = signatureOf(token);
    const entry = this.#tokens.get(signature);
    if (entry === undefined || entry.token !== token) return undefined; // another token with that signature is not this one
    if (entry.claims.expiresAt.getTime() <= Date.now()) {
      this.#tokens.delete(signature);
      return undefined;
    }
    return entry;
  }

  rememberToken(token: string, claims: VerifiedAccessToken): KnownToken {
    if (this.#tokens.size >= this.#maxEntries) this.#tokens.delete(this.#tokens.keys().next().value!);
    const entry: TokenEntry = { token, claims, sessionKey: sessionKey(claims.sessionId) };
    this.#tokens.set(signatureOf(token), entry);
    return entry;
  }

  evictUser(userId: string): void {
    this.#generation += 1;
    for (const [key, entry] of this.#entries) if (entry.caller.userId === userId) this.#entries.delete(key);
  }

  clear(): void {
    this.#generation += 1;
    this.#entries.clear();
  }
}
