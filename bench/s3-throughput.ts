// Blob push/pull throughput of Berth on S3 (s3rver on 127.0.0.1) vs on the filesystem, in one self-contained
// script (the main benchmark harness lives elsewhere under bench/). Each Berth is the built dist/main.js in
// its own process, on a throwaway PostgreSQL; the client is this process (Node fetch). It also measures the
// object store alone through the AWS SDK: the ceiling Berth-on-S3 can reach here.
//
//   npm run build && npx tsx bench/s3-throughput.ts [--size-mib 64] [--count 4] [--concurrency 4] [--reps 2]
//
// Numbers are MiB/s of blob payload, best of the repetitions. Client, Berth, s3rver and Postgres all share
// this machine's cores, so read them as a comparison between storages, not as absolute capacity.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3Driver } from "../src/storage/s3";
import { createTestDatabase, startPostgres } from "../test/support/postgres";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../test/support/s3-server";
import { freePort } from "../test/support/free-port";

const MiB = 1024 * 1024;
const MAIN = path.resolve(__dirname, "../dist/main.js");

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
const SIZE = arg("size-mib", 64) * MiB;
const COUNT = arg("count", 4);
const CONCURRENCY = arg("concurrency", 4);
const REPS = arg("reps", 2);
const CHUNK = 4 * MiB;

interface Blob {
  data: Buffer;
  digest: string;
}

/** Distinct blobs (no dedup between runs) sharing one random buffer: the first 8 bytes make each unique. */
const base = randomBytes(SIZE);
let serial = 0;
function freshBlob(): Blob {
  const data = Buffer.from(base);
  data.writeDoubleLE(++serial + Math.random(), 0);
  return { data, digest: `sha256:${createHash("sha256").update(data).digest("hex")}` };
}

async function startBerth(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, "serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    env: { ...process.env, BERTH_LOG_LEVEL: "warn", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; ; ) {
    if (child.exitCode !== null) throw new Error(`berth exited with ${child.exitCode}`);
    if (await fetch(`${url}/v2/`).then((r) => r.ok, () => false)) return { url, child };
    if (Date.now() > deadline) throw new Error("berth did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}

function check(res: Response, expected: number, what: string): void {
  if (res.status !== expected) throw new Error(`${what}: ${res.status}`);
}

/** docker/skopeo style: POST, one streamed PATCH, PUT ?digest=. */
async function pushStreamed(url: string, repo: string, blob: Blob): Promise<void> {
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  check(start, 202, "POST");
  const location = new URL(start.headers.get("location")!, url);
  const patch = await fetch(location, { method: "PATCH", body: blob.data, headers: { "Content-Type": "application/octet-stream" } });
  check(patch, 202, "PATCH");
  const put = new URL(patch.headers.get("location")!, url);
  put.searchParams.set("digest", blob.digest);
  check(await fetch(put, { method: "PUT" }), 201, "PUT");
}

/** Chunked with Content-Range, CHUNK bytes per PATCH (below S3's 5 MiB part minimum on purpose). */
async function pushChunked(url: string, repo: string, blob: Blob): Promise<void> {
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  check(start, 202, "POST");
  let location = new URL(start.headers.get("location")!, url);
  for (let offset = 0; offset < blob.data.length; offset += CHUNK) {
    const chunk = blob.data.subarray(offset, offset + CHUNK);
    const res = await fetch(location, {
      method: "PATCH",
      body: chunk,
      headers: { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + chunk.length - 1}` },
    });
    check(res, 202, "PATCH");
    location = new URL(res.headers.get("location")!, url);
  }
  location.searchParams.set("digest", blob.digest);
  check(await fetch(location, { method: "PUT" }), 201, "PUT");
}

async function pull(url: string, repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/blobs/${blob.digest}`);
  check(res, 200, "GET");
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) size += chunk.byteLength;
  if (size !== blob.data.length) throw new Error(`pulled ${size} of ${blob.data.length} bytes`);
}

/** Runs `op` over `items` with `parallel` at a time; returns MiB/s over the wall time. */
async function rate<T>(items: T[], parallel: number, op: (item: T) => Promise<void>, bytes: (item: T) => number): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await op(items[next++]);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return items.reduce((sum, item) => sum + bytes(item), 0) / MiB / seconds;
}

async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPS; i++) top = Math.max(top, await run());
  return top;
}

