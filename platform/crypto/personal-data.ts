// Crypto-shredding: personal data inside immutable events (an email, the text of a dialog
// message) is sealed with a per-person data key, and erasing the person destroys that key. The
// events stay — type, time, actor, hash chain all verifiable — but the sealed fields can never be
// read again and show as "[erased]".
//
// Keys live in Postgres (personal_data_keys), each wrapped (AES-256-GCM) by the master key from
// PERSONAL_DATA_KEY, so a database dump alone reveals nothing. Sealed values are strings
// "pd1.<base64url iv|tag|ciphertext>"; anything else is read as plain text (data from before).
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';

export const ERASED = '[erased]';
const PREFIX = 'pd1.';
const CACHE_MS = 60_000;

export const isSealed = (value: unknown): value is string => typeof value === 'string' && value.startsWith(PREFIX);

// Keys are KeyObjects, made once: a raw Buffer key is turned into one on every cipher call.
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

export class PersonalDataVault {
  readonly #knex: Knex;
  readonly #master: KeyObject;
  /** subject → data key (null: destroyed or never made), with when it was read. */
  readonly #cache = new Map<string, { key: KeyObject | null; at: number }>();

  constructor(knex: Knex, masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('the personal data master key must be 32 bytes');
    this.#knex = knex;
    this.#master = createSecretKey(masterKey);
  }

  async #key(subjectId: string, create: boolean): Promise<KeyObject | null> {
    const cached = this.#cache.get(subjectId);
    if (cached && (cached.key !== null || !create) && Date.now() - cached.at < CACHE_MS) return cached.key;
    let row = await this.#knex('personal_data_keys').where('subject_id', subjectId).first<{ wrapped_key: Buffer | null } | undefined>('wrapped_key');
    if (!row && create) {
      await this.#knex('personal_data_keys').insert({ subject_id: subjectId, wrapped_key: encrypt(this.#master, randomBytes(32)) }).onConflict('subject_id').ignore();
      row = await this.#knex('personal_data_keys').where('subject_id', subjectId).first<{ wrapped_key: Buffer | null } | undefined>('wrapped_key');
    }
    const key = row?.wrapped_key ? createSecretKey(decrypt(this.#master, row.wrapped_key)) : null;
    this.#cache.set(subjectId, { key, at: Date.now() });
    return key;
  }

  /** Seals a value with the subject's key (made on first use). Throws once the subject was erased. */
  async seal(subjectId: string, plaintext: string): Promise<string> {
    const key = await this.#key(subjectId, true);
    if (!key) throw new Error('this person was erased: nothing personal may be stored for them again');
    return PREFIX + encrypt(key, Buffer.from(plaintext, 'utf8')).toString('base64url');
  }

  /** The plain value; "[erased]" when the key is gone; a value that was never sealed as it is. */
  async open(subjectId: string | null | undefined, value: string): Promise<string> {
    if (!isSealed(value)) return value;
    const key = subjectId ? await this.#key(subjectId, false) : null;
    if (!key) return ERASED;
    try {
      return decrypt(key, Buffer.from(value.slice(PREFIX.length), 'base64url')).toString('utf8');
    } catch {
      return ERASED;
    }
  }

  /** Every sealed string field of an object, opened (one level deep, as events carry them). */
  async openFields<T extends Record<string, unknown>>(subjectId: string | null | undefined, data: T): Promise<T> {
    const out: Record<string, unknown> = { ...data };
    for (const [field, value] of Object.entries(data)) if (isSealed(value)) out[field] = await this.open(subjectId, value);
    return out as T;
  }

  /** Destroys the subject's key: everything sealed with it is unreadable from now on. */
  async destroy(subjectId: string): Promise<void> {
    await this.#knex('personal_data_keys')
      .insert({ subject_id: subjectId, wrapped_key: null, destroyed_at: this.#knex.fn.now() })
      .onConflict('subject_id')
      .merge({ wrapped_key: null, destroyed_at: this.#knex.fn.now() });
    this.#cache.set(subjectId, { key: null, at: Date.now() });
  }
}
