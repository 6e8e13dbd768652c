// The real Docker engine (a private dockerd) against the registry under test: pull what skopeo
// pushed, build on top of it, push to a second repository (cross-repo mount), pull and run.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startDockerd, type Dockerd } from "./support/dockerd";
import { buildTestImages, hashLayoutBlobs, MEDIA_TYPES, readLayoutTag, RUNNABLE_OUTPUT, type TestImages } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw } from "./support/skopeo";
import { startTargetRegistry, type TargetRegistry } from "./support/target";
import { requireBinaries } from "./support/tools";

const TEST_TIMEOUT = 120_000;

let work: string;
let images: TestImages;
let registry: TargetRegistry | undefined;
let dockerd: Dockerd | undefined;

function host(): string {
  if (!registry) throw new Error("target registry did not start");
  return registry.host;
}

function docker(args: string[], env?: NodeJS.ProcessEnv) {
  if (!dockerd) throw new Error("dockerd did not start");
  return dockerd.docker(args, { env });
}

async function inspectImage(ref: string): Promise<{ Architecture: string; RepoDigests: string[]; RootFS: { Layers: string[] }; Config: { Cmd: string[] } }> {
  return JSON.parse((await docker(["image", "inspect", "--format", "{{json .}}", ref])).out);
}

beforeAll(async () => {
  requireBinaries("skopeo", "docker-registry", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc", "busybox");
  work = await makeTempDir("berth-e2e-docker");
  images = await buildTestImages(path.join(work, "src"));
  registry = await startTargetRegistry();
  dockerd = await startDockerd();
  // The images docker pulls are put in place by skopeo (tested on its own in skopeo.test.ts).
  await skopeoCopy(images.tiny.ref, dockerRef(host(), "e2e/tiny", "v1"));
  await skopeoCopy(images.multi.ref, dockerRef(host(), "e2e/multi", "v1"));
  await skopeoCopy(images.index.ref, dockerRef(host(), "e2e/index", "v1"), { all: true });
  await skopeoCopy(images.runnable.ref, dockerRef(host(), "base/runnable", "v1"));
}, 180_000);

afterAll(async () => {
  // Each step guarded so one failure cannot leave a daemon or temp dir behind.
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await registry?.stop().catch((e) => console.error("registry stop failed", e));
  if (work) await removeTree(work);
}, 90_000);

describe("docker (dockerd 20.10, private instance)", () => {
  test.each([["tiny"], ["multi"]] as const)(
    "docker pull of the skopeo-pushed %s image keeps digest and layers",
    async (name) => {
      const layout = images[name];
      const ref = `${host()}/e2e/${name}:v1`;
      const pull = await docker(["pull", ref]);
      expect(pull.out).toContain(`Digest: ${layout.top.digest}`);
      const img = await inspectImage(ref);
      expect(img.RepoDigests).toContain(`${host()}/e2e/${name}@${layout.top.digest}`);
      expect(img.RootFS.Layers).toEqual(layout.images[0]!.layers.map((l) => l.diffId));
      // by digest as well
      await docker(["pull", `${host()}/e2e/${name}@${layout.top.digest}`]);
    },
    TEST_TIMEOUT,
  );

  test(
    "docker pull --platform picks the right image out of the index (arm64 pulls, though it cannot run here)",
    async () => {
      const ref = `${host()}/e2e/index:v1`;
      for (const img of images.index.images) {
        const platform = `linux/${img.platform.architecture}`;
        const pull = await docker(["pull", "--platform", platform, ref]);
        // The tag resolves to the index; docker reports the index digest.
        expect(pull.out).toContain(`Digest: ${images.index.top.digest}`);
        const pulled = await inspectImage(ref);
        expect(pulled.Architecture).toBe(img.platform.architecture);
        expect(pulled.RootFS.Layers).toEqual(img.layers.map((l) => l.diffId));
        // (RepoDigests is not checked here: dockerd 20.10 attaches the index digest to the first
        // platform pulled only, the second gets none.)
      }
    },
    TEST_TIMEOUT,
  );

  test(
    "docker run of the runnable image prints its line",
    async () => {
      const ref = `${host()}/base/runnable:v1`;
      await docker(["pull", ref]);
      expect((await docker(["run", "--rm", "--network", "none", ref])).out).toBe(RUNNABLE_OUTPUT);
    },
    TEST_TIMEOUT,
  );

  test(
    "docker build FROM the registry, push to a second repository (cross-repo mount), rmi, pull, run",
    async () => {
      const base = `${host()}/base/runnable:v1`;
      const derived = `${host()}/apps/derived:v1`;
      await docker(["pull", base]);

      const ctx = path.join(work, "build-ctx");
      await mkdir(ctx, { recursive: true });
      await writeFile(path.join(ctx, "greeting.txt"), "greeting-from-copy\n");
      await writeFile(
        path.join(ctx, "Dockerfile"),
        [
          `FROM ${base}`,
          "COPY greeting.txt /etc/greeting.txt",
          "RUN echo built-by-run > /etc/built.txt",
          `CMD ["/bin/sh", "-c", "cat /etc/greeting.txt /etc/built.txt; echo ${RUNNABLE_OUTPUT}"]`,
          "",
        ].join("\n"),
      );
      // Classic builder (BuildKit is not in docker.io 20.10's default path); no network in the sandbox.
      await docker(["build", "--network", "none", "-t", derived, ctx], { DOCKER_BUILDKIT: "0" });

      const push = await docker(["push", derived]);
      // The base layer already lives in base/runnable on the same registry: docker mounts it instead of uploading.
      expect(push.out).toMatch(/Mounted from base\/runnable/);
      const pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(push.out)?.[1];
      expect(pushedDigest).toBeDefined();
      const baseLayer = images.runnable.images[0]!.layers[0]!.digest;
      const requests = registry!.requests?.();
      if (requests) {
        // Extra evidence from the registry's own log, where it can tell us.
        expect(requests).toContainEqual(
          expect.stringMatching(new RegExp(`^POST /v2/apps/derived/blobs/uploads/\\?(?=.*from=base%2Frunnable|.*from=base/runnable)(?=.*mount=${baseLayer.replace(":", "(:|%3A)")}).* 201$`)),
        );
      }

      // Retrievable through the registry by another client, every blob verified.
      const served = await skopeoInspectRaw(dockerRef(host(), "apps/derived", "v1"));
      expect(served.digest).toBe(pushedDigest);
      expect(served.mediaType).toBe(MEDIA_TYPES.dockerManifest);
      const layers = (served.json as { layers: { digest: string }[] }).layers.map((l) => l.digest);
      expect(layers).toHaveLength(3); // base + COPY + RUN
      expect(layers[0]).toBe(baseLayer);
      const out = path.join(work, "derived-layout");
      await skopeoCopy(dockerRef(host(), "apps/derived", "v1"), ociRef(out));
      const blobs = await hashLayoutBlobs(out);
      for (const d of layers) expect(blobs.get(d)).toBe(d);
      expect((await readLayoutTag(out, "latest")).digest).toMatch(/^sha256:/);

      // Forget everything locally, then get it back from the registry and run it.
      await docker(["rmi", derived, base]);
      await expect(docker(["image", "inspect", derived])).rejects.toThrow();
      await docker(["pull", derived]);
      const run = await docker(["run", "--rm", "--network", "none", derived]);
      expect(run.out.split("\n")).toEqual(["greeting-from-copy", "built-by-run", RUNNABLE_OUTPUT]);
    },
    TEST_TIMEOUT,
  );
});