type Row = Record<string, number>;

async function benchBerth(url: string): Promise<Row> {
  const repo = `bench/${randomBytes(4).toString("hex")}`;
  const size = (b: Blob) => b.data.length;
  const pushed: Blob[] = [];
  const row: Row = {};
  row["push 1×"] = await best(() => rate([freshBlob()], 1, async (b) => (await pushStreamed(url, repo, b), void pushed.push(b)), size));
  row[`push ${CONCURRENCY}∥`] = await best(() =>
    rate(Array.from({ length: COUNT }, freshBlob), CONCURRENCY, async (b) => (await pushStreamed(url, repo, b), void pushed.push(b)), size),
  );
  row[`chunked ${CHUNK / MiB} MiB`] = await best(() => rate([freshBlob()], 1, (b) => pushChunked(url, repo, b), size));
  row["pull 1×"] = await best(() => rate(pushed.slice(0, 1), 1, (b) => pull(url, repo, b), size));
  row[`pull ${CONCURRENCY}∥`] = await best(() => rate(pushed.slice(0, COUNT), CONCURRENCY, (b) => pull(url, repo, b), size));
  return row;
}

async function benchStore(s3: S3TestServer): Promise<Row> {
  const driver = new S3Driver(s3.driverOptions({ prefix: "raw" }));
  const put = async (b: Blob) => {
    await driver.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `raw/${b.digest}`, Body: b.data, ContentLength: b.data.length }));
  };
  const get = async (b: Blob) => {
    const res = await driver.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `raw/${b.digest}` }));
    for await (const _ of res.Body as AsyncIterable<Uint8Array>) void _;
  };
  const size = (b: Blob) => b.data.length;
  const blobs = Array.from({ length: COUNT }, freshBlob);
  const row: Row = {};
  row["push 1×"] = await best(() => rate(blobs.slice(0, 1), 1, put, size));
  row[`push ${CONCURRENCY}∥`] = await best(() => rate(blobs, CONCURRENCY, put, size));
  row["pull 1×"] = await best(() => rate(blobs.slice(0, 1), 1, get, size));
  row[`pull ${CONCURRENCY}∥`] = await best(() => rate(blobs, CONCURRENCY, get, size));
  return row;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "berth-bench-s3-"));
  const postgres = await startPostgres();
  const s3 = await startS3Server({ bucket: "bench" });
  const children: ChildProcess[] = [];
  try {
    const rows: Array<[string, Row]> = [];
    const fsDb = await createTestDatabase(postgres.adminUrl);
    const fs = await startBerth({ DATABASE_URL: fsDb.url, BERTH_STORAGE: "fs", BERTH_STORAGE_FSYNC: "true" }, path.join(work, "fs"));
    children.push(fs.child);
    rows.push(["berth, filesystem", await benchBerth(fs.url)]);
    const s3Db = await createTestDatabase(postgres.adminUrl);
    const onS3 = await startBerth(
      {
        DATABASE_URL: s3Db.url,
        BERTH_STORAGE: "s3",
        BERTH_S3_BUCKET: s3.bucket,
        BERTH_S3_ENDPOINT: s3.endpoint,
        BERTH_S3_FORCE_PATH_STYLE: "true",
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      },
      path.join(work, "s3"),
    );
    children.push(onS3.child);
    rows.push(["berth, S3 (s3rver)", await benchBerth(onS3.url)]);
    rows.push(["s3rver alone (AWS SDK)", await benchStore(s3)]);

    const columns = [...new Set(rows.flatMap(([, r]) => Object.keys(r)))];
    console.log(`\nblob throughput, MiB/s (blobs of ${SIZE / MiB} MiB, ${COUNT} per parallel run, best of ${REPS}; ${os.cpus().length} cores)\n`);
    console.log(["", ...columns].map((c, i) => (i === 0 ? c.padEnd(24) : c.padStart(15))).join(""));
    for (const [name, row] of rows) {
      console.log([name.padEnd(24), ...columns.map((c) => (row[c] === undefined ? "—" : row[c].toFixed(0)).padStart(15))].join(""));
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await s3.close();
    await postgres.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
