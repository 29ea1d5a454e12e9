// The vialog CLI (app/cli.ts) in a child process, as an operator runs it: only PATH and the
// environment given, stdout and stderr read together.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../../app/cli.ts', import.meta.url));

export interface CliProcess {
  readonly child: ChildProcess;
  /** Its exit code (128 when a signal ended it). */
  readonly exited: Promise<number>;
  /** What it has written so far, stdout and stderr together. */
  readonly output: () => string;
  /** The API's URL once `serve` says it listens (throws after 60 s, with what it wrote). */
  readonly apiUrl: () => Promise<string>;
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (chunk: Buffer) => (out += chunk.toString());
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0))),
  );
  const apiUrl = async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = /API on (http:\/\/[^\s]+) /.exec(out)?.[1];
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no API: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, output: () => out, apiUrl };
}

/** Runs the CLI to its end: the exit code and all it wrote. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; output: string }> {
  const cli = startCli(args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}
