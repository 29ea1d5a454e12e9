// Waiting for what the service does after it answers (projections, digests, erasure fan-out).

/** Polls `probe` until `ok` holds of its value or `ms` pass; the last value either way, for the test to assert on. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await probe();
  }
  return value;
}
