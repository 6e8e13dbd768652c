// containerd pulling through Berth as its registry mirror, configured the way containerd is configured for
// mirrors: a hosts directory (`config_path`, here ctr's --hosts-dir) with docker.io/hosts.toml naming Berth as
// a plain-HTTP host with capabilities ["pull", "resolve"]. containerd then asks Berth for
// /v2/library/<img>/manifests/<tag>?ns=docker.io; Berth routes by ?ns= to the right upstream. The CNCF
// registry stands in for Docker Hub, a second one for quay.io (mirrored under Berth's named prefix "quay").
// There is no internet here, so a successful pull came through Berth; Berth's request log and the upstreams'
// request counts show it explicitly.
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startCncfRegistry, type CncfRegistry } from "./support/cncf-registry";
import { parseCtrImages, startContainerd, type Containerd, type CtrImage } from "./support/containerd";
import { buildTestImages, RUNNABLE_OUTPUT, type OciLayout, type TestImages } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy";
import { requestLog } from "../support/request-log";
import { startTestRegistry, type TestRegistry } from "../support/registry";

const TEST_TIMEOUT = 120_000;

let work: string;
let hostsDir: string;
let images: TestImages;
let hub: CncfRegistry | undefined;
let quay: CncfRegistry | undefined;
let hubProxy: FaultProxy | undefined;
let quayProxy: FaultProxy | undefined;
let berth: TestRegistry | undefined;
let containerd: Containerd | undefined;
let berthLog: string[] = [];

function ctr(args: string[]) {
  if (!containerd) throw new Error("containerd did not start");
  return containerd.ctr(args, { timeoutMs: 90_000 });
}

/** `ctr images pull` resolving registries through the hosts directory only (no --plain-http needed). */
function pull(ref: string, ...flags: string[]) {
  return ctr(["images", "pull", "--hosts-dir", hostsDir, ...flags, ref]);
}

async function listImage(ref: string): Promise<CtrImage | undefined> {
  return parseCtrImages((await ctr(["images", "ls"])).out).find((i) => i.ref === ref);
}

async function contentDigests(): Promise<Set<string>> {
  const lines = (await ctr(["content", "ls", "--quiet"])).out.split("\n");
  return new Set(lines.map((l) => l.trim()).filter((l) => l.startsWith("sha256:")));
}

/** Upstream GETs per blob (configs and layers of every image in the layout) seen since index `from`. */
function blobRequests(proxy: FaultProxy, repo: string, layout: OciLayout, from = 0): Record<string, number> {
  const seen = proxy.requests.slice(from);
  const digests = layout.images.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)]);
  return Object.fromEntries(digests.map((d) => [d, seen.filter((r) => r === `GET /v2/${repo}/blobs/${d}`).length]));
}

/** hosts.toml for one registry: Berth first, for pull and resolve, over plain HTTP. */
function hostsToml(server: string, mirror: string): string {
  return [`server = "${server}"`, "", `[host."http://${mirror}"]`, `  capabilities = ["pull", "resolve"]`, ""].join("\n");
}

beforeAll(async () => {
  requireBinaries("skopeo", "docker-registry", "containerd", "ctr", "containerd-shim-runc-v2", "runc", "busybox");
  work = await makeTempDir("berth-e2e-mirror-ctr");
  images = await buildTestImages(path.join(work, "src"));
  hub = await startCncfRegistry();
  quay = await startCncfRegistry();
  hubProxy = await startFaultProxy(`http://${hub.host}`);
  quayProxy = await startFaultProxy(`http://${quay.host}`);
  await skopeoCopy(images.runnable.ref, dockerRef(hub.host, "library/runnable", "latest"));
  await skopeoCopy(images.index.ref, dockerRef(hub.host, "library/index", "latest"), { all: true });
  await skopeoCopy(images.tiny.ref, dockerRef(quay.host, "team/tool", "1"));

  const log = requestLog();
  berthLog = log.lines;
  berth = await startTestRegistry({
    database: "postgres",
    logger: log.logger,
    config: {
      mirror: {
        upstreams: [
          { name: "hub", url: hubProxy.url, prefix: "", registry: "docker.io", timeoutSeconds: 10 },
          { name: "quay", url: quayProxy.url, prefix: "quay", registry: "quay.io", timeoutSeconds: 10 },
        ],
      },
    },
  });

  // /etc/containerd/certs.d/<registry>/hosts.toml, in a private directory.
  hostsDir = path.join(work, "certs.d");
  for (const [registry, server] of [
    ["docker.io", "https://registry-1.docker.io"],
    ["quay.io", "https://quay.io"],
  ] as const) {
    await mkdir(path.join(hostsDir, registry), { recursive: true });
    await writeFile(path.join(hostsDir, registry, "hosts.toml"), hostsToml(server, berth.host));
  }
  containerd = await startContainerd();
}, 180_000);

afterAll(async () => {
  await containerd?.stop().catch((e) => console.error("containerd stop failed", e));
  await berth?.stop().catch((e) => console.error("berth stop failed", e));
  for (const p of [hubProxy, quayProxy]) await p?.stop().catch(() => undefined);
  for (const r of [hub, quay]) await r?.stop().catch(() => undefined);
  if (work) await removeTree(work);
}, 60_000);

