// The audit read model's global chain link, chain(n) = sha256(chain(n-1) || event hash(n)), is
// computed with a reused buffer and a one-shot hash (a rebuild makes a million links); it must
// equal the plain formula that /audit/verify recomputes, for every shape of input.
import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { globalChainHash } from '../../projections/audit/audit-read-model.ts';

const plain = (previous: Buffer, eventHashHex: string | undefined): Buffer =>
  createHash('sha256')
    .update(previous)
    .update(eventHashHex ? Buffer.from(eventHashHex, 'hex') : Buffer.alloc(0))
    .digest();

test('each link equals sha256(previous || event hash), whatever is empty', (t) => {
  const eventHash = randomBytes(32).toString('hex');
  const previous = randomBytes(32);
  const cases: [string, Buffer, string | undefined][] = [
    ['first link', Buffer.alloc(0), eventHash],
    ['a link', previous, eventHash],
    ['an event from before hashes', previous, undefined],
    ['first link, no event hash', Buffer.alloc(0), undefined],
    ['an unusually long previous (fallback)', randomBytes(40), eventHash],
  ];
  for (const [name, before, hashHex] of cases)
    t.deepEqual(globalChainHash(before, hashHex), plain(before, hashHex), name);
});

test('a chain of links equals the plain chain, and no link shares memory with the next', (t) => {
  let fast: Buffer = Buffer.alloc(0);
  let reference: Buffer = Buffer.alloc(0);
  const links: Buffer[] = [];
  for (let i = 0; i < 1_000; i++) {
    const eventHash = i % 97 === 0 ? undefined : randomBytes(32).toString('hex');
    fast = globalChainHash(fast, eventHash);
    reference = plain(reference, eventHash);
    links.push(fast);
    t.true(fast.equals(reference), `link ${i}`);
  }
  t.is(new Set(links.map((l) => l.toString('hex'))).size, links.length, 'every kept link still holds its own value');
});
