// Progress for long work (migrations, rebuilds, benchmarks, seeding): a self-updating line with
// an ETA on a terminal, nothing at all when output is not a terminal (CI, logs).
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #started = Date.now();
  readonly #enabled: boolean;
  #lastDraw = 0;

  constructor(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#total = total;
    this.#enabled = stream.isTTY === true;
    this.stream = stream;
  }

  readonly stream: NodeJS.WriteStream;

  update(done: number): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && done < this.#total) return;
    this.#lastDraw = now;
    const elapsed = (now - this.#started) / 1000;
    const rate = done / Math.max(elapsed, 0.001);
    const eta = rate > 0 && this.#total > done ? Math.ceil((this.#total - done) / rate) : 0;
    const pct = this.#total > 0 ? Math.min(100, Math.floor((done / this.#total) * 100)) : 100;
    this.stream.write(`\r${this.#label}: ${done}/${this.#total} (${pct}%) ${Math.round(rate)}/s, ETA ${eta}s   `);
  }

  done(): void {
    if (this.#enabled) this.stream.write('\n');
  }
}

/**
 * Progress of several parts running at once (e.g. rebuilds), each reporting the fraction it has
 * done: shown as thousandths, summed over the parts.
 */
export class PartsProgress {
  readonly #progress: Progress;
  readonly #fractions = new Map<string, number>();

  constructor(label: string, parts: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#progress = new Progress(label, parts * 1000, stream);
  }

  get stream(): NodeJS.WriteStream {
    return this.#progress.stream;
  }

  update(part: string, fraction: number): void {
    this.#fractions.set(part, fraction);
    let thousandths = 0;
    for (const f of this.#fractions.values()) thousandths += Math.round(f * 1000);
    this.#progress.update(thousandths);
  }

  done(): void {
    this.#progress.done();
  }
}
