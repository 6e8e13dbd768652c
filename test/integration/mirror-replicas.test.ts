// Two Berth mirror replicas sharing one Postgres database and one storage — a filesystem root, then an S3
// bucket (s3rver) — as replicas behind a load balancer would, in front of one upstream: the CNCF registry, seen
// through the counting fault proxy, which also paces blob bodies so every upstream blob download takes a
// while and the replicas' requests really overlap. A cold blob asked for through both replicas at once must be
// fetched from the upstream exactly once, and every client must get the right bytes.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startCncfRegistry, type CncfRegistry } from "../e2e/support/cncf-registry";
import { blobPath } from "../../src/registry/paths";
import type { Digest } from "../../src/kernel/digest";
import { PathNotFoundError, type StorageDriver } from "../../src/storage/driver";
import { FilesystemDriver } from "../../src/storage/filesystem";
import { startS3Server, type S3TestServer } from "../support/s3-server";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";
import { buildImage, digestResponse, MediaTypes, pushImageTwoStep, sha256, uniqueSuffix, type BuiltImage } from "../support/oci-client";

const ACCEPT = [MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST].join(", ");
const MiB = 1024 * 1024;

async function pushUpstream(base: string, repo: string, image: BuiltImage, ref: string): Promise<void> {
  const res = await pushImageTwoStep(base, repo, image, ref);
  if (res.status !== 201) throw new Error(`upstream manifest push: ${res.status}`);
}

function blobGets(proxy: FaultProxy, repo: string, digest: string): number {
  return proxy.requests.filter((r) => r === `GET /v2/${repo}/blobs/${digest}`).length;
}

/** GET a blob; resolves with status, digest of the body, and when the first byte and the last arrived. */
async function pull(base: string, repo: string, digest: string, started: number) {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  const headersAt = Date.now() - started;
  const body = await digestResponse(res).catch((err: Error) => ({ digest: `error: ${err.message}`, size: -1 }));
  return { status: res.status, digest: body.digest, size: body.size, headersMs: headersAt, doneMs: Date.now() - started };
}

/** GET a blob (or a range of it), keeping the body and how many blob bytes the upstream had sent when its first byte arrived. */
async function pullWatching(proxy: FaultProxy, base: string, repo: string, digest: string, range?: string, live = { received: 0 }) {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { headers: range ? { Range: range } : {} });
  const chunks: Buffer[] = [];
  let upstreamAtFirstByte: number | null = null;
  let complete = true;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      upstreamAtFirstByte ??= proxy.blobBytesSent;
      chunks.push(Buffer.from(chunk));
      live.received += chunk.length;
    }
  } catch {
    complete = false;
  }
  const body = Buffer.concat(chunks);
  return { status: res.status, body, digest: sha256(body), complete, upstreamAtFirstByte };
}

async function uploadFiles(storage: StorageDriver): Promise<string[]> {
  const files: string[] = [];
  for await (const file of storage.list("uploads")) files.push(file);
  return files;
}

async function isStored(storage: StorageDriver, digest: string): Promise<boolean> {
  return storage.stat(blobPath(digest as Digest)).then(
    () => true,
    (err: unknown) => (err instanceof PathNotFoundError ? false : Promise.reject(err)),
  );
}

