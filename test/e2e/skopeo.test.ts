// skopeo against the registry under test: OCI layouts in, OCI layouts out, byte for byte.
import path from "node:path";
import { mkdir, readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import {
  buildTestImages,
  hashLayoutBlobs,
  MEDIA_TYPES,
  readLayoutBlob,
  readLayoutTag,
  type OciLayout,
  type TestImages,
} from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import {
  dockerRef,
  ociRef,
  skopeoCopy,
  skopeoDelete,
  skopeoInspectRaw,
  skopeoListTags,
} from "./support/skopeo";
import { startTargetRegistry, type TargetRegistry } from "./support/target";
import { requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 120_000;

let work: string;
let images: TestImages;
let registry: TargetRegistry | undefined;
let outCount = 0;

/** A fresh, not-yet-existing dir for skopeo to write into (skopeo creates it but not its parent). */
function outDir(): string {
  return path.join(work, "out", String(++outCount));
}

beforeAll(async () => {
  requireBinaries("skopeo", "docker-registry");
  work = await makeTempDir("berth-e2e-skopeo");
  await mkdir(path.join(work, "out"));
  images = await buildTestImages(path.join(work, "src"));
  registry = await startTargetRegistry();
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTree(work);
}, 60_000);

function host(): string {
  if (!registry) throw new Error("target registry did not start");
  return registry.host;
}

/** Asserts the registry serves exactly the source manifest (and, for an index, every child manifest). */
async function expectSameManifests(layout: OciLayout, repo: string, tag: string): Promise<void> {
  const top = await skopeoInspectRaw(dockerRef(host(), repo, tag));
  expect(top.digest).toBe(layout.top.digest);
  expect(top.bytes.equals(await readLayoutBlob(layout.dir, layout.top.digest))).toBe(true);
  for (const img of layout.images) {
    const m = await skopeoInspectRaw(dockerRef(host(), repo, img.manifest.digest));
    expect(m.digest).toBe(img.manifest.digest);
  }
}

/** Asserts out holds the same tag -> digest and every source blob with verified content, and nothing else. */
async function expectSameLayout(source: OciLayout, out: string): Promise<void> {
  expect((await readLayoutTag(out, "latest")).digest).toBe(source.top.digest);
  const blobs = await hashLayoutBlobs(out);
  for (const [name, actual] of blobs) expect(actual).toBe(name); // file content matches its name
  expect([...blobs.keys()].sort()).toEqual([...source.blobs].sort());
}

describe("skopeo", () => {
  test.each([
    ["tiny", "e2e/tiny", false],
    ["multi", "e2e/multi-layer", false],
    ["index", "e2e/index", true],
  ] as const)(
    "copies the %s layout in and back out byte-identically",
    async (name, repo, all) => {
      const layout = images[name];
      await skopeoCopy(layout.ref, dockerRef(host(), repo, "v1"), { all, preserveDigests: true });
      await expectSameManifests(layout, repo, "v1");

      const out = outDir();
      await skopeoCopy(dockerRef(host(), repo, "v1"), ociRef(out), { all, preserveDigests: true });
      await expectSameLayout(layout, out);
    },
    TEST_TIMEOUT,
  );

  test(
    "an index copied without --all yields only the current platform's image",
    async () => {
      const layout = images.index;
      await skopeoCopy(layout.ref, dockerRef(host(), "e2e/index", "v1"), { all: true });
      const out = outDir();
      await skopeoCopy(dockerRef(host(), "e2e/index", "v1"), ociRef(out));
      const amd64 = layout.images.find((i) => i.platform.architecture === "amd64")!;
      expect((await readLayoutTag(out, "latest")).digest).toBe(amd64.manifest.digest);
    },
    TEST_TIMEOUT,
  );

  test(
    "--format v2s2 push converts to Docker schema 2 and pulls back unchanged",
    async () => {
      const layout = images.multi;
      const src = layout.images[0]!;
      const ref = dockerRef(host(), "e2e/v2s2", "v1");
      await skopeoCopy(layout.ref, ref, { format: "v2s2" });

      const served = await skopeoInspectRaw(ref);
      expect(served.mediaType).toBe(MEDIA_TYPES.dockerManifest);
      const m = served.json as { config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string }[] };
      expect(m.config).toMatchObject({ mediaType: MEDIA_TYPES.dockerConfig, digest: src.config.digest });
      expect(m.layers.map((l) => l.digest)).toEqual(src.layers.map((l) => l.digest));
      expect(new Set(m.layers.map((l) => l.mediaType))).toEqual(new Set([MEDIA_TYPES.dockerLayerGzip]));

      // dir: stores the manifest as served, so the round trip can be compared byte for byte.
      const dir = outDir();
      await skopeoCopy(ref, `dir:${dir}`, { preserveDigests: true });
      const pulled = await readFile(path.join(dir, "manifest.json"));
      expect(`sha256:${createHash("sha256").update(pulled).digest("hex")}`).toBe(served.digest);
      for (const l of src.layers) {
        const file = await readFile(path.join(dir, l.digest.slice("sha256:".length)));
        expect(`sha256:${createHash("sha256").update(file).digest("hex")}`).toBe(l.digest);
      }

      // And back into an OCI layout (converted again): same layer blobs. skopeo re-serialises the
      // config while converting schema 2 -> OCI, so only its content (diff_ids) is compared.
      const out = outDir();
      await skopeoCopy(ref, ociRef(out));
      const blobs = await hashLayoutBlobs(out);
      for (const l of src.layers) expect(blobs.get(l.digest)).toBe(l.digest);
      const manifest = JSON.parse((await readLayoutBlob(out, (await readLayoutTag(out, "latest")).digest)).toString()) as {
        config: { digest: string };
      };
      const config = JSON.parse((await readLayoutBlob(out, manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
      expect(config.rootfs.diff_ids).toEqual(src.layers.map((l) => l.diffId));
    },
    TEST_TIMEOUT,
  );

  test(
    "--all --format v2s2 turns the OCI index into a Docker manifest list",
    async () => {
      const ref = dockerRef(host(), "e2e/v2s2-list", "v1");
      await skopeoCopy(images.index.ref, ref, { all: true, format: "v2s2" });
      const served = await skopeoInspectRaw(ref);
      expect(served.mediaType).toBe(MEDIA_TYPES.dockerManifestList);
      const list = served.json as { manifests: { digest: string; mediaType: string; platform: { architecture: string } }[] };
      expect(list.manifests.map((m) => m.platform.architecture).sort()).toEqual(["amd64", "arm64"]);
      for (const entry of list.manifests) {
        expect(entry.mediaType).toBe(MEDIA_TYPES.dockerManifest);
        expect((await skopeoInspectRaw(dockerRef(host(), "e2e/v2s2-list", entry.digest))).digest).toBe(entry.digest);
      }
    },
    TEST_TIMEOUT,
  );

  test(
    "list-tags returns every pushed tag",
    async () => {
      const repo = "e2e/tags";
      await skopeoCopy(images.tiny.ref, dockerRef(host(), repo, "v1"));
      // registry-to-registry copies: all blobs already exist, only the manifest is re-tagged
      await skopeoCopy(dockerRef(host(), repo, "v1"), dockerRef(host(), repo, "v2"));
      await skopeoCopy(dockerRef(host(), repo, "v1"), dockerRef(host(), repo, "latest"));
      expect((await skopeoListTags(`docker://${host()}/${repo}`)).sort()).toEqual(["latest", "v1", "v2"]);
    },
    TEST_TIMEOUT,
  );

  test(
    "delete removes the manifest: inspect by tag and by digest then fails",
    async () => {
      const repo = "e2e/delete";
      const ref = dockerRef(host(), repo, "doomed");
      await skopeoCopy(images.tiny.ref, ref);
      expect((await skopeoInspectRaw(ref)).digest).toBe(images.tiny.top.digest);

      await skopeoDelete(ref);
      await expect(skopeoInspectRaw(ref)).rejects.toThrow(/manifest unknown|not found|404/i);
      await expect(skopeoInspectRaw(dockerRef(host(), repo, images.tiny.top.digest))).rejects.toThrow(
        /manifest unknown|not found|404/i,
      );
    },
    TEST_TIMEOUT,
  );

  test(
    "nested repository names (team/app/api) work for push, pull, tags and delete",
    async () => {
      const repo = "team/app/api";
      await skopeoCopy(images.multi.ref, dockerRef(host(), repo, "1.0"), { preserveDigests: true });
      await skopeoCopy(images.tiny.ref, dockerRef(host(), "team/app/api/v2/deep", "1.0"), { preserveDigests: true });
      await expectSameManifests(images.multi, repo, "1.0");
      expect(await skopeoListTags(`docker://${host()}/${repo}`)).toEqual(["1.0"]);
      expect(await skopeoListTags(`docker://${host()}/team/app/api/v2/deep`)).toEqual(["1.0"]);

      const out = outDir();
      await skopeoCopy(dockerRef(host(), repo, "1.0"), ociRef(out), { preserveDigests: true });
      await expectSameLayout(images.multi, out);

      await skopeoDelete(dockerRef(host(), "team/app/api/v2/deep", "1.0"));
      await expect(skopeoInspectRaw(dockerRef(host(), "team/app/api/v2/deep", "1.0"))).rejects.toThrow();
      // the parent-looking repository is independent of the nested one
      expect((await skopeoInspectRaw(dockerRef(host(), repo, "1.0"))).digest).toBe(images.multi.top.digest);
    },
    TEST_TIMEOUT,
  );
});
