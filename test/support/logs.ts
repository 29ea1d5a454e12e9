// A logger whose JSON lines a test can read back.
import { Writable } from 'node:stream';
import { createLogger } from '../../platform/logging.ts';

export interface CapturedLogs {
  readonly lines: string[];
  readonly logger: ReturnType<typeof createLogger>;
  parsed(): Record<string, unknown>[];
}

export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const logger = createLogger(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  );
  return { lines, logger, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
