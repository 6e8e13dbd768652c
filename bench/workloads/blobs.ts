// Blob push (monolithic POST + PUT, and 5 MiB PATCH chunks), pull with client-side sha256, Range reads.
import { payload, randomBuffer } from "../lib/data";
import { GOALS, type CaseDef } from "../lib/case";
import { MiB } from "../lib/stats";
import type { Settings } from "../settings";

interface Pushed {
  repo: string;
  digests: string[];
  size: number;
  /** Seeds of the pushed blobs, to regenerate their bytes (Range checks). */
  seeds: string[];
}

const slug = (label: string) => label.replace(/\s+/g, "");

export function blobCases(s: Settings): CaseDef[] {
  const cases: CaseDef[] = [];
  for (const spec of s.monolithic) {
    const id = `blob-push-${slug(spec.label)}`;
    cases.push({
      id,
      group: "blob push",
      title: `blob push, monolithic, ${spec.label}${spec.count > 1 ? ` (×${spec.count} sequential)` : ""}`,
      unit: "MiB/s",
      goal: GOALS.push,
      reps: s.blobReps,
      async run(ctx) {
        const seeds = Array.from({ length: spec.count }, (_, i) => `${id}-${ctx.rep}-${i}`);
        const blobs = seeds.map((seed) => payload(spec.size, seed)); // untimed
        const repo = `bench/push-${slug(spec.label).toLowerCase()}`;
        const client = ctx.client(1);
        const seconds = await ctx.measure(async () => {
          const t0 = performance.now();
          for (const blob of blobs) await client.pushMonolithic(repo, blob);
          return (performance.now() - t0) / 1000;
        });
        ctx.state.set(id, { repo, digests: blobs.map((b) => b.digest), size: spec.size, seeds } satisfies Pushed);
        const bytes = spec.size * spec.count;
        return { value: bytes / MiB / seconds, bytes, requests: 2 * spec.count };
      },
    });
  }

  const c = s.chunked;
  cases.push({
    id: `blob-push-chunked-${slug(c.label)}`,
    group: "blob push",
    title: `blob push, chunked, ${c.label} in ${c.chunk / MiB >= 1 ? `${c.chunk / MiB} MiB` : `${c.chunk / 1024} KiB`} PATCHes`,
    unit: "MiB/s",
    goal: GOALS.push,
    reps: s.blobReps,
    async run(ctx) {
      const blob = payload(c.size, `chunked-${ctx.rep}`);
      const client = ctx.client(1);
      const seconds = await ctx.measure(async () => {
        const t0 = performance.now();
        await client.pushChunked("bench/push-chunked", blob, c.chunk);
        return (performance.now() - t0) / 1000;
      });
      return { value: c.size / MiB / seconds, bytes: c.size, requests: 2 + Math.ceil(c.size / c.chunk) };
    },
  });

  for (const spec of s.monolithic) {
    const pushId = `blob-push-${slug(spec.label)}`;
    cases.push({
      id: `blob-pull-${slug(spec.label)}`,
      group: "blob pull",
      title: `blob pull + client sha256, ${spec.label}${spec.count > 1 ? ` (×${spec.count} sequential)` : ""}`,
      unit: "MiB/s",
      goal: GOALS.pull,
      reps: s.blobReps,
      async run(ctx) {
        const pushed = ctx.state.get(pushId) as Pushed | undefined;
        if (!pushed) throw new Error(`${pushId} left nothing to pull`);
        const client = ctx.client(1);
        const seconds = await ctx.measure(async () => {
          const t0 = performance.now();
          for (const digest of pushed.digests) await client.pullVerified(pushed.repo, digest, pushed.size);
          return (performance.now() - t0) / 1000;
        });
        const bytes = pushed.size * pushed.digests.length;
        return { value: bytes / MiB / seconds, bytes, requests: pushed.digests.length };
      },
    });
  }

  const largest = s.monolithic[s.monolithic.length - 1]!;
  const r = s.range;
  cases.push({
    id: "blob-range",
    group: "blob pull",
    title: `Range reads, ${r.count} × ${r.size >= MiB ? `${r.size / MiB} MiB` : `${r.size / 1024} KiB`} of the ${largest.label} blob (concurrency ${r.concurrency})`,
    unit: "MiB/s",
    goal: GOALS.pull,
    reps: s.blobReps,
    async run(ctx) {
      const pushed = ctx.state.get(`blob-push-${slug(largest.label)}`) as Pushed | undefined;
      if (!pushed) throw new Error("the largest monolithic push left nothing to read");
      const data = randomBuffer(pushed.size, pushed.seeds[0]!); // untimed: to check every range's bytes
      // Same offsets on every target: a seeded sequence per repetition.
      let x = 0x9e3779b9 ^ ctx.rep;
      const offsets = Array.from({ length: r.count }, () => {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        return x % (pushed.size - r.size + 1);
      });
      const client = ctx.client(r.concurrency);
      const seconds = await ctx.measure(async () => {
        const t0 = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < offsets.length) {
            const start = offsets[next++]!;
            const got = await client.pullRange(pushed.repo, pushed.digests[0]!, start, start + r.size - 1);
            if (!got.equals(data.subarray(start, start + r.size))) throw new Error(`Range ${start}+${r.size}: wrong bytes`);
          }
        };
        await Promise.all(Array.from({ length: r.concurrency }, worker));
        return (performance.now() - t0) / 1000;
      });
      return { value: (r.count * r.size) / MiB / seconds, bytes: r.count * r.size, requests: r.count };
    },
  });
  return cases;
}
