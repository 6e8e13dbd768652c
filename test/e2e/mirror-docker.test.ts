// Berth as a Docker Hub mirror, run the way a China-region operator runs it: the CNCF registry stands in for
// Docker Hub (seeded with skopeo under library/…), Berth's default upstream points at it, and a real dockerd
// is started with `--registry-mirror http://127.0.0.1:<berth>`. `docker pull runnable` (a bare Docker Hub
// name) is then served through Berth cold and warm, runs, and still pulls after the upstream is gone.
// dockerd only uses mirrors for docker.io images and falls back to docker.io itself when the mirror fails;
// there is no internet here, so a pull that succeeds came through Berth, and Berth's request log and the
// upstream's request counts say so explicitly. A second CNCF registry serves as a prefixed, non-Docker-Hub
// upstream for skopeo.
import { createHash } from "node:crypto";
import path from "node:path";
import { startCncfRegistry, type CncfRegistry } from "./support/cncf-registry";
import { startDockerd, type Dockerd } from "./support/dockerd";
import {
  buildTestImages,
  hashLayoutBlobs,
  multiLayerImage,
  readLayoutTag,
  RUNNABLE_OUTPUT,
  writeOciLayout,
  type OciLayout,
  type TestImages,
} from "./support/oci-layout";
import { makeTempDir, removeTree, run } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy";
import { requestLog } from "../support/request-log";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { TestClock } from "../support/test-clock";

const TEST_TIMEOUT = 120_000;
/** Long, so no pull on a loaded machine outlives it; the stale-serving test moves Berth's clock past it. */
const TAG_TTL_SECONDS = 300;
/** The default upstream's per-request timeout; the slow-link test sends a blob that takes longer than this. */
const HUB_TIMEOUT_SECONDS = 4;
const MiB = 1024 * 1024;
const MAIN = path.resolve(__dirname, "../../dist/main.js");

let work: string;
let images: TestImages;
let hub: CncfRegistry | undefined;
const clock = new TestClock();
let quay: CncfRegistry | undefined;
let hubProxy: FaultProxy | undefined;
/** One 8 MiB layer, for the slow-link test. */
let big: OciLayout;
let quayProxy: FaultProxy | undefined;
let berth: TestRegistry | undefined;
let dockerd: Dockerd | undefined;
/** Berth's request log: "METHOD url STATUS". */
let berthLog: string[] = [];

function docker(args: string[]) {
  if (!dockerd) throw new Error("dockerd did not start");
  return dockerd.docker(args, { timeoutMs: 90_000 });
}

function mirror(): TestRegistry {
  if (!berth) throw new Error("berth did not start");
  return berth;
}

async function inspectImage(ref: string): Promise<{ RepoDigests: string[]; RootFS: { Layers: string[] } }> {
  return JSON.parse((await docker(["image", "inspect", "--format", "{{json .}}", ref])).out);
}

/** Upstream GETs per blob of the layout (config and layers) seen by the proxy since index `from`. */
function blobRequests(proxy: FaultProxy, repo: string, layout: OciLayout, from = 0): Record<string, number> {
  const seen = proxy.requests.slice(from);
  const image = layout.images[0]!;
  const digests = [image.config.digest, ...image.layers.map((l) => l.digest)];
  return Object.fromEntries(digests.map((d) => [d, seen.filter((r) => r === `GET /v2/${repo}/blobs/${d}`).length]));
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - started };
}

interface MirrorStatus {
  enabled: boolean;
  hits: number;
  misses: number;
  staleServes: number;
  bytesFromUpstream: number;
  bytesSaved: number;
  upstreams: Array<{ name: string; health: string }>;
}

/** GET /api/v1/mirror (auth is off on this Berth, so the admin API is open). */
async function mirrorStatus(): Promise<MirrorStatus> {
  const res = await fetch(`${mirror().url}/api/v1/mirror`);
  expect(res.status).toBe(200);
  return (await res.json()) as MirrorStatus;
}

