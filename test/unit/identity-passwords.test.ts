// argon2id hashing: parameters, verify, rehash detection, and the dummy verify that makes an
// unknown user cost the same work as a wrong password.
import test from 'ava';
import type { Argon2Backend, Argon2Parameters } from '../../modules/identity/passwords.ts';
import { argon2ParametersOf, createPasswordHasher, owaspArgon2idParameters } from '../../modules/identity/passwords.ts';

const password = 'correct horse battery staple';

test('parameters: argon2id with at least OWASP m=19456 KiB, t=2, p=1', (t) => {
  const hasher = createPasswordHasher();
  t.true(hasher.parameters.memoryCost >= 19_456);
  t.true(hasher.parameters.timeCost >= 2);
  t.true(hasher.parameters.parallelism >= 1);
  t.deepEqual(hasher.parameters, owaspArgon2idParameters);
});

test('hash: argon2id with the configured parameters, salted, verifiable', async (t) => {
  const hasher = createPasswordHasher();
  const [first, second] = await Promise.all([hasher.hash(password), hasher.hash(password)]);
  t.deepEqual(argon2ParametersOf(first), { type: 'argon2id', ...owaspArgon2idParameters });
  t.not(first, second, 'a fresh salt each time');
  t.false(first.includes(password));
  t.true(await hasher.verify(first, password));
  t.false(await hasher.verify(first, `${password}!`));
});

test('verify: an unreadable stored hash is a plain false, never a throw', async (t) => {
  t.false(await createPasswordHasher().verify('$argon2id$garbage', password));
});

test('needsRehash: other parameters or another algorithm need a rehash; current ones do not', async (t) => {
  const weak: Argon2Parameters = { memoryCost: 8_192, timeCost: 1, parallelism: 1 };
  const oldHash = await createPasswordHasher({ parameters: weak }).hash(password);
  const hasher = createPasswordHasher();
  t.true(hasher.needsRehash(oldHash));
  t.false(hasher.needsRehash(await hasher.hash(password)));
  t.true(hasher.needsRehash('$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA'));
  t.true(hasher.needsRehash('$2b$10$abcdefghijklmnopqrstuv'));
});

test('hashing runs off the event loop (a timer still fires while hashes are computed)', async (t) => {
  const hasher = createPasswordHasher();
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 1);
  await Promise.all([hasher.hash(password), hasher.hash(password), hasher.hash(password), hasher.hash(password)]);
  clearInterval(timer);
  t.true(ticks > 0);
});

/** A backend that records every verify and the parameters of the hash it was given. */
function countingBackend() {
  const real = createPasswordHasher();
  const calls: { parameters: ReturnType<typeof argon2ParametersOf> }[] = [];
  let hashes = 0;
  const backend: Argon2Backend = {
    hash: async (pw, options) => {
      hashes += 1;
      return createPasswordHasher({ parameters: options }).hash(pw);
    },
    verify: async (digest, pw) => {
      calls.push({ parameters: argon2ParametersOf(digest) });
      return real.verify(digest, pw);
    },
    needsRehash: () => false,
  };
  return { backend, calls, hashes: () => hashes };
}

test('verifyOrDummy: an unknown user spends one argon2 verify with the same parameters as a wrong password', async (t) => {
  const { backend, calls, hashes } = countingBackend();
  const hasher = createPasswordHasher({ backend });
  const stored = await hasher.hash(password);
  await hasher.warmUp(); // the dummy hash is made once, before any login
  const hashesBeforeLogins = hashes();

  t.false(await hasher.verifyOrDummy(stored, 'wrong password here'));
  t.false(await hasher.verifyOrDummy(undefined, 'wrong password here'));
  t.false(await hasher.verifyOrDummy(undefined, password), 'no password opens the dummy');
  t.true(await hasher.verifyOrDummy(stored, password));

  t.is(calls.length, 4, 'every login attempt, known user or not, runs exactly one argon2 verify');
  for (const call of calls) t.deepEqual(call.parameters, { type: 'argon2id', ...owaspArgon2idParameters });
  t.is(hashes(), hashesBeforeLogins, 'no extra hashing at login time: the dummy hash is reused');
});

test('verifyOrDummy: the dummy hash is made lazily once even without warmUp', async (t) => {
  const { backend, calls, hashes } = countingBackend();
  const hasher = createPasswordHasher({ backend });
  await Promise.all([hasher.verifyOrDummy(undefined, 'a'), hasher.verifyOrDummy(undefined, 'b')]);
  t.is(hashes(), 1);
  t.is(calls.length, 2);
});
