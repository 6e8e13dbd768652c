// Many small blobs (POST + PUT each, at concurrency 16), then HEAD blob at concurrency 32 over them.
import { payload } from "../lib/data";
import { GOALS, type CaseDef } from "../lib/case";
import { runLoad } from "../lib/load";
import type { Settings } from "../settings";

const REPO = "bench/small";

export function smallBlobCases(s: Settings): CaseDef[] {
  const sm = s.small;
  const h = s.head;
  return [
    {
      id: "small-blobs",
      group: "small blobs",
      title: `small blobs, ${sm.count.toLocaleString("en-US")} × ${sm.size / 1024} KiB, POST + PUT, concurrency ${sm.concurrency}`,
      unit: "blobs/s",
      goal: GOALS.small,
      latency: true,
      async run(ctx) {
        const blobs = Array.from({ length: sm.count }, (_, i) => payload(sm.size, `small-${ctx.rep}-${i}`));
        const client = ctx.client(sm.concurrency);
        const r = await ctx.measure(() => runLoad({ concurrency: sm.concurrency, count: blobs.length, op: (i) => client.pushMonolithic(REPO, blobs[i]!) }));
        ctx.state.set("small-blobs", blobs.map((b) => b.digest));
        return { value: r.opsPerSec, bytes: sm.count * sm.size, requests: 2 * r.ops, p50Ms: r.p50Ms, p99Ms: r.p99Ms };
      },
    },
    {
      id: `head-blob-c${h.concurrency}`,
      group: "HEAD blob",
      title: `HEAD blob, concurrency ${h.concurrency}`,
      unit: "ops/s",
      goal: GOALS.head,
      latency: true,
      async run(ctx) {
        const digests = ctx.state.get("small-blobs") as string[] | undefined;
        if (!digests?.length) throw new Error("small-blobs left nothing to HEAD");
        const client = ctx.client(h.concurrency);
        const op = (i: number) => client.headBlob(REPO, digests[i % digests.length]!);
        if (h.warmupMs > 0) await runLoad({ concurrency: h.concurrency, durationMs: h.warmupMs, op });
        const r = await ctx.measure(() => runLoad({ concurrency: h.concurrency, durationMs: h.durationMs, op }));
        return { value: r.opsPerSec, requests: r.ops, p50Ms: r.p50Ms, p99Ms: r.p99Ms };
      },
    },
  ];
}
