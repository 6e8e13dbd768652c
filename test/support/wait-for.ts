// The one way tests wait: for a condition to hold, never for a fixed time. A loaded machine only makes the
// wait longer, up to a timeout generous enough to mean "it is not going to happen".

export interface WaitForOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Time between probes (default 25 ms). */
  intervalMs?: number;
  /** Checked before each probe: a reason to stop waiting at once (e.g. the daemon exited). */
  abort?: () => string | undefined;
}

/**
 * Polls `probe` until it returns something other than false, null or undefined, and resolves to that; a
 * probe that throws counts as not yet. Rejects with `what` and the last error once the timeout passes.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted !== undefined) throw new Error(`${what}: ${aborted}`);
    try {
      const value = await probe();
      if (value !== false && value !== null && value !== undefined) return value as Exclude<T, false | null | undefined>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}