beforeAll(async () => {
  requireBinaries("skopeo", "docker-registry", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc", "busybox");
  work = await makeTempDir("berth-e2e-mirror-docker");
  images = await buildTestImages(path.join(work, "src"));
  big = await writeOciLayout(path.join(work, "src", "big"), "latest", multiLayerImage([8]));

  // "Docker Hub" and a second, non-Docker-Hub registry, each behind a counting proxy.
  hub = await startCncfRegistry();
  quay = await startCncfRegistry();
  hubProxy = await startFaultProxy(`http://${hub.host}`);
  quayProxy = await startFaultProxy(`http://${quay.host}`);
  // Berth → slow link → counting proxy → "Docker Hub".
  await skopeoCopy(images.runnable.ref, dockerRef(hub.host, "library/runnable", "latest"));
  await skopeoCopy(images.multi.ref, dockerRef(hub.host, "library/multi", "1"));
  await skopeoCopy(images.index.ref, dockerRef(hub.host, "library/index", "latest"), { all: true });
  await skopeoCopy(images.tiny.ref, dockerRef(quay.host, "team/tool", "1"));
  await skopeoCopy(big.ref, dockerRef(hub.host, "library/big", "1"));

  const log = requestLog();
  berthLog = log.lines;
  berth = await startTestRegistry({
    database: "postgres",
    logger: log.logger,
    clock,
    config: {
      mirror: {
        upstreams: [
          { name: "hub", url: hubProxy.url, prefix: "", registry: "docker.io", tagTtlSeconds: TAG_TTL_SECONDS, timeoutSeconds: HUB_TIMEOUT_SECONDS },
          { name: "quay", url: quayProxy.url, prefix: "quay.io", registry: "quay.io", timeoutSeconds: 10 },
        ],
      },
    },
  });
  dockerd = await startDockerd({ registryMirrors: [`http://${berth.host}`] });
}, 180_000);

afterAll(async () => {
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await berth?.stop().catch((e) => console.error("berth stop failed", e));
  for (const p of [hubProxy, quayProxy]) await p?.stop().catch(() => undefined);
  for (const r of [hub, quay]) await r?.stop().catch(() => undefined);
  if (work) await removeTree(work);
}, 90_000);

describe("Berth as dockerd's --registry-mirror for Docker Hub", () => {
  test(
    "docker pull of a bare Docker Hub name goes through Berth cold, then warm without upstream blob requests; it runs",
    async () => {
      const upstreamDigest = (await skopeoInspectRaw(dockerRef(hub!.host, "library/runnable", "latest"))).digest;
      expect(upstreamDigest).toBe(images.runnable.top.digest);

      const coldFrom = hubProxy!.requests.length;
      const logFrom = berthLog.length;
      const cold = await timed(() => docker(["pull", "runnable"]));
      expect(cold.value.out).toContain(`Digest: ${upstreamDigest}`);
      const coldBlobs = blobRequests(hubProxy!, "library/runnable", images.runnable, coldFrom);
      const coldTotal = hubProxy!.requests.length - coldFrom;
      // Every blob came from the upstream exactly once, through Berth, which dockerd asked by the library/ name.
      expect(Object.values(coldBlobs)).toEqual(Object.values(coldBlobs).map(() => 1));
      const served = berthLog.slice(logFrom);
      expect(served).toContainEqual(expect.stringMatching(/^(GET|HEAD) \/v2\/library\/runnable\/manifests\/latest 200$/));
      for (const d of Object.keys(coldBlobs)) expect(served).toContainEqual(`GET /v2/library/runnable/blobs/${d} 200`);

      const img = await inspectImage("runnable");
      expect(img.RepoDigests).toContainEqual(expect.stringMatching(new RegExp(`(^|/)runnable@${upstreamDigest}$`)));
      expect(img.RootFS.Layers).toEqual(images.runnable.images[0]!.layers.map((l) => l.diffId));
      expect((await docker(["run", "--rm", "--network", "none", "runnable"])).out).toBe(RUNNABLE_OUTPUT);

      // Warm: forget the image locally and pull again; every blob comes from Berth's cache.
      await docker(["rmi", "runnable"]);
      const warmFrom = hubProxy!.requests.length;
      const warmLogFrom = berthLog.length;
      const warm = await timed(() => docker(["pull", "runnable"]));
      expect(warm.value.out).toContain(`Digest: ${upstreamDigest}`);
      const warmBlobs = blobRequests(hubProxy!, "library/runnable", images.runnable, warmFrom);
      const warmUpstream = hubProxy!.requests.slice(warmFrom);
      expect(sum(warmBlobs)).toBe(0);
      // The tag is still fresh: nothing at all goes upstream.
      expect(warmUpstream).toEqual([]);
      expect(berthLog.slice(warmLogFrom)).toContainEqual(expect.stringMatching(/^GET \/v2\/library\/runnable\/blobs\/sha256:[0-9a-f]{64} 200$/));
      expect((await inspectImage("runnable")).RepoDigests).toContainEqual(expect.stringMatching(new RegExp(`runnable@${upstreamDigest}$`)));
      expect((await docker(["run", "--rm", "--network", "none", "runnable"])).out).toBe(RUNNABLE_OUTPUT);

      console.log(
        [
          `docker pull runnable (${images.runnable.images[0]!.layers.reduce((a, l) => a + l.size, 0)} B of layers) through the Berth mirror:`,
          `  cold ${cold.ms} ms, upstream requests ${coldTotal}, upstream GETs per blob ${JSON.stringify(coldBlobs)}`,
          `  warm ${warm.ms} ms, upstream requests ${warmUpstream.length} (${JSON.stringify(warmUpstream)}), upstream GETs per blob ${JSON.stringify(warmBlobs)}`,
        ].join("\n"),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "a 30 MiB, 5-layer image: cold pull fetches each blob once, warm pull none; `berth mirror warm` pre-fills the cache",
    async () => {
      const layout = images.multi;
      const coldFrom = hubProxy!.requests.length;
      const cold = await timed(() => docker(["pull", "multi:1"]));
      expect(cold.value.out).toContain(`Digest: ${layout.top.digest}`);
      const coldBlobs = blobRequests(hubProxy!, "library/multi", layout, coldFrom);
      expect(Object.values(coldBlobs)).toEqual(Object.values(coldBlobs).map(() => 1));

      await docker(["rmi", "multi:1"]);
      const warmFrom = hubProxy!.requests.length;
      const warm = await timed(() => docker(["pull", "multi:1"]));
      expect(warm.value.out).toContain(`Digest: ${layout.top.digest}`);
      const warmBlobs = blobRequests(hubProxy!, "library/multi", layout, warmFrom);
      expect(sum(warmBlobs)).toBe(0);
      expect((await inspectImage("multi:1")).RootFS.Layers).toEqual(layout.images[0]!.layers.map((l) => l.diffId));

      // Pre-warming with the CLI, sharing the running server's database and storage: an image nobody pulled
      // yet is cached before its first pull, which then costs the upstream nothing.
      await skopeoCopy(images.tiny.ref, dockerRef(hub!.host, "library/prewarmed", "1"));
      const config = mirror().deps.config;
      const warmDir = await makeTempDir("berth-warm-cli");
      try {
        const cli = await run(process.execPath, [MAIN, "mirror", "warm", "prewarmed:1"], {
          env: {
            ...process.env,
            BERTH_CONFIG: "",
            DATABASE_URL: config.databaseUrl,
            BERTH_DATA_DIR: warmDir,
            BERTH_STORAGE_ROOT: config.storage.root,
            BERTH_AUTH: "false",
            BERTH_LOG_LEVEL: "warn",
            BERTH_MIRROR_UPSTREAM: hubProxy!.url,
          },
          timeoutMs: 60_000,
        });
        expect(cli.stdout.toString()).toMatch(/prewarmed:1: 1 manifests, 2 blobs, \d+ bytes cached/);
      } finally {
        await removeTree(warmDir);
      }
      const prewarmedFrom = hubProxy!.requests.length;
      const prewarmed = await timed(() => docker(["pull", "prewarmed:1"]));
      expect(prewarmed.value.out).toContain(`Digest: ${images.tiny.top.digest}`);
      const prewarmedBlobs = blobRequests(hubProxy!, "library/prewarmed", images.tiny, prewarmedFrom);
      expect(sum(prewarmedBlobs)).toBe(0);

      console.log(
        [
          `docker pull multi:1 (${layout.images[0]!.layers.length} layers, ${layout.images[0]!.layers.reduce((a, l) => a + l.size, 0)} B) through the Berth mirror:`,
          `  cold ${cold.ms} ms, upstream GETs per blob ${JSON.stringify(coldBlobs)}`,
          `  warm ${warm.ms} ms, upstream GETs per blob ${JSON.stringify(warmBlobs)}`,
          `docker pull prewarmed:1 after \`berth mirror warm\`: ${prewarmed.ms} ms, upstream GETs per blob ${JSON.stringify(prewarmedBlobs)}`,
        ].join("\n"),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "skopeo copies a prefixed, non-Docker-Hub image and an index with --all through the mirror, digests preserved",
    async () => {
      // quay.io/team/tool on Berth is team/tool on the second upstream.
      const out = path.join(work, "quay-tool");
      await skopeoCopy(dockerRef(mirror().host, "quay.io/team/tool", "1"), ociRef(out), { preserveDigests: true });
      expect((await readLayoutTag(out, "latest")).digest).toBe(images.tiny.top.digest);
      const blobs = await hashLayoutBlobs(out);
      expect([...blobs.keys()].sort()).toEqual([...images.tiny.blobs].sort());
      for (const [name, actual] of blobs) expect(actual).toBe(name);
      expect(quayProxy!.requests).toContainEqual("GET /v2/team/tool/manifests/1");
      expect(hubProxy!.requests.filter((r) => r.includes("team/tool"))).toEqual([]);

      // The two-platform index, every platform, byte-for-byte.
      const upstreamIndex = await skopeoInspectRaw(dockerRef(hub!.host, "library/index", "latest"));
      const viaMirror = await skopeoInspectRaw(dockerRef(mirror().host, "library/index", "latest"));
      expect(viaMirror.bytes).toEqual(upstreamIndex.bytes);
      expect(viaMirror.digest).toBe(images.index.top.digest);
      const all = path.join(work, "index-all");
      await skopeoCopy(dockerRef(mirror().host, "library/index", "latest"), ociRef(all), { all: true, preserveDigests: true });
      expect((await readLayoutTag(all, "latest")).digest).toBe(images.index.top.digest);
      const indexBlobs = await hashLayoutBlobs(all);
      expect([...indexBlobs.keys()].sort()).toEqual([...images.index.blobs].sort());
      for (const [name, actual] of indexBlobs) expect(actual).toBe(name);
    },
    TEST_TIMEOUT,
  );

  test(
    "over a slow but steady upstream link, a layer that takes longer than the upstream timeout still arrives",
    async () => {
      // The China-region case: an 8 MiB layer at 1.5 MiB/s takes ~5 s, longer than the upstream's 4 s
      // timeoutSeconds. A timeout must catch a dead or stalled upstream, not cut a transfer that is progressing.
      const layer = big.images[0]!.layers[0]!;
      hubProxy!.blobRate = 1.5 * MiB; // the slow international link
      try {
        const started = Date.now();
        const res = await fetch(`${mirror().url}/v2/library/big/blobs/${layer.digest}`);
        const hash = createHash("sha256");
        let size = 0;
        let failure = "";
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            hash.update(chunk);
            size += chunk.length;
          }
        } catch (err) {
          failure = String((err as Error).cause ?? err);
        }
        const ms = Date.now() - started;
        console.log(`cold ${layer.size} B layer over a 1.5 MiB/s upstream link (timeoutSeconds ${HUB_TIMEOUT_SECONDS}): status ${res.status}, ${size} B in ${ms} ms${failure ? `, failed: ${failure}` : ""}`);
        expect({ status: res.status, size, digest: `sha256:${hash.digest("hex")}`, failure }).toEqual({ status: 200, size: layer.size, digest: layer.digest, failure: "" });
      } finally {
        hubProxy!.blobRate = Infinity;
      }
      // Cached now: dockerd gets the whole image from Berth.
      const pulled = await docker(["pull", "big:1"]);
      expect(pulled.out).toContain(`Digest: ${big.top.digest}`);
    },
    TEST_TIMEOUT,
  );

  test(
    "with the upstream stopped and the tag past its TTL, docker rmi + docker pull still works from the cache",
    async () => {
      const digest = images.runnable.top.digest;
      await hub!.stop();
      hub = undefined;
      // Let the cached tag age past its TTL, so Berth has to try the (dead) upstream and fall back to the cache.
      clock.advance((TAG_TTL_SECONDS + 1) * 1000);
      const staleBefore = (await mirrorStatus()).staleServes;
      await docker(["rmi", "runnable"]);
      const pulled = await timed(() => docker(["pull", "runnable"]));
      expect(pulled.value.out).toContain(`Digest: ${digest}`);
      expect((await docker(["run", "--rm", "--network", "none", "runnable"])).out).toBe(RUNNABLE_OUTPUT);
      const status = await mirrorStatus();
      expect(status.staleServes).toBeGreaterThan(staleBefore);
      console.log(
        `docker pull runnable with the upstream stopped: ${pulled.ms} ms; mirror status: ` +
          JSON.stringify({ hits: status.hits, misses: status.misses, staleServes: status.staleServes, bytesFromUpstream: status.bytesFromUpstream, bytesSaved: status.bytesSaved, upstreams: status.upstreams }),
      );
    },
    TEST_TIMEOUT,
  );
});
