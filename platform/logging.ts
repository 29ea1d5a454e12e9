// Structured JSON logs (pino). Credentials and secrets are redacted wherever they appear in a
// logged object (top level or one level down, and in request headers); request and response
// bodies are never logged in the first place.
import pino, { type Logger, type DestinationStream } from 'pino';
import { traceIds } from './telemetry.ts';

const SECRET_FIELDS = [
  'password',
  'currentPassword',
  'newPassword',
  'passwordHash',
  'accessToken',
  'refreshToken',
  'token',
  'apiKey',
  'key',
  'secret',
  'authorization',
  'cookie',
];
const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'];

export const REDACTED_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  ...SECRET_HEADERS.flatMap((h) => [
    `headers["${h}"]`,
    `req.headers["${h}"]`,
    `res.headers["${h}"]`,
    `request.headers["${h}"]`,
    `*.headers["${h}"]`,
  ]),
];

export function createLogger(options: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      name: options.name ?? 'vialog',
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // traceId and spanId of the active span on every line written while one is active.
      mixin: () => traceIds() ?? {},
    },
    destination,
  );
}

export type { Logger };
