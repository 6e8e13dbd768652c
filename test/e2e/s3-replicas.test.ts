// Scale-out: two Berth processes (the built dist/main.js, as deployed) on different ports, sharing one
// Postgres database and one S3 bucket (s3rver), credentials from the standard AWS_* variables. Chunks of
// one upload alternate between the replicas; skopeo pushes through one and pulls out of the other; both
// race on the same blob and the same tag.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  bodyBytes,
  buildImage,
  digestResponse,
  finishUpload,
  getManifest,
  locationOf,
  MediaTypes,
  patchChunk,
  pushImage,
  randomBytes,
  sha256,
  startUpload,
} from "../support/oci-client";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../support/s3-server";
import { hashLayoutBlobs, multiLayerImage, readLayoutTag, twoPlatformIndex, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoInspectRaw } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { freePort } from "../support/free-port";
import { waitFor } from "../support/wait-for";

const MAIN = path.resolve(__dirname, "../../dist/main.js");
const MiB = 1024 * 1024;

interface Replica {
  url: string;
  host: string;
  child: ChildProcess;
  output: () => string;
}

async function startReplica(env: NodeJS.ProcessEnv, dataDir: string): Promise<Replica> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  // Ready when it answers (its log level is warn, so there is no "listening" line to wait for).
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor("the replica answering", async () => (await fetch(`${url}/v2/`)).status === 200, {
      timeoutMs: 60_000,
      abort: () => (child.exitCode !== null ? `exited with ${child.exitCode}` : undefined),
    });
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return { url, host: `127.0.0.1:${port}`, child, output: () => output };
}

async function stopReplica(replica: Replica | undefined): Promise<void> {
  if (!replica || replica.child.exitCode !== null) return;
  const exited = new Promise((resolve) => replica.child.once("exit", resolve));
  replica.child.kill("SIGTERM");
  const timer = setTimeout(() => replica.child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

let work: string;
let s3: S3TestServer;
let database: TestDatabase;
let a: Replica;
let b: Replica;
let multi: OciLayout;
let index: OciLayout;

beforeAll(async () => {
  requireBinaries("skopeo");
  work = await makeTempDir("berth-e2e-replicas");
  await mkdir(path.join(work, "out")); // skopeo creates a layout dir, not its parent
  s3 = await startS3Server();
  database = await createTestDatabase();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: database.url,
    BERTH_STORAGE: "s3",
    BERTH_S3_BUCKET: s3.bucket,
    BERTH_S3_ENDPOINT: s3.endpoint,
    BERTH_S3_REGION: "us-east-1",
    BERTH_S3_FORCE_PATH_STYLE: "true",
    BERTH_S3_PREFIX: "replicated",
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    BERTH_LOG_LEVEL: "warn",
    // An open registry: this test is about replicas sharing state, not about auth.
    BERTH_AUTH: "off",
  };
  // One after the other: the first applies the migrations, the second finds them applied.
  a = await startReplica(env, path.join(work, "a"));
  b = await startReplica(env, path.join(work, "b"));
  multi = await writeOciLayout(path.join(work, "src", "multi"), "latest", multiLayerImage([3, 6, 9]));
  index = await writeOciLayout(path.join(work, "src", "index"), "latest", twoPlatformIndex());
}, 180_000);

afterAll(async () => {
  await stopReplica(a);
  await stopReplica(b);
  await database?.drop();
  await s3?.close();
  if (work) await removeTree(work);
}, 60_000);

/** Fails with the replicas' logs attached, which is what one needs when two processes disagree. */
async function withLogs<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    (err as Error).message += `\n--- replica A ---\n${a?.output().slice(-3000)}\n--- replica B ---\n${b?.output().slice(-3000)}`;
    throw err;
  }
}

