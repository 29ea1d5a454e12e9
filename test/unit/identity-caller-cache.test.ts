import test from 'ava';
import { CallerCache, type CachedCaller } from '../../modules/identity/caller-cache.ts';

const caller = (userId: string, status: CachedCaller['status'] = 'active'): CachedCaller => ({
  userId,
  username: userId,
  email: `${userId}@lab.example`,
  role: 'user',
  status,
  createdAt: new Date(0).toISOString(),
  revoked: false,
});

test('an eviction drops every entry of that user and no other', (t) => {
  const cache = new CallerCache();
  cache.set('session:a1', caller('a'), cache.generation());
  cache.set('key:a2', caller('a'), cache.generation());
  cache.set('session:b1', caller('b'), cache.generation());
  cache.evictUser('a');
  t.is(cache.get('session:a1'), undefined);
  t.is(cache.get('key:a2'), undefined);
  t.is(cache.get('session:b1')?.userId, 'b');
});

test('a read that started before an eviction is not cached (it may hold the old row)', (t) => {
  const cache = new CallerCache();
  const generation = cache.generation(); // a request starts reading the database…
  cache.evictUser('a'); // …a deactivation of "a" lands meanwhile…
  cache.set('session:a1', caller('a'), generation); // …and the stale row comes back
  t.is(cache.get('session:a1'), undefined);
  cache.set('session:a1', caller('a', 'inactive'), cache.generation());
  t.is(cache.get('session:a1')?.status, 'inactive');
});

test('entries expire after the TTL and the cache stays bounded', async (t) => {
  const cache = new CallerCache({ ttlMs: 20, maxEntries: 3 });
  for (const id of ['a', 'b', 'c', 'd']) cache.set(`session:${id}`, caller(id), cache.generation());
  t.is(cache.get('session:a'), undefined, 'the oldest entry made room');
  t.is(cache.get('session:d')?.userId, 'd');
  await new Promise((r) => setTimeout(r, 30));
  t.is(cache.get('session:d'), undefined);
});

test('clear() (after a lost notification connection) forgets everything', (t) => {
  const cache = new CallerCache();
  cache.set('session:a', caller('a'), cache.generation());
  const generation = cache.generation();
  cache.clear();
  t.is(cache.get('session:a'), undefined);
  cache.set('session:a', caller('a'), generation);
  t.is(cache.get('session:a'), undefined);
});

test('verified tokens: found only by the whole token, gone once expired, with their session key', (t) => {
  const cache = new CallerCache();
  const claims = (expiresInMs: number) => ({
    userId: 'u1',
    role: 'user' as const,
    sessionId: 's1',
    kid: 'k1',
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + expiresInMs),
  });
  const token = 'header.payload.signature';
  const known = cache.rememberToken(token, claims(60_000));
  t.is(known.sessionKey, 'session:s1');
  t.is(cache.token(token)?.claims.userId, 'u1');
  t.is(
    cache.token(['header', 'payload', 'signature'].join('.'))?.sessionKey,
    'session:s1',
    'an equal string made anew is found',
  );
  t.is(
    cache.token('header.tampered.signature'),
    undefined,
    'a token sharing only the signature is not the remembered one',
  );
  t.is(cache.token('header.payload.other'), undefined);
  cache.rememberToken('old.payload.sig2', claims(-1));
  t.is(cache.token('old.payload.sig2'), undefined, 'an expired token is forgotten');
});
