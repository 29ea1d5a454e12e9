// platform/text.ts: what text the edge accepts, what an event may hold, what a read model stores,
// and the range of dates.
import test from 'ava';
import {
  assertStorableEvent,
  isoDate,
  isoDateTime,
  printable,
  storableJson,
  storableText,
  textProblem,
  unsafeTextIn,
} from '../../platform/text.ts';

test('the edge refuses U+0000, other C0 controls and lone surrogates, and names the character', (t) => {
  t.is(textProblem('a\u0000b'), 'must not contain U+0000');
  t.regex(textProblem('a\u001bb') ?? '', /U\+001B/);
  t.regex(textProblem('a\u0001') ?? '', /control character U\+0001/);
  t.regex(textProblem('\ud800') ?? '', /lone UTF-16 surrogate/);
  t.regex(textProblem('x\udc00y') ?? '', /lone UTF-16 surrogate/);
  t.regex(textProblem('\ude00\ud83d') ?? '', /lone/, 'a pair in the wrong order is two lone surrogates');
});

test('the edge accepts tab, newline, carriage return, astral characters and everything above U+001F', (t) => {
  for (const text of ['', 'plain', 'a\tb\nc\r\n', '🧪 tube', '\u007f\u0080\u009f', '\u202e\ufeff\uffff', 'é', '𝒳']) {
    t.is(textProblem(text), undefined, JSON.stringify(text));
  }
});

test('printable shows refused characters as escapes and keeps the rest', (t) => {
  t.is(printable('no\u0000tes'), 'no\\u0000tes');
  t.is(printable('a\ud800🧪\tb'), 'a\\ud800🧪\tb');
  t.is(printable('fine'), 'fine');
});

test('unsafeTextIn names every string and key by its dotted path', (t) => {
  const body = { ok: 'x', notes: 'a\u0000', list: ['fine', { deep: '\ud800' }], ['k\u0001']: 1 };
  t.deepEqual(
    unsafeTextIn(body)
      .map((e) => e.path)
      .sort(),
    ['k\\u0001', 'list.1.deep', 'notes'],
  );
  t.deepEqual(
    unsafeTextIn('\u0000').map((e) => e.path),
    ['(body)'],
  );
  t.deepEqual(unsafeTextIn({ a: 1, b: null, c: true, d: [1.5] }), []);
});

test('unsafeTextIn walks any depth without recursion and stops after a few errors', (t) => {
  let deep: unknown = '\u0000';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  t.is(unsafeTextIn(deep).length, 1);
  t.is(unsafeTextIn(Array.from({ length: 1000 }, () => '\u0000')).length, 20);
});

test('storableText turns only U+0000 and lone surrogates into U+FFFD', (t) => {
  t.is(storableText('a\u0000b\ud800c\udc00🧪\u001b'), 'a\ufffdb\ufffdc\ufffd🧪\u001b');
  const fine = 'nothing to do 🧪';
  t.is(storableText(fine), fine);
});

test('storableJson escapes nothing PostgreSQL refuses, and leaves other JSON as JSON.stringify writes it', (t) => {
  t.is(storableJson({ a: 'x\u0000', b: ['\ud800'] }), JSON.stringify({ a: 'x\ufffd', b: ['\ufffd'] }));
  const literal = { text: '\\u0000 is how JSON writes it' };
  t.is(storableJson(literal), JSON.stringify(literal), 'an escaped backslash before u0000 is text, kept');
});

test('assertStorableEvent names the event and the fields, never the content', (t) => {
  t.notThrows(() => assertStorableEvent('Fine', { notes: 'a\u001b\tb' }, { reason: 'why' }));
  const refuse = () => assertStorableEvent('SampleRegistered', { notes: 'secret\u0000' }, { reason: 'also\ud800' });
  const error = t.throws(refuse);
  t.regex(error.message, /^SampleRegistered not appended: /);
  t.regex(error.message, /data\.notes/);
  t.regex(error.message, /metadata\.reason/);
  t.false(error.message.includes('secret'));
});

test('dates and timestamps lie between the years 1900 and 9999', (t) => {
  for (const ok of ['1900-01-01', '2026-02-28', '9999-12-31']) t.true(isoDate().safeParse(ok).success, ok);
  for (const bad of ['0000-01-01', '1899-12-31', '2026-02-30', '10000-01-01']) {
    t.false(isoDate().safeParse(bad).success, bad);
  }
  for (const ok of ['1900-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']) {
    t.true(isoDateTime().safeParse(ok).success, ok);
  }
  for (const bad of ['0000-01-01T00:00:00Z', '1899-12-31T23:59:59Z', '2026-01-01']) {
    t.false(isoDateTime().safeParse(bad).success, bad);
  }
});
