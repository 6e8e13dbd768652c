// The memory check: one very large blob (2 GiB in the full run) pushed as a single streamed PATCH and
// pulled back with sha256 verified, while the server's RSS is watched. Streaming servers stay flat.
import { randomChunks } from "../lib/data";
import type { CaseDef } from "../lib/case";
import { MiB } from "../lib/stats";
import type { Settings } from "../settings";

export const RSS_LIMIT = 250 * MiB;

export function bigBlobCases(s: Settings): CaseDef[] {
  const b = s.big;
  if (b.size <= 0) return [];
  return [
    {
      id: "big-push",
      group: `${b.label} blob`,
      title: `${b.label} blob push, streamed PATCH`,
      unit: "MiB/s",
      reps: 1,
      async run(ctx) {
        const client = ctx.client(1);
        const seconds = await ctx.measure(async () => {
          const t0 = performance.now();
          const pushed = await client.pushStream("bench/big", randomChunks(b.size, "big-blob"));
          ctx.state.set("big-blob", pushed.digest);
          return (performance.now() - t0) / 1000;
        });
        return { value: b.size / MiB / seconds, bytes: b.size, requests: 3 };
      },
    },
    {
      id: "big-pull",
      group: `${b.label} blob`,
      title: `${b.label} blob pull + client sha256`,
      unit: "MiB/s",
      reps: 1,
      async run(ctx) {
        const digest = ctx.state.get("big-blob") as string | undefined;
        if (!digest) throw new Error("big-push left nothing to pull");
        const client = ctx.client(1);
        const seconds = await ctx.measure(async () => {
          const t0 = performance.now();
          await client.pullVerified("bench/big", digest, b.size);
          return (performance.now() - t0) / 1000;
        });
        return { value: b.size / MiB / seconds, bytes: b.size, requests: 1 };
      },
    },
  ];
}