/** A third replica as its own process (built dist/main.js), so a test can kill it outright. */
async function spawnReplica(env: Record<string, string>): Promise<{ url: string; kill(): void; cleanup(): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-replica-"));
  const main = path.resolve(__dirname, "../../dist/main.js");
  const child = spawn("node", [main, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    env: { ...process.env, BERTH_AUTH: "off", BERTH_LOG_LEVEL: "info", BERTH_STORAGE_FSYNC: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /Berth listening on (http:\/\/[^\s"]+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}: ${seen}`)));
  });
  return {
    url,
    kill: () => child.kill("SIGKILL"),
    cleanup: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

describe.each(["fs", "s3"])("two mirror replicas sharing one Postgres and one storage (%s)", (driver) => {
  let upstream: CncfRegistry;
  let proxy: FaultProxy;
  let database: TestDatabase;
  let storageRoot: string;
  let s3: S3TestServer | undefined;
  /** The replicas' shared storage, as seen by the test. */
  let storage: StorageDriver;
  /** How a replica in its own process is told to use that storage. */
  let storageEnv: Record<string, string>;
  let replicas: TestRegistry[] = [];

  beforeAll(async () => {
    upstream = await startCncfRegistry();
    // replicas → fault proxy (counting, pacing blob bodies, cutting or corrupting one when told) → upstream.
    proxy = await startFaultProxy(`http://${upstream.host}`);
    proxy.blobRate = 8 * MiB;
    database = await createTestDatabase();
    storageRoot = await mkdtemp(path.join(os.tmpdir(), "berth-replicas-storage-"));
    let storageConfig: Record<string, unknown> = { fsync: false, root: storageRoot };
    storage = new FilesystemDriver({ root: storageRoot, fsync: false });
    storageEnv = { BERTH_STORAGE_ROOT: storageRoot };
    if (driver === "s3") {
      s3 = await startS3Server();
      const prefix = `replicas-${uniqueSuffix()}`;
      storageConfig = s3.storageConfig({ prefix });
      storage = s3.driver({ prefix });
      storageEnv = {
        BERTH_STORAGE: "s3",
        BERTH_S3_BUCKET: s3.bucket,
        BERTH_S3_ENDPOINT: s3.endpoint,
        BERTH_S3_FORCE_PATH_STYLE: "true",
        BERTH_S3_PREFIX: prefix,
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
      };
    }
    const config = {
      databaseUrl: database.url,
      storage: storageConfig,
      mirror: { upstreams: [{ name: "hub", url: proxy.url, prefix: "", registry: "docker.io", timeoutSeconds: 30 }] },
    };
    // One after the other: the first applies the migrations, the second finds them applied.
    replicas.push(await startTestRegistry({ config }));
    replicas.push(await startTestRegistry({ config }));
  });

  afterAll(async () => {
    for (const r of replicas) await r.stop().catch((err) => console.error("replica stop failed", err));
    replicas = [];
    await proxy?.stop();
    await upstream?.stop();
    await database?.drop();
    await s3?.close();
    if (storageRoot) await rm(storageRoot, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.blobRate = 8 * MiB;
    proxy.cutNextBlobAfter = null;
    proxy.corruptNextBlobAt = null;
    proxy.blobBytesSent = 0;
  });

  /** A one-layer image pushed to the upstream under a fresh name; none of it is cached yet. */
  async function coldLayer(name: string, layerSize: number) {
    const repo = `library/${name}-${uniqueSuffix()}`;
    const image = buildImage({ layers: 1, layerSize });
    await pushUpstream(`http://${upstream.host}`, repo, image, "v1");
    return { repo, manifest: image.digest, layer: image.layers[0].descriptor.digest, data: image.layers[0].data };
  }

  it("fetches a cold blob from the upstream once for concurrent clients of both replicas, all getting the right bytes", async () => {
    const { repo, manifest, layer, data } = await coldLayer("shared", 12 * MiB);

    // Manifests first, as a client would, through both replicas at the same moment.
    const manifests = await Promise.all(replicas.map((r) => fetch(`${r.url}/v2/${repo}/manifests/v1`, { headers: { Accept: ACCEPT } })));
    for (const res of manifests) {
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(manifest);
    }

    // 3 clients per replica ask for the 12 MiB layer at once (about 1.5 s upstream at the proxy's pace).
    const started = Date.now();
    const results = await Promise.all(
      replicas.flatMap((r, i) => Array.from({ length: 3 }, async () => ({ replica: i, ...(await pull(r.url, repo, layer, started)) }))),
    );
    console.log(
      `cold ${data.length} B blob through 2 replicas x 3 clients: ` +
        results.map((r) => `replica ${r.replica}: headers ${r.headersMs} ms, done ${r.doneMs} ms`).join("; ") +
        `; upstream blob GETs: ${blobGets(proxy, repo, layer)}`,
    );
    for (const r of results) expect({ replica: r.replica, status: r.status, digest: r.digest, size: r.size }).toEqual({ replica: r.replica, status: 200, digest: layer, size: 12 * MiB });
    expect(blobGets(proxy, repo, layer)).toBe(1);

    // And the blob exists once, in the shared storage; both replicas now serve it without the upstream.
    expect(await isStored(storage, layer)).toBe(true);
    const before = proxy.requests.length;
    for (const r of replicas) expect((await pull(r.url, repo, layer, Date.now())).digest).toBe(layer);
    expect(proxy.requests.slice(before)).toEqual([]);
  });

  it("fetches each blob of a cold image once when both replicas pull the whole image concurrently", async () => {
    const repo = `library/image-${uniqueSuffix()}`;
    const image = buildImage({ layers: 4, layerSize: 2 * MiB });
    await pushUpstream(`http://${upstream.host}`, repo, image, "v1");
    const blobs = [image.config, ...image.layers].map((b) => b.descriptor.digest);
    const started = Date.now();
    // Each replica's client walks the blobs in a different order, so the replicas lead on different blobs.
    const results = await Promise.all(
      replicas.map(async (r, i) => {
        const order = i === 0 ? blobs : [...blobs].reverse();
        return Promise.all(order.map((d) => pull(r.url, repo, d, started)));
      }),
    );
    for (const perReplica of results) expect(perReplica.map((p) => p.status)).toEqual(blobs.map(() => 200));
    for (const [i, perReplica] of results.entries()) {
      const order = i === 0 ? blobs : [...blobs].reverse();
      expect(perReplica.map((p) => p.digest)).toEqual(order);
    }
    expect(Object.fromEntries(blobs.map((d) => [d, blobGets(proxy, repo, d)]))).toEqual(Object.fromEntries(blobs.map((d) => [d, 1])));
  });

  it("streams a cold blob to a client of the other replica while the leader is still downloading it", async () => {
    const { repo, layer } = await coldLayer("stream", 8 * MiB);
    proxy.blobRate = 2 * MiB; // about 4 s for the whole layer

    const leader = pullWatching(proxy, replicas[0].url, repo, layer);
    await waitFor("the leader's download to get going", () => proxy.blobBytesSent >= MiB);
    const follower = pullWatching(proxy, replicas[1].url, repo, layer);
    const [a, b] = await Promise.all([leader, follower]);
    console.log(`follower's first byte after ${b.upstreamAtFirstByte} of ${8 * MiB} upstream bytes`);

    for (const r of [a, b]) expect({ status: r.status, complete: r.complete, digest: r.digest }).toEqual({ status: 200, complete: true, digest: layer });
    // The follower's client had bytes while the upstream was still sending the blob to the leader.
    expect(b.upstreamAtFirstByte).not.toBeNull();
    expect(b.upstreamAtFirstByte!).toBeLessThan(8 * MiB);
    expect(blobGets(proxy, repo, layer)).toBe(1);
    expect(await uploadFiles(storage)).toEqual([]);
  });

  it("answers Range requests on the follower from the shared download, and from the cache afterwards, with one upstream GET", async () => {
    const { repo, layer, data } = await coldLayer("range", 8 * MiB);
    proxy.blobRate = 2 * MiB;

    const leader = pullWatching(proxy, replicas[0].url, repo, layer);
    await waitFor("the leader's download to get going", () => proxy.blobBytesSent >= MiB);
    // One range inside what has arrived, one beyond it (the follower waits for those bytes).
    const [early, late] = await Promise.all([
      pullWatching(proxy, replicas[1].url, repo, layer, `bytes=1000-${1000 + MiB - 1}`),
      pullWatching(proxy, replicas[1].url, repo, layer, `bytes=${6 * MiB}-${6 * MiB + 99}`),
    ]);
    expect({ status: early.status, same: early.body.equals(data.subarray(1000, 1000 + MiB)) }).toEqual({ status: 206, same: true });
    expect({ status: late.status, same: late.body.equals(data.subarray(6 * MiB, 6 * MiB + 100)) }).toEqual({ status: 206, same: true });
    expect(early.upstreamAtFirstByte!).toBeLessThan(8 * MiB);
    expect((await leader).digest).toBe(layer);

    const tail = await pullWatching(proxy, replicas[1].url, repo, layer, `bytes=${8 * MiB - 10}-`);
    expect({ status: tail.status, same: tail.body.equals(data.subarray(8 * MiB - 10)) }).toEqual({ status: 206, same: true });
    expect(blobGets(proxy, repo, layer)).toBe(1);
  });

  it("cuts every client's transfer, on both replicas, when the upstream's blob does not match its digest, and caches nothing", async () => {
    const { repo, layer } = await coldLayer("corrupt", 6 * MiB);
    proxy.blobRate = 4 * MiB;
    proxy.corruptNextBlobAt = 3 * MiB;

    const leader = pullWatching(proxy, replicas[0].url, repo, layer);
    await waitFor("the leader's download to get going", () => proxy.blobBytesSent >= MiB / 2);
    const follower = pullWatching(proxy, replicas[1].url, repo, layer);
    const results = await Promise.all([leader, follower]);
    for (const r of results) {
      // Never a complete response: a cut transfer (or an error status), and never the whole length.
      expect(r.complete && r.status === 200).toBe(false);
      expect(r.body.length).toBeLessThan(6 * MiB);
    }
    expect(results[1].body.length).toBeGreaterThan(0); // the follower was streaming when the cut came

    expect(await isStored(storage, layer)).toBe(false);
    await waitFor("the corrupt upload to be removed", async () => (await uploadFiles(storage)).length === 0);

    // Nothing blocks a later fetch, which gets the real blob.
    const retry = await pullWatching(proxy, replicas[1].url, repo, layer);
    expect({ status: retry.status, digest: retry.digest }).toEqual({ status: 200, digest: layer });
    expect(blobGets(proxy, repo, layer)).toBe(2);
  });

  it("lets the other replica take over when the fetching replica's upstream transfer breaks, leaving no partial blob", async () => {
    const { repo, layer } = await coldLayer("broken", 6 * MiB);
    proxy.cutNextBlobAfter = 2 * MiB;
    proxy.blobRate = 4 * MiB;

    const started = Date.now();
    // Replica 0 starts the fetch (its transfer will break); replica 1's client arrives while it is under way.
    const first = pull(replicas[0].url, repo, layer, started);
    await waitFor("replica 0's download to get going", () => proxy.blobBytesSent > 0);
    const second = pull(replicas[1].url, repo, layer, started);
    const [a, b] = await Promise.all([first, second]);

    // The client whose transfer broke must not receive a complete-looking, wrong blob.
    expect(a.digest === layer || a.digest.startsWith("error") || a.status >= 500).toBe(true);
    expect(a.size === -1 || a.size < 6 * MiB || a.digest === layer).toBe(true);
    // The other replica's client gets the right bytes: the lease was released, and it fetched again.
    expect({ status: b.status, digest: b.digest }).toEqual({ status: 200, digest: layer });
    // One broken transfer, one complete one.
    expect(blobGets(proxy, repo, layer)).toBe(2);
    // What is in storage now is the verified blob, both replicas serve it, and no spool file is left over.
    for (const r of replicas) expect((await pull(r.url, repo, layer, Date.now())).digest).toBe(layer);
    for (const r of replicas) await r.deps.mirror!.idle();
    for (const r of replicas) expect(await readdir(path.join(r.dataDir, "spool")).catch(() => [])).toEqual([]);
  });

  it("takes over from a replica killed mid-fetch once its lease lapses, its follower's client getting the whole verified blob", async () => {
    const { repo, layer } = await coldLayer("killed", 6 * MiB);
    const doomed = await spawnReplica({ DATABASE_URL: database.url, BERTH_MIRROR_UPSTREAM: proxy.url, ...storageEnv });
    try {
      proxy.blobRate = MiB;
      const leader = pullWatching(proxy, doomed.url, repo, layer);
      await waitFor("the doomed replica's download to get going", () => proxy.blobBytesSent >= MiB);
      const streamed = { received: 0 };
      const follower = pullWatching(proxy, replicas[1].url, repo, layer, undefined, streamed);
      await waitFor("the follower's client to be streaming", () => streamed.received >= MiB);
      doomed.kill();
      proxy.blobRate = 8 * MiB;
      const [a, b] = await Promise.all([leader, follower]);
      expect(a.complete && a.status === 200 && a.body.length === 6 * MiB).toBe(false);
      // The follower waited out the dead leader's lease, fetched the blob itself, and its client carried on.
      expect({ status: b.status, complete: b.complete, digest: b.digest }).toEqual({ status: 200, complete: true, digest: layer });
      expect(blobGets(proxy, repo, layer)).toBe(2);
      for (const r of replicas) expect((await pull(r.url, repo, layer, Date.now())).digest).toBe(layer);
    } finally {
      await doomed.cleanup();
    }
  }, 120_000);
});
