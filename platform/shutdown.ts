// Graceful shutdown: on SIGTERM/SIGINT, run the registered closers in reverse order (stop taking
// requests first, close pools last) within a time budget; a second signal exits at once.
import type { Server } from 'node:http';
import type { Logger } from 'pino';

export class Shutdown {
  readonly #closers: { name: string; close: () => Promise<void> }[] = [];
  readonly #log: Logger;
  readonly #timeoutMs: number;
  #running: Promise<void> | undefined;

  constructor(log: Logger, timeoutMs: number) {
    this.#log = log;
    this.#timeoutMs = timeoutMs;
  }

  /** Closers run in reverse order of registration. */
  register(name: string, close: () => Promise<void>): void {
    this.#closers.push({ name, close });
  }

  onSignals(exit: (code: number) => void = (code) => process.exit(code)): void {
    let signals = 0;
    const handler = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        this.#log.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      this.#log.info({ signal }, 'shutting down gracefully');
      void this.run().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  }

  run(): Promise<void> {
    this.#running ??= (async () => {
      const timer = setTimeout(() => {
        this.#log.error({ timeoutMs: this.#timeoutMs }, 'shutdown took too long: exiting');
        process.exit(1);
      }, this.#timeoutMs);
      timer.unref();
      for (const { name, close } of [...this.#closers].reverse()) {
        try {
          await close();
          this.#log.info({ step: name }, 'closed');
        } catch (error) {
          this.#log.error({ step: name, err: error }, 'failed to close cleanly');
        }
      }
      clearTimeout(timer);
    })();
    return this.#running;
  }
}

/**
 * Stops accepting connections, lets in-flight requests finish, closes idle keep-alive sockets;
 * after `graceMs` closes what is still open (a long-lived stream, a client that never reads), so a
 * shutdown always ends within the shutdown timeout.
 */
export function closeHttpServer(server: Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close((error) => {
      clearTimeout(force);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
