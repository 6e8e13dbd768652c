// The mirror suite: pulls through a pull-through cache (Berth mirror, docker-registry in proxy mode) of the
// run's upstream registry. Every repetition pushes a fresh image straight to the upstream first (untimed,
// uncounted), so "cold" really is cold for the target; the measured part pulls it as a client does —
// manifest by tag, then each blob with its sha256 checked — and counts what the target asked upstream.
import { payload, sha256, type Payload } from "../lib/data";
import type { CaseContext, CaseDef, Measured } from "../lib/case";
import type { RegistryClient } from "../lib/client";
import { MiB } from "../lib/stats";
import { countUpstream } from "../lib/upstream";
import type { Settings } from "../settings";

/** A Docker Hub-style name: the default upstream of BERTH_MIRROR_UPSTREAM maps it unchanged. */
const REPO = "library/bench-img";
const MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json";

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface PushedImage {
  tag: string;
  manifest: Buffer;
  blobs: Descriptor[];
  /** Manifest and blobs, bytes. */
  size: number;
}

/** Pushes a Docker schema2 image of random layers to the upstream itself (the targets only read from it). */
async function pushImage(ctx: CaseContext, caseId: string): Promise<PushedImage> {
  const upstream = ctx.target.upstream;
  if (!upstream) throw new Error(`${ctx.target.id} mirrors no upstream`);
  const m = ctx.settings.mirror;
  // Seeded by target too: every target gets content no other target has pulled yet.
  const seed = `${caseId}-${ctx.target.id}-${ctx.rep}`;
  const layers = Array.from({ length: m.layers }, (_, i) => payload(m.layerSize, `${seed}-${i}`));
  const configJson = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) } });
  const config: Payload = { data: Buffer.from(configJson), digest: sha256(configJson) };
  const describe = (p: Payload, mediaType: string): Descriptor => ({ mediaType, digest: p.digest, size: p.data.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: describe(config, "application/vnd.docker.container.image.v1+json"),
      layers: layers.map((l) => describe(l, "application/vnd.docker.image.rootfs.diff.tar.gzip")),
    }),
  );
  const tag = seed;
  const client = ctx.client(1, upstream.host);
  for (const blob of [config, ...layers]) await client.pushMonolithic(REPO, blob);
  await client.putManifest(REPO, tag, manifest, MANIFEST_TYPE);
  const blobs = [config, ...layers].map((b) => describe(b, ""));
  return { tag, manifest, blobs, size: manifest.length + blobs.reduce((n, b) => n + b.size, 0) };
}

/** One client's pull: the manifest by tag (checked against what was pushed), then every blob in turn. */
async function pullImage(client: RegistryClient, image: PushedImage): Promise<void> {
  const manifest = await client.getManifest(REPO, image.tag);
  if (!manifest.equals(image.manifest)) throw new Error(`GET manifest ${image.tag}: not the manifest pushed`);
  const parsed = JSON.parse(manifest.toString("utf8")) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [parsed.config, ...parsed.layers]) await client.pullVerified(REPO, d.digest, d.size);
}

/** `clients` simultaneous pulls of the image, measured; value = aggregate MiB/s of image size. */
async function measurePulls(ctx: CaseContext, image: PushedImage, clients: number): Promise<Measured> {
  const requests = ctx.target.upstream!.requests;
  const client = ctx.client(clients);
  const from = requests.length;
  const seconds = await ctx.measure(async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, () => pullImage(client, image)));
    return (performance.now() - t0) / 1000;
  });
  const upstream = countUpstream(requests.slice(from), image.blobs.map((b) => b.digest));
  const bytes = image.size * clients;
  return { value: bytes / MiB / seconds, bytes, requests: clients * (1 + image.blobs.length), upstream };
}

export function mirrorCases(s: Settings): CaseDef[] {
  const m = s.mirror;
  const layers = `${m.layers} × ${m.layerSize >= MiB ? `${m.layerSize / MiB} MiB` : `${m.layerSize / 1024} KiB`} layers + config`;
  return [
    {
      id: "mirror-cold-pull",
      group: "mirror cold pull",
      title: `mirror pull, cold (${layers})`,
      unit: "MiB/s",
      async run(ctx) {
        const image = await pushImage(ctx, "cold");
        ctx.state.set("mirror-cold-pull", image);
        return measurePulls(ctx, image, 1);
      },
    },
    {
      id: "mirror-warm-pull",
      group: "mirror warm pull",
      title: "mirror pull, warm (the same image again, from the cache)",
      unit: "MiB/s",
      async run(ctx) {
        const image = ctx.state.get("mirror-cold-pull") as PushedImage | undefined;
        if (!image) throw new Error("mirror-cold-pull left nothing to pull again");
        return measurePulls(ctx, image, 1);
      },
    },
    {
      id: `mirror-cold-${m.concurrency}`,
      group: `mirror cold pull ×${m.concurrency}`,
      title: `mirror pull, cold, ${m.concurrency} clients at once (aggregate)`,
      unit: "MiB/s",
      run: async (ctx) => measurePulls(ctx, await pushImage(ctx, `cold${m.concurrency}`), m.concurrency),
    },
  ];
}
