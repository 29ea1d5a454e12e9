import test from 'ava';
import {
  isCommonPassword,
  reservedUsernames,
  validateEmail,
  validatePassword,
  validateRegistration,
  validateUsername,
} from '../../modules/identity/rules.ts';

const messages = (errors: readonly { message: string }[]) => errors.map((e) => e.message);

test('username: 3 to 32 of [a-zA-Z0-9_.-] is accepted', (t) => {
  for (const name of ['abc', 'Ada.Lovelace', 'x_y-z.0', 'a'.repeat(32)]) t.deepEqual(validateUsername(name), [], name);
});

test('username: too short and too long are refused', (t) => {
  t.deepEqual(validateUsername('ab'), [{ path: 'username', message: 'must be 3 to 32 characters long' }]);
  t.deepEqual(messages(validateUsername('a'.repeat(33))), ['must be 3 to 32 characters long']);
});

test('username: characters outside [a-zA-Z0-9_.-] are refused', (t) => {
  for (const name of ['ada lovelace', 'ada@home', 'adä123', 'ada/../x']) {
    t.deepEqual(messages(validateUsername(name)), ['may contain only letters A–Z, digits, "_", "." and "-"'], name);
  }
});

test('username: reserved names are refused in any case', (t) => {
  for (const name of ['admin', 'ROOT', 'System', 'support'])
    t.deepEqual(messages(validateUsername(name)), ['is reserved'], name);
  t.true(reservedUsernames.has('admin') && reservedUsernames.has('root') && reservedUsernames.has('system'));
});

test('username: every broken rule is listed', (t) => {
  t.deepEqual(messages(validateUsername('a!')), [
    'must be 3 to 32 characters long',
    'may contain only letters A–Z, digits, "_", "." and "-"',
  ]);
});

test('email: valid addresses pass, invalid ones are refused', (t) => {
  t.deepEqual(validateEmail('ada@example.org'), []);
  t.deepEqual(validateEmail('  Ada.Lovelace+lab@Example.ORG '), []);
  for (const email of ['', 'ada', 'ada@', '@example.org', 'ada@example', 'ada @example.org']) {
    t.deepEqual(validateEmail(email), [{ path: 'email', message: 'must be a valid email address' }], email);
  }
  t.deepEqual(messages(validateEmail(`${'a'.repeat(250)}@x.org`)), ['must be at most 254 characters long']);
});

test('password: at least 10 characters (counted as characters, not bytes)', (t) => {
  t.deepEqual(validatePassword('Xq7#mP2!z', undefined), [
    { path: 'password', message: 'must be at least 10 characters long' },
  ]);
  t.deepEqual(validatePassword('Xq7#mP2!zK', undefined), []);
  // 9 characters but 11 UTF-16 code units: still too short.
  t.deepEqual(messages(validatePassword('ünïcödé😀😀', undefined)), ['must be at least 10 characters long']);
  t.deepEqual(validatePassword('ünïcödé😀😀😀', undefined), []);
});

test('password: an over-long password is refused (bounded argon2 input)', (t) => {
  t.deepEqual(messages(validatePassword('Xq7#mP2!zK'.repeat(26), undefined)), ['must be at most 256 characters long']);
});

test('password: must not contain the username, in any case', (t) => {
  t.deepEqual(validatePassword('my-ADA.LOVELACE-pass', 'Ada.Lovelace'), [
    { path: 'password', message: 'must not contain the username' },
  ]);
  t.deepEqual(validatePassword('my-ADA.LOVELACE-pass', 'grace'), []);
});

test('password: common passwords are refused, in any case', (t) => {
  for (const password of ['1234567890', 'password123', 'qwertyuiop', 'PASSWORD123']) {
    t.true(isCommonPassword(password), password);
    t.deepEqual(messages(validatePassword(password, undefined)), ['is too common'], password);
  }
  t.false(isCommonPassword('correct horse battery staple'));
});

test('password: the field path can be chosen (newPassword)', (t) => {
  t.deepEqual(validatePassword('Xq7#', undefined, 'newPassword'), [
    { path: 'newPassword', message: 'must be at least 10 characters long' },
  ]);
});

test('registration: every broken rule of every field is listed with its path', (t) => {
  const errors = validateRegistration({ username: 'root', email: 'not-an-email', password: 'root' });
  t.deepEqual(errors, [
    { path: 'username', message: 'is reserved' },
    { path: 'email', message: 'must be a valid email address' },
    { path: 'password', message: 'must be at least 10 characters long' },
    { path: 'password', message: 'must not contain the username' },
    { path: 'password', message: 'is too common' },
  ]);
  t.deepEqual(
    validateRegistration({ username: 'ada', email: 'ada@example.org', password: 'correct horse battery staple' }),
    [],
  );
});