describe("containerd with a hosts.toml mirror pointing at Berth", () => {
  test(
    "pulls docker.io/library/runnable through Berth (?ns=docker.io) cold, then warm without upstream blob requests, and runs it",
    async () => {
      const ref = "docker.io/library/runnable:latest";
      const layout = images.runnable;
      const coldFrom = hubProxy!.requests.length;
      const logFrom = berthLog.length;
      const cold = Date.now();
      await pull(ref);
      const coldMs = Date.now() - cold;
      expect((await listImage(ref))?.digest).toBe(layout.top.digest);
      const content = await contentDigests();
      for (const d of layout.blobs) expect(content).toContain(d);
      const manifest = (await ctr(["content", "get", layout.top.digest])).stdout;
      expect(`sha256:${createHash("sha256").update(manifest).digest("hex")}`).toBe(layout.top.digest);

      // Through Berth, with containerd's namespace parameter on every request, and each blob fetched upstream once.
      const served = berthLog.slice(logFrom);
      expect(served).toContainEqual(expect.stringMatching(/^(HEAD|GET) \/v2\/library\/runnable\/manifests\/latest\?ns=docker\.io 200$/));
      for (const blob of Object.keys(blobRequests(hubProxy!, "library/runnable", layout))) {
        expect(served).toContainEqual(`GET /v2/library/runnable/blobs/${blob}?ns=docker.io 200`);
      }
      const coldBlobs = blobRequests(hubProxy!, "library/runnable", layout, coldFrom);
      expect(Object.values(coldBlobs)).toEqual(Object.values(coldBlobs).map(() => 1));

      // It runs (native snapshotter, no network).
      const run = await ctr(["run", "--rm", ref, `mirror-run-${process.pid}`]);
      expect(run.out).toBe(RUNNABLE_OUTPUT);

      // Warm: remove the image and let the content GC take its blobs, then pull again.
      await ctr(["images", "rm", "--sync", ref]);
      const left = await contentDigests();
      for (const d of layout.blobs) expect(left).not.toContain(d);
      const warmFrom = hubProxy!.requests.length;
      const warm = Date.now();
      await pull(ref);
      const warmMs = Date.now() - warm;
      expect((await listImage(ref))?.digest).toBe(layout.top.digest);
      const warmBlobs = blobRequests(hubProxy!, "library/runnable", layout, warmFrom);
      expect(Object.values(warmBlobs).reduce((a, b) => a + b, 0)).toBe(0);
      const warmUpstream = hubProxy!.requests.slice(warmFrom);
      // The tag is within its TTL (default 300 s): the upstream hears nothing at all.
      expect(warmUpstream).toEqual([]);
      console.log(
        [
          `ctr pull ${ref} through the Berth mirror (hosts.toml):`,
          `  cold ${coldMs} ms, upstream GETs per blob ${JSON.stringify(coldBlobs)}`,
          `  warm ${warmMs} ms, upstream requests ${warmUpstream.length}, upstream GETs per blob ${JSON.stringify(warmBlobs)}`,
        ].join("\n"),
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "pulls a two-platform index from docker.io with --all-platforms through Berth, byte-for-byte",
    async () => {
      const ref = "docker.io/library/index:latest";
      const from = hubProxy!.requests.length;
      await pull(ref, "--all-platforms");
      const img = await listImage(ref);
      expect(img?.digest).toBe(images.index.top.digest);
      expect(img?.platforms.sort()).toEqual(["linux/amd64", "linux/arm64/v8"]);
      const content = await contentDigests();
      for (const d of images.index.blobs) expect(content).toContain(d);
      const blobs = blobRequests(hubProxy!, "library/index", images.index, from);
      expect(Object.values(blobs)).toEqual(Object.values(blobs).map(() => 1));
    },
    TEST_TIMEOUT,
  );

  test(
    "routes quay.io through ?ns=quay.io to the upstream mirrored under Berth's named prefix",
    async () => {
      const ref = "quay.io/team/tool:1";
      const logFrom = berthLog.length;
      await pull(ref);
      expect((await listImage(ref))?.digest).toBe(images.tiny.top.digest);
      // containerd asked Berth for team/tool with ns=quay.io; Berth asked the quay upstream for team/tool.
      expect(berthLog.slice(logFrom)).toContainEqual(expect.stringMatching(/^(HEAD|GET) \/v2\/team\/tool\/manifests\/1\?ns=quay\.io 200$/));
      expect(quayProxy!.requests).toContainEqual("GET /v2/team/tool/manifests/1");
      const blobs = blobRequests(quayProxy!, "team/tool", images.tiny);
      expect(Object.values(blobs)).toEqual(Object.values(blobs).map(() => 1));
      expect(hubProxy!.requests.filter((r) => r.includes("team/tool"))).toEqual([]);
      // The same content is Berth's quay/team/tool for clients that address Berth directly.
      const direct = await fetch(`${berth!.url}/v2/quay/team/tool/manifests/1`, { headers: { Accept: images.tiny.top.mediaType } });
      expect(direct.headers.get("docker-content-digest")).toBe(images.tiny.top.digest);
    },
    TEST_TIMEOUT,
  );
});
