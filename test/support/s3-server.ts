// A real S3-compatible server on 127.0.0.1 for the tests: s3rver, run in a child process (s3rver-process.js)
// so a test can stop it abruptly (SIGKILL, like a crashed or unreachable object store) and start it again
// on the same port and data directory. Tests talk to it only through @aws-sdk/client-s3 (via the driver).
//
// What s3rver (3.7) lacks, checked in its routes: ListParts, ListMultipartUploads, AbortMultipartUpload
// (405), UploadPartCopy (501 NotImplemented), conditional requests other than If-None-Match /
// If-Modified-Since, and it enforces neither the 5 MiB minimum part size nor part ETags at
// CompleteMultipartUpload. It also answers `Range: bytes=0-0` with the whole object and overwrites objects
// in place (not atomically). The S3 driver depends on none of those calls or behaviours; the tests check
// the part-size rule themselves (test/integration/storage-s3.test.ts).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { S3Driver, type S3DriverOptions } from "../../src/storage/s3";

export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface S3TestServer {
  /** "http://127.0.0.1:PORT" */
  endpoint: string;
  bucket: string;
  directory: string;
  /** Options for an S3Driver on this server (a fresh key prefix each call unless given). */
  driverOptions(extra?: Partial<S3DriverOptions>): S3DriverOptions;
  driver(extra?: Partial<S3DriverOptions>): S3Driver;
  /** The `storage` section of a Berth config using this server. */
  storageConfig(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Kills the server at once (open connections are cut), keeping its data. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  readonly running: boolean;
  /** Kills it and removes its data. */
  close(): Promise<void>;
}

const SCRIPT = path.join(__dirname, "s3rver-process.js");

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? "berth-test";
  const directory = await mkdtemp(path.join(os.tmpdir(), "berth-s3-"));
  let child: ChildProcess | undefined;
  let port = 0;
  const killAtExit = () => child?.kill("SIGKILL");
  process.on("exit", killAtExit);

  const launch = async () => {
    // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    const proc = spawn(process.execPath, ["--openssl-legacy-provider", SCRIPT, directory, String(port), bucket], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    let err = "";
    proc.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once("exit", (code) => reject(new Error(`s3rver exited with ${code} during start-up: ${err}`)));
    });
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  };

  try {
    await launch();
  } catch (err) {
    process.removeListener("exit", killAtExit);
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const server: S3TestServer = {
    endpoint,
    bucket,
    directory,
    driverOptions: (extra = {}) => ({
      bucket,
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      prefix: `t-${randomBytes(4).toString("hex")}`,
      ...extra,
    }),
    driver: (extra = {}) => new S3Driver(server.driverOptions(extra)),
    storageConfig: (extra = {}) => ({
      driver: "s3",
      s3: { bucket, endpoint, region: "us-east-1", forcePathStyle: true, ...S3RVER_CREDENTIALS, prefix: `r-${randomBytes(4).toString("hex")}`, ...extra },
    }),
    kill,
    start: async () => {
      if (child) return;
      await launch();
    },
    get running() {
      return child !== undefined;
    },
    close: async () => {
      await kill();
      process.removeListener("exit", killAtExit);
      await rm(directory, { recursive: true, force: true });
    },
  };
  return server;
}
