// Closed-loop load: `concurrency` workers each issue one request after another (each on its own
// keep-alive connection), for a fixed time or a fixed number of operations. Latency per operation.
import { percentile } from "./stats";

export interface LoadOptions {
  concurrency: number;
  /** Stop issuing new operations after this long (ms)… */
  durationMs?: number;
  /** …or after this many operations in total. */
  count?: number;
  /** Operation i (0-based, unique across workers). */
  op: (i: number) => Promise<void>;
}

export interface LoadResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  if (opts.durationMs === undefined && opts.count === undefined) throw new Error("runLoad needs durationMs or count");
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = opts.durationMs === undefined ? Infinity : started + opts.durationMs;
  const limit = opts.count ?? Infinity;
  const worker = async () => {
    for (;;) {
      if (next >= limit || performance.now() >= deadline) return;
      const i = next++;
      const t0 = performance.now();
      await opts.op(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    ops: latencies.length,
    seconds,
    opsPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