describe("two Berth replicas on one Postgres and one S3 bucket", () => {
  it("serves one chunked upload whose chunks alternate between the replicas", () =>
    withLogs(async () => {
      const repo = "replicas/chunked";
      const data = randomBytes(30 * MiB + 999);
      const sizes = [1 * MiB, 6 * MiB, 300 * 1024, 7 * MiB, 2 * MiB, 9 * MiB];
      const replicas = [a, b];
      let { location } = await startUpload(a.url, repo);
      let offset = 0;
      let i = 0;
      for (; offset < data.length - MiB; i++) {
        const replica = replicas[i % 2];
        const chunk = data.subarray(offset, Math.min(offset + sizes[i % sizes.length], data.length - MiB));
        const res = await patchChunk(new URL(location.pathname + location.search, replica.url), chunk, offset);
        expect(res.status).toBe(202);
        offset += chunk.length;
        expect(res.headers.get("range")).toBe(`0-${offset - 1}`);
        location = locationOf(replica.url, res);
        // The other replica knows where the upload stands.
        const status = await fetch(new URL(location.pathname, replicas[(i + 1) % 2].url));
        expect(status.headers.get("range")).toBe(`0-${offset - 1}`);
      }
      const closer = replicas[i % 2];
      const done = await finishUpload(new URL(location.pathname, closer.url), sha256(data), data.subarray(offset));
      expect(done.status).toBe(201);
      for (const replica of replicas) {
        const res = await fetch(`${replica.url}/v2/${repo}/blobs/${sha256(data)}`);
        expect(await digestResponse(res)).toEqual({ digest: sha256(data), size: data.length });
      }
    }));

  it.each([
    ["an image", () => multi, false],
    ["a two-platform index", () => index, true],
  ] as const)("copies %s in through one replica and out of the other, byte for byte (skopeo)", (_name, layout, all) =>
    withLogs(async () => {
      const source = layout();
      const repo = `replicas/${all ? "index" : "image"}`;
      await skopeoCopy(ociRef(source.dir), dockerRef(a.host, repo, "v1"), { all, preserveDigests: true });
      const out = path.join(work, "out", all ? "index" : "image");
      await skopeoCopy(dockerRef(b.host, repo, "v1"), ociRef(out), { all, preserveDigests: true });
      expect((await readLayoutTag(out, "latest")).digest).toBe(source.top.digest);
      const blobs = await hashLayoutBlobs(out);
      for (const [name, actual] of blobs) expect(actual).toBe(name);
      expect([...blobs.keys()].sort()).toEqual([...source.blobs].sort());
      expect((await skopeoInspectRaw(dockerRef(a.host, repo, "v1"))).digest).toBe(source.top.digest);
    }));

  it("leaves one consistent result when both replicas push the same blob and the same tag at once", () =>
    withLogs(async () => {
      const repo = "replicas/race";
      const same = buildImage({ layers: 2, layerSize: 6 * MiB });
      const pushes = await Promise.all([a, b].map((r) => pushImage(r.url, repo, same, "shared")));
      expect(pushes.map((r) => r.status)).toEqual([201, 201]);
      // Two different images to one tag at once: both succeed, and both replicas then agree on the winner.
      const one = buildImage({ layers: 1, layerSize: 1000 });
      const two = buildImage({ layers: 1, layerSize: 1000 });
      const racing = await Promise.all([pushImage(a.url, repo, one, "contested"), pushImage(b.url, repo, two, "contested")]);
      expect(racing.map((r) => r.status)).toEqual([201, 201]);
      const seen = await Promise.all([a, b].map(async (r) => (await getManifest(r.url, repo, "contested", MediaTypes.OCI_MANIFEST)).headers.get("docker-content-digest")));
      expect(seen[0]).toBe(seen[1]);
      expect([one.digest, two.digest]).toContain(seen[0]);
      for (const r of [a, b]) {
        const manifest = await getManifest(r.url, repo, "shared", MediaTypes.OCI_MANIFEST);
        expect((await bodyBytes(manifest)).equals(same.bytes)).toBe(true);
        for (const layer of same.layers) {
          const res = await fetch(`${r.url}/v2/${repo}/blobs/${layer.descriptor.digest}`);
          expect(await digestResponse(res)).toEqual({ digest: layer.descriptor.digest, size: layer.data.length });
        }
      }
    }));
});
