// Structured JSON logs (pino). Credentials and personal secrets are redacted wherever they
// appear in a logged object; request and response bodies are never logged.
import pino, { type Logger, type DestinationStream } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'authorization',
  'cookie',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.apiKey',
  '*.key',
  '*.secret',
  'password',
  'accessToken',
  'refreshToken',
  'token',
  'apiKey',
  'secret',
];

export function createLogger(options: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      name: options.name ?? 'vialog',
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
