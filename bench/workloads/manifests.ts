// Manifest PUT (new manifest under a new tag each time, as a push does), GET by tag and GET by digest,
// at several concurrencies: ops/s with p50/p99 latency.
import { payload, sha256 } from "../lib/data";
import { GOALS, type CaseContext, type CaseDef } from "../lib/case";
import { runLoad } from "../lib/load";
import type { Settings } from "../settings";

const REPO = "bench/manifests";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

interface ManifestSetup {
  tag: string;
  digest: string;
  /** Builds a new, valid manifest over the same blobs, distinct per `unique`. */
  make(unique: string): Buffer;
}

/** Pushes a config and two layers once per target, and a first manifest tagged "v1". */
async function setup(ctx: CaseContext): Promise<ManifestSetup> {
  const cached = ctx.state.get("manifest-setup") as ManifestSetup | undefined;
  if (cached) return cached;
  const client = ctx.client(1);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configDigest = sha256(config);
  await client.pushMonolithic(REPO, { data: config, digest: configDigest });
  const layers = [payload(4096, "manifest-layer-0"), payload(8192, "manifest-layer-1")];
  for (const l of layers) await client.pushMonolithic(REPO, l);
  const make = (unique: string) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.data.length })),
        annotations: { "org.berth.bench": unique },
      }),
    );
  const first = make("v1");
  await client.putManifest(REPO, "v1", first, OCI_MANIFEST);
  const result = { tag: "v1", digest: sha256(first), make };
  ctx.state.set("manifest-setup", result);
  return result;
}

export function manifestCases(s: Settings): CaseDef[] {
  const m = s.manifest;
  const cases: CaseDef[] = [];
  const kinds = [
    { kind: "put", title: "manifest PUT (new tag)", goal: GOALS.manifestPut },
    { kind: "get-tag", title: "manifest GET by tag", goal: GOALS.manifestGet },
    { kind: "get-digest", title: "manifest GET by digest", goal: GOALS.manifestGet },
  ] as const;
  for (const k of kinds) {
    for (const concurrency of m.concurrency) {
      cases.push({
        id: `manifest-${k.kind}-c${concurrency}`,
        group: "manifests",
        title: `${k.title}, concurrency ${concurrency}`,
        unit: "ops/s",
        goal: k.goal,
        latency: true,
        async run(ctx) {
          const base = await setup(ctx);
          const client = ctx.client(concurrency);
          const prefix = `${k.kind}-c${concurrency}-r${ctx.rep}`;
          // Each PUT is a new manifest under a new tag; the bodies are made before the clock starts.
          const op =
            k.kind === "put"
              ? (i: number, phase: string) => {
                  const tag = `${prefix}-${phase}${i}`;
                  return client.putManifest(REPO, tag, base.make(tag), OCI_MANIFEST);
                }
              : k.kind === "get-tag"
                ? () => client.getManifest(REPO, base.tag).then(() => undefined)
                : () => client.getManifest(REPO, base.digest).then(() => undefined);
          if (m.warmupMs > 0) await runLoad({ concurrency, durationMs: m.warmupMs, op: (i) => op(i, "w") });
          const r = await ctx.measure(() => runLoad({ concurrency, durationMs: m.durationMs, op: (i) => op(i, "") }));
          return { value: r.opsPerSec, requests: r.ops, p50Ms: r.p50Ms, p99Ms: r.p99Ms };
        },
      });
    }
  }
  return cases;
}
