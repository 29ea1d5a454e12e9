// argon2id password hashing. The argon2 package runs hash and verify on the libuv threadpool,
// so hashing never blocks the event loop.
//
// Parameters: OWASP's first argon2id recommendation, m = 19 MiB, t = 2, p = 1. Stronger settings
// cost memory per concurrent login (threadpool size × m) and latency; with login rate limits this
// is the OWASP floor we commit to. Raising them is safe: needsRehash flags old hashes and a login
// upgrades them (PasswordHashUpgraded).
import * as argon2 from 'argon2';
import { randomBytes } from 'node:crypto';

export interface Argon2Parameters {
  readonly memoryCost: number; // KiB
  readonly timeCost: number;
  readonly parallelism: number;
}

export const owaspArgon2idParameters: Argon2Parameters = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/** The subset of the argon2 package we use; injectable so tests can count the work done. */
export interface Argon2Backend {
  hash(password: string, options: Argon2Parameters & { type: typeof argon2.argon2id }): Promise<string>;
  verify(digest: string, password: string): Promise<boolean>;
  needsRehash(digest: string, options: Argon2Parameters): boolean;
}

const argon2Backend: Argon2Backend = {
  hash: (password, options) => argon2.hash(password, options),
  verify: (digest, password) => argon2.verify(digest, password),
  needsRehash: (digest, options) => argon2.needsRehash(digest, options),
};

export interface PasswordHasher {
  readonly parameters: Argon2Parameters;
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a hash it cannot read. */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /**
   * For login: with no hash (unknown user) it verifies against a dummy hash of the same
   * parameters and answers false, so both cases spend the same argon2 work.
   */
  verifyOrDummy(passwordHash: string | undefined, password: string): Promise<boolean>;
  /** True when the hash is not argon2id or uses other parameters than today's. */
  needsRehash(passwordHash: string): boolean;
  /** Computes the dummy hash now (call at start-up), so the first unknown-user login is not faster. */
  warmUp(): Promise<void>;
}

export function createPasswordHasher(
  options: { parameters?: Argon2Parameters; backend?: Argon2Backend } = {},
): PasswordHasher {
  const parameters = options.parameters ?? owaspArgon2idParameters;
  const backend = options.backend ?? argon2Backend;
  const hash = (password: string) => backend.hash(password, { ...parameters, type: argon2.argon2id });
  let dummyHash: Promise<string> | undefined;
  // A hash of a random password nobody knows; made once, lazily, with the current parameters.
  const dummy = () => (dummyHash ??= hash(randomBytes(32).toString('base64url')));

  const verify = async (passwordHash: string, password: string): Promise<boolean> => {
    try {
      return await backend.verify(passwordHash, password);
    } catch {
      return false; // an unreadable stored hash never lets anyone in
    }
  };

  return {
    parameters,
    hash,
    verify,
    async verifyOrDummy(passwordHash, password) {
      if (passwordHash !== undefined) return verify(passwordHash, password);
      await verify(await dummy(), password);
      return false;
    },
    needsRehash(passwordHash) {
      if (!passwordHash.startsWith('$argon2id$')) return true;
      return backend.needsRehash(passwordHash, parameters);
    },
    async warmUp() {
      await dummy();
    },
  };
}

/** Reads m, t and p back out of an encoded argon2 hash (for tests and diagnostics). */
export function argon2ParametersOf(passwordHash: string): (Argon2Parameters & { type: string }) | undefined {
  // Encoded as $<type>$v=<n>$<k=v,...>$<salt>$<hash>; the order of m, t and p varies between encoders.
  const m = /^\$(argon2(?:id|i|d))\$v=\d+\$([a-z=0-9,]+)\$/.exec(passwordHash);
  if (!m) return undefined;
  const fields = new Map(m[2]!.split(',').map((pair) => pair.split('=') as [string, string]));
  const read = (key: string) => Number(fields.get(key));
  const parameters = { type: m[1]!, memoryCost: read('m'), timeCost: read('t'), parallelism: read('p') };
  return [parameters.memoryCost, parameters.timeCost, parameters.parallelism].every(Number.isInteger)
    ? parameters
    : undefined;
}
