// Crypto-shredding: personal data inside immutable events (an email, the text of a dialog
// message, a conversation title, the IP address and user agent of a login, an API key's name) is
// sealed with a per-person data key, and erasing the person destroys that key. The events stay —
// type, time, actor, hash chain all verifiable — but the sealed fields can never be read again
// and show as "[erased]".
//
// Keys live in Postgres (personal_data_keys), each wrapped (AES-256-GCM) by the master key from
// PERSONAL_DATA_KEY, so a database dump alone reveals nothing. Sealed values are strings
// "pd1.<base64url iv|tag|ciphertext>"; anything else is read as plain text (data from before).
//
// No process keeps a key beyond one unit of work: the vault reads the key for each call, and a
// scope() (one projection batch, one page of an export, one command) remembers the keys it read
// for its own short life only. So once destroy() has committed, every unit of work that starts
// afterwards, in any process, finds the key gone: erasure needs no message to other processes.
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';

export const ERASED = '[erased]';
const PREFIX = 'pd1.';

export const isSealed = (value: unknown): value is string => typeof value === 'string' && value.startsWith(PREFIX);

/** The longest sealed form of a text of at most `chars` UTF-16 units (for event schemas). */
export const sealedLength = (chars: number): number => PREFIX.length + Math.ceil((28 + 3 * chars) / 3) * 4;

