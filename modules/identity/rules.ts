// Registration and password rules. Each check returns every broken rule as { path, message },
// so a client can show them all at once (422 validation_failed, errors[]).
import { dictionary } from '@zxcvbn-ts/language-common';
import { z } from 'zod';
import { normalizeUsername } from './events.ts';

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export const usernameLength = { min: 3, max: 32 } as const;
/** ≥ 10 per the API contract; the cap keeps argon2 input bounded (OWASP: allow at least 64). */
export const passwordLength = { min: 10, max: 256 } as const;
export const emailMaxLength = 254;

/** Names that would impersonate the service or its staff, or collide with route words. */
export const reservedUsernames: ReadonlySet<string> = new Set([
  'admin',
  'administrator',
  'admins',
  'root',
  'system',
  'sysadmin',
  'superuser',
  'su',
  'sudo',
  'support',
  'help',
  'helpdesk',
  'info',
  'security',
  'abuse',
  'postmaster',
  'hostmaster',
  'webmaster',
  'moderator',
  'mod',
  'owner',
  'staff',
  'team',
  'official',
  'service',
  'daemon',
  'bot',
  'vialog',
  'api',
  'auth',
  'login',
  'logout',
  'register',
  'signup',
  'signin',
  'me',
  'self',
  'user',
  'users',
  'account',
  'accounts',
  'settings',
  'audit',
  'health',
  'metrics',
  'docs',
  'anonymous',
  'guest',
  'null',
  'undefined',
  'nobody',
  'everyone',
  'all',
  'test',
  'example',
]);

/**
 * Common passwords: the ~49,000-entry list zxcvbn-ts ships (from leaked-password corpora),
 * lowercased; a well-kept source instead of a hand-made one.
 */
const commonPasswords: ReadonlySet<string> = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));

export function isCommonPassword(password: string): boolean {
  return commonPasswords.has(password.toLowerCase());
}

const characterCount = (text: string): number => [...text].length;

export function validateUsername(username: string, path = 'username', allowReserved = false): FieldError[] {
  const errors: FieldError[] = [];
  const length = characterCount(username);
  if (length < usernameLength.min || length > usernameLength.max) {
    errors.push({ path, message: `must be ${usernameLength.min} to ${usernameLength.max} characters long` });
  }
  if (!/^[A-Za-z0-9_.-]*$/.test(username)) {
    errors.push({ path, message: 'may contain only letters A–Z, digits, "_", "." and "-"' });
  }
  if (!allowReserved && reservedUsernames.has(normalizeUsername(username))) {
    errors.push({ path, message: 'is reserved' });
  }
  return errors;
}

const emailSchema = z.email();

export function validateEmail(email: string, path = 'email'): FieldError[] {
  if (email.length > emailMaxLength) return [{ path, message: `must be at most ${emailMaxLength} characters long` }];
  return emailSchema.safeParse(email.trim()).success ? [] : [{ path, message: 'must be a valid email address' }];
}

/** `username` is the account's name, if known: a password containing it (any case) is refused. */
export function validatePassword(password: string, username: string | undefined, path = 'password'): FieldError[] {
  const errors: FieldError[] = [];
  const length = characterCount(password);
  if (length < passwordLength.min)
    errors.push({ path, message: `must be at least ${passwordLength.min} characters long` });
  if (length > passwordLength.max)
    errors.push({ path, message: `must be at most ${passwordLength.max} characters long` });
  if (username !== undefined && username.length > 0 && password.toLowerCase().includes(username.toLowerCase())) {
    errors.push({ path, message: 'must not contain the username' });
  }
  if (isCommonPassword(password)) errors.push({ path, message: 'is too common' });
  return errors;
}

export interface RegistrationInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
}

/**
 * All registration rules. Cheap: a route runs it before spending argon2 work on the hash.
 * `allowReserved`: only the admin bootstrap (ADMIN_USERNAME, CLI) may take a name like "admin".
 */
export function validateRegistration(
  input: RegistrationInput,
  options: { allowReserved?: boolean } = {},
): FieldError[] {
  return [
    ...validateUsername(input.username, 'username', options.allowReserved ?? false),
    ...validateEmail(input.email),
    ...validatePassword(input.password, input.username),
  ];
}
