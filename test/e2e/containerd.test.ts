// containerd's own client (ctr, against a private containerd) pulling and pushing through the
// registry under test: single images, a two-platform index with --all-platforms, pushes that
// cross-repo mount (content pulled from the same registry) and pushes that upload (imported content).
import { mkdir } from "node:fs/promises";
import { createHash } from "node:crypto";
import path from "node:path";
import { parseCtrImages, startContainerd, type Containerd, type CtrImage } from "./support/containerd";
import {
  archiveLayout,
  buildTestImages,
  hashLayoutBlobs,
  readLayoutTag,
  type OciLayout,
  type TestImages,
} from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw } from "./support/skopeo";
import { startTargetRegistry, type TargetRegistry } from "./support/target";
import { requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 120_000;

let work: string;
let images: TestImages;
let registry: TargetRegistry | undefined;
let containerd: Containerd | undefined;
let outCount = 0;

function host(): string {
  if (!registry) throw new Error("target registry did not start");
  return registry.host;
}

function ctr(args: string[]) {
  if (!containerd) throw new Error("containerd did not start");
  return containerd.ctr(args);
}

async function listImage(ref: string): Promise<CtrImage> {
  const found = parseCtrImages((await ctr(["images", "ls"])).out).find((i) => i.ref === ref);
  if (!found) throw new Error(`${ref} not in ctr images ls`);
  return found;
}

async function contentDigests(): Promise<Set<string>> {
  const lines = (await ctr(["content", "ls", "--quiet"])).out.split("\n");
  return new Set(lines.map((l) => l.trim()).filter((l) => l.startsWith("sha256:")));
}

/** Pulls repo:tag back out with skopeo and checks it is exactly the source layout. */
async function expectRegistryHolds(layout: OciLayout, repo: string, tag: string, all: boolean): Promise<void> {
  const served = await skopeoInspectRaw(dockerRef(host(), repo, tag));
  expect(served.digest).toBe(layout.top.digest);
  const out = path.join(work, "out", String(++outCount));
  await skopeoCopy(dockerRef(host(), repo, tag), ociRef(out), { all, preserveDigests: true });
  expect((await readLayoutTag(out, "latest")).digest).toBe(layout.top.digest);
  const blobs = await hashLayoutBlobs(out);
  expect([...blobs.keys()].sort()).toEqual([...layout.blobs].sort());
  for (const [name, actual] of blobs) expect(actual).toBe(name);
}

beforeAll(async () => {
  requireBinaries("skopeo", "docker-registry", "containerd", "ctr", "containerd-shim-runc-v2", "runc");
  work = await makeTempDir("berth-e2e-ctr");
  await mkdir(path.join(work, "out"));
  images = await buildTestImages(path.join(work, "src"));
  registry = await startTargetRegistry();
  containerd = await startContainerd();
  await skopeoCopy(images.tiny.ref, dockerRef(host(), "e2e/tiny", "v1"));
  await skopeoCopy(images.multi.ref, dockerRef(host(), "e2e/multi", "v1"));
  await skopeoCopy(images.index.ref, dockerRef(host(), "e2e/index", "v1"), { all: true });
}, 180_000);

afterAll(async () => {
  await containerd?.stop().catch((e) => console.error("containerd stop failed", e));
  await registry?.stop().catch((e) => console.error("registry stop failed", e));
  if (work) await removeTree(work);
}, 60_000);

describe("containerd (ctr 1.6, private daemon)", () => {
  test.each([["tiny"], ["multi"]] as const)(
    "ctr pull of the %s image stores the exact manifest and every blob",
    async (name) => {
      const layout = images[name];
      const ref = `${host()}/e2e/${name}:v1`;
      await ctr(["images", "pull", "--plain-http", ref]);
      const img = await listImage(ref);
      expect(img.digest).toBe(layout.top.digest);
      expect(img.platforms).toEqual(["linux/amd64"]);
      const manifest = (await ctr(["content", "get", layout.top.digest])).stdout;
      expect(`sha256:${createHash("sha256").update(manifest).digest("hex")}`).toBe(layout.top.digest);
      const content = await contentDigests();
      for (const d of layout.blobs) expect(content).toContain(d);
    },
    TEST_TIMEOUT,
  );

  test(
    "ctr pull --platform linux/arm64 of the index fetches only that platform",
    async () => {
      // Runs before the --all-platforms pull, so the content store has no amd64 content of the index yet.
      const ref = `${host()}/e2e/index:v1`;
      await ctr(["images", "pull", "--plain-http", "--platform", "linux/arm64", ref]);
      expect((await listImage(ref)).digest).toBe(images.index.top.digest);
      const content = await contentDigests();
      const arm = images.index.images.find((i) => i.platform.architecture === "arm64")!;
      const amd = images.index.images.find((i) => i.platform.architecture === "amd64")!;
      for (const d of [arm.manifest.digest, arm.config.digest, ...arm.layers.map((l) => l.digest)]) {
        expect(content).toContain(d);
      }
      for (const d of [amd.config.digest, ...amd.layers.map((l) => l.digest)]) expect(content).not.toContain(d);
    },
    TEST_TIMEOUT,
  );

  test(
    "ctr pull --all-platforms of the index fetches both platforms",
    async () => {
      const ref = `${host()}/e2e/index:v1`;
      await ctr(["images", "pull", "--plain-http", "--all-platforms", ref]);
      const img = await listImage(ref);
      expect(img.digest).toBe(images.index.top.digest);
      expect(img.platforms.sort()).toEqual(["linux/amd64", "linux/arm64/v8"]);
      const content = await contentDigests();
      for (const d of images.index.blobs) expect(content).toContain(d);
    },
    TEST_TIMEOUT,
  );

  test.each([
    ["multi", "e2e/multi", "ctr/multi", false],
    ["index", "e2e/index", "ctr/index", true],
  ] as const)(
    "ctr push of the pulled %s image to a second repository (cross-repo mount) is byte-identical",
    async (name, fromRepo, toRepo, all) => {
      const layout = images[name];
      const local = `${host()}/${fromRepo}:v1`;
      // Pulled in the tests above; pull again so this test also stands alone.
      await ctr(["images", "pull", "--plain-http", ...(all ? ["--all-platforms"] : []), local]);
      const before = registry!.requests?.()?.length ?? 0;
      await ctr(["images", "push", "--plain-http", `${host()}/${toRepo}:v1`, local]);
      const requests = registry!.requests?.()?.slice(before);
      if (requests) {
        // containerd remembers where it pulled each blob from and asks the registry to mount it.
        const layer = layout.images[0]!.layers[0]!.digest;
        expect(requests).toContainEqual(
          expect.stringMatching(new RegExp(`^POST /v2/${toRepo}/blobs/uploads/\\?(?=.*mount=${layer.replace(":", "(:|%3A)")}).* 201$`)),
        );
      }
      await expectRegistryHolds(layout, toRepo, "v1", all);
    },
    TEST_TIMEOUT,
  );

  test(
    "ctr import + push uploads content the registry has never seen, then pulls it back",
    async () => {
      // A layout the registry does not hold yet: imported content has no distribution-source labels,
      // so containerd uploads every blob instead of mounting.
      const layout = images.runnable;
      const tar = path.join(work, "runnable.tar");
      await archiveLayout(layout.dir, tar);
      const ref = `${host()}/imported/runnable:latest`;
      await ctr(["images", "import", "--base-name", `${host()}/imported/runnable`, tar]);
      expect((await listImage(ref)).digest).toBe(layout.top.digest);
      const before = registry!.requests?.()?.length ?? 0;
      await ctr(["images", "push", "--plain-http", ref]);
      const requests = registry!.requests?.()?.slice(before);
      if (requests) {
        // ctr uploads monolithically: POST to open the session, then one PUT carrying the whole blob.
        const layer = layout.images[0]!.layers[0]!.digest;
        expect(requests).toContainEqual(
          expect.stringMatching(new RegExp(`^PUT /v2/imported/runnable/blobs/uploads/\\S*digest=${layer.replace(":", "(:|%3A)")} 201$`)),
        );
      }
      await expectRegistryHolds(layout, "imported/runnable", "latest", false);

      // forget it locally and pull it back from the registry
      await ctr(["images", "rm", "--sync", ref]);
      await expect(listImage(ref)).rejects.toThrow();
      await ctr(["images", "pull", "--plain-http", ref]);
      expect((await listImage(ref)).digest).toBe(layout.top.digest);
    },
    TEST_TIMEOUT,
  );

  test(
    "ctr import --all-platforms + push of a two-platform index to a new repository",
    async () => {
      const layout = images.index;
      const tar = path.join(work, "index.tar");
      await archiveLayout(layout.dir, tar);
      const ref = `${host()}/imported/index:latest`;
      await ctr(["images", "import", "--all-platforms", "--base-name", `${host()}/imported/index`, tar]);
      await ctr(["images", "push", "--plain-http", ref]);
      await expectRegistryHolds(layout, "imported/index", "latest", true);
    },
    TEST_TIMEOUT,
  );
});