// Keys are KeyObjects, made once per lookup: a raw Buffer key is turned into one on every cipher call.
function encrypt(key: KeyObject, plaintext: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

function decrypt(key: KeyObject, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}

/** Sealing for a person whose key was destroyed: nothing personal may be stored for them again. */
export class SubjectErasedError extends Error {
  override readonly name = 'SubjectErasedError';
  constructor() {
    super('this person was erased: nothing personal may be stored for them again');
  }
}

/** Seals, or gives "[erased]" when the person was erased meanwhile (a request racing the erasure). */
export async function sealOrErased(keys: PersonalData, subjectId: string, plaintext: string): Promise<string> {
  try {
    return await keys.seal(subjectId, plaintext);
  } catch (error) {
    if (error instanceof SubjectErasedError) return ERASED;
    throw error;
  }
}

/** The data with the named string fields sealed with the subject's key (as sealOrErased), the rest as it is. */
export async function sealFields<T extends object>(
  keys: PersonalData,
  subjectId: string,
  data: T,
  fields: readonly string[],
): Promise<T> {
  const sealed = { ...data } as Record<string, unknown>;
  for (const field of fields) {
    const value = sealed[field];
    if (typeof value === 'string') sealed[field] = await sealOrErased(keys, subjectId, value);
  }
  return sealed as T;
}

/** A subject's key as the database has it: the key, or none (never made, or destroyed). */
interface KeyState {
  readonly key: KeyObject | null;
  readonly destroyed: boolean;
}

/** Sealing and opening a person's data. */
export interface PersonalData {
  /** Seals a value with the subject's key (made on first use). Throws once the subject was erased. */
  seal(subjectId: string, plaintext: string): Promise<string>;
  /** The plain value; "[erased]" when the key is gone; a value that was never sealed as it is. */
  open(subjectId: string | null | undefined, value: string): Promise<string>;
  /** Every sealed string field of an object, opened (one level deep, as events carry them). */
  openFields<T extends Record<string, unknown>>(subjectId: string | null | undefined, data: T): Promise<T>;
  /** True once the subject's key was destroyed (erasure): plain personal data of theirs must not be shown either. */
  erased(subjectId: string): Promise<boolean>;
}

class KeyLookup implements PersonalData {
  readonly #read: (subjectId: string, create: boolean) => Promise<KeyState>;
  /** Keys read by this lookup (a scope's); undefined: read afresh every time. */
  readonly #remembered: Map<string, KeyState> | undefined;

  constructor(read: (subjectId: string, create: boolean) => Promise<KeyState>, remember: boolean) {
    this.#read = read;
    this.#remembered = remember ? new Map() : undefined;
  }

  async #key(subjectId: string, create: boolean): Promise<KeyState> {
    const known = this.#remembered?.get(subjectId);
    if (known && (known.key !== null || known.destroyed || !create)) return known;
    const state = await this.#read(subjectId, create);
    this.#remembered?.set(subjectId, state);
    return state;
  }

  async seal(subjectId: string, plaintext: string): Promise<string> {
    const { key } = await this.#key(subjectId, true);
    if (!key) throw new SubjectErasedError();
    return PREFIX + encrypt(key, Buffer.from(plaintext, 'utf8')).toString('base64url');
  }

  async open(subjectId: string | null | undefined, value: string): Promise<string> {
    if (!isSealed(value)) return value;
    const key = subjectId ? (await this.#key(subjectId, false)).key : null;
    if (!key) return ERASED;
    try {
      return decrypt(key, Buffer.from(value.slice(PREFIX.length), 'base64url')).toString('utf8');
    } catch {
      return ERASED;
    }
  }

  async openFields<T extends Record<string, unknown>>(subjectId: string | null | undefined, data: T): Promise<T> {
    const out: Record<string, unknown> = { ...data };
    for (const [field, value] of Object.entries(data))
      if (isSealed(value)) out[field] = await this.open(subjectId, value);
    return out as T;
  }

  async erased(subjectId: string): Promise<boolean> {
    return (await this.#key(subjectId, false)).destroyed;
  }
}

export class PersonalDataVault implements PersonalData {
  readonly #knex: Knex;
  readonly #master: KeyObject;
  /** Uncached: every call reads the key. */
  readonly #direct: KeyLookup;

  constructor(knex: Knex, masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('the personal data master key must be 32 bytes');
    this.#knex = knex;
    this.#master = createSecretKey(masterKey);
    this.#direct = new KeyLookup((subjectId, create) => this.#readKey(subjectId, create), false);
  }

  async #readKey(subjectId: string, create: boolean): Promise<KeyState> {
    type Row = { wrapped_key: Buffer | null } | undefined;
    let row = await this.#knex('personal_data_keys').where('subject_id', subjectId).first<Row>('wrapped_key');
    if (!row && create) {
      const wrapped = encrypt(this.#master, randomBytes(32));
      await this.#knex('personal_data_keys')
        .insert({ subject_id: subjectId, wrapped_key: wrapped })
        .onConflict('subject_id')
        .ignore();
      row = await this.#knex('personal_data_keys').where('subject_id', subjectId).first<Row>('wrapped_key');
    }
    if (!row) return { key: null, destroyed: false };
    if (!row.wrapped_key) return { key: null, destroyed: true };
    return { key: createSecretKey(decrypt(this.#master, row.wrapped_key)), destroyed: false };
  }

  /**
   * Seals and opens with each key read at most once, for one unit of work (a projection batch, a
   * page of an export, a command). Take a new scope for each: one kept longer would keep using
   * a key another process has destroyed meanwhile.
   */
  scope(): PersonalData {
    return new KeyLookup((subjectId, create) => this.#readKey(subjectId, create), true);
  }

  seal(subjectId: string, plaintext: string): Promise<string> {
    return this.#direct.seal(subjectId, plaintext);
  }

  open(subjectId: string | null | undefined, value: string): Promise<string> {
    return this.#direct.open(subjectId, value);
  }

  openFields<T extends Record<string, unknown>>(subjectId: string | null | undefined, data: T): Promise<T> {
    return this.scope().openFields(subjectId, data);
  }

  erased(subjectId: string): Promise<boolean> {
    return this.#direct.erased(subjectId);
  }

  /** Destroys the subject's key: everything sealed with it is unreadable from now on, in every process. */
  async destroy(subjectId: string): Promise<void> {
    await this.#knex('personal_data_keys')
      .insert({ subject_id: subjectId, wrapped_key: null, destroyed_at: this.#knex.fn.now() })
      .onConflict('subject_id')
      .merge({ wrapped_key: null, destroyed_at: this.#knex.fn.now() });
  }
}
