// The load generator's registry client: the OCI distribution calls the workloads need, over an undici
// Pool of keep-alive connections (one per concurrent worker, no pipelining). Speaks only the parts of
// the protocol both registries implement: POST-then-PUT monolithic uploads, PATCH chunks with
// Content-Range, streamed PATCH, GET with client-side sha256, Range GET, HEAD, manifest PUT/GET.
// HEAD goes through ./head-client instead: undici closes the connection after every HEAD (a guard
// against servers that send a body anyway), which would turn a HEAD benchmark into a TCP accept
// benchmark; docker and containerd keep those connections alive.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { Pool } from "undici";
import type { Payload } from "./data";
import { HeadClient } from "./head-client";

export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

type Body = Buffer | string | Readable | null;

export class RegistryError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly text: string,
  ) {
    super(`${method} ${path} answered ${status}: ${text.slice(0, 500)}`);
  }
}

export class RegistryClient {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly heads: HeadClient;

  constructor(host: string, connections = 1) {
    this.origin = `http://${host}`;
    this.heads = new HeadClient(host);
    this.pool = new Pool(this.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      // Large blobs on a loaded 2-core machine: never let undici's timeouts cut a slow transfer.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  close(): Promise<void> {
    this.heads.close();
    return this.pool.close();
  }

  private async call(method: string, path: string, expect: number, headers: Record<string, string> = {}, body: Body = null) {
    const res = await this.pool.request({ method: method as "GET", path, headers, body: body ?? undefined });
    if (res.statusCode !== expect) {
      const text = await res.body.text().catch(() => "");
      throw new RegistryError(method, path, res.statusCode, text);
    }
    return res;
  }

  /** Path and query of a Location header, which may be absolute (CNCF) or relative (Berth). */
  private location(value: string | string[] | undefined, method: string, path: string): string {
    if (typeof value !== "string") throw new RegistryError(method, path, 0, "no Location header");
    const url = new URL(value, this.origin);
    return url.pathname + url.search;
  }

  private withDigest(location: string, digest: string): string {
    return `${location}${location.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
  }

  /** POST /blobs/uploads/ → the upload's location. */
  async startUpload(repo: string): Promise<string> {
    const path = `/v2/${repo}/blobs/uploads/`;
    const res = await this.call("POST", path, 202, { "content-length": "0" });
    await res.body.dump();
    return this.location(res.headers.location, "POST", path);
  }

  /** Monolithic push as docker does it: POST, then PUT ?digest= with the whole body. */
  async pushMonolithic(repo: string, blob: Payload): Promise<void> {
    const location = await this.startUpload(repo);
    const res = await this.call(
      "PUT",
      this.withDigest(location, blob.digest),
      201,
      { "content-type": "application/octet-stream", "content-length": String(blob.data.length) },
      blob.data,
    );
    await res.body.dump();
  }

  /** Chunked push: POST, one PATCH per chunk with Content-Range, then an empty PUT ?digest=. */
  async pushChunked(repo: string, blob: Payload, chunkSize: number): Promise<void> {
    let location = await this.startUpload(repo);
    for (let start = 0; start < blob.data.length; start += chunkSize) {
      const chunk = blob.data.subarray(start, Math.min(start + chunkSize, blob.data.length));
      const res = await this.call(
        "PATCH",
        location,
        202,
        {
          "content-type": "application/octet-stream",
          "content-length": String(chunk.length),
          "content-range": `${start}-${start + chunk.length - 1}`,
        },
        chunk,
      );
      await res.body.dump();
      location = this.location(res.headers.location, "PATCH", location);
    }
    const res = await this.call("PUT", this.withDigest(location, blob.digest), 201, { "content-length": "0" });
    await res.body.dump();
  }

  /** Streamed push of unknown length (chunked transfer encoding), hashed on the way: POST, PATCH, PUT. */
  async pushStream(repo: string, chunks: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
    let location = await this.startUpload(repo);
    const hash = createHash("sha256");
    let size = 0;
    async function* tapped() {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    const patched = await this.call("PATCH", location, 202, { "content-type": "application/octet-stream" }, Readable.from(tapped()));
    await patched.body.dump();
    location = this.location(patched.headers.location, "PATCH", location);
    const digest = `sha256:${hash.digest("hex")}`;
    const res = await this.call("PUT", this.withDigest(location, digest), 201, { "content-length": "0" });
    await res.body.dump();
    return { digest, size };
  }

  /** GET a blob, hashing it as it arrives; throws unless size and sha256 match. Returns the byte count. */
  async pullVerified(repo: string, digest: string, size?: number): Promise<number> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const res = await this.call("GET", path, 200);
    const hash = createHash("sha256");
    let n = 0;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== digest || (size !== undefined && n !== size)) {
      throw new Error(`GET ${path}: got ${n} bytes with digest ${actual}`);
    }
    return n;
  }

  /** GET a blob and drop the bytes (profiling the server's read path without client hashing). */
  async pullDiscard(repo: string, digest: string): Promise<void> {
    const res = await this.call("GET", `/v2/${repo}/blobs/${digest}`, 200);
    await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
  }

  /** GET with Range: bytes=start-end (inclusive) → the bytes (206 expected). */
  async pullRange(repo: string, digest: string, start: number, end: number): Promise<Buffer> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const res = await this.call("GET", path, 206, { range: `bytes=${start}-${end}` });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** HEAD a blob on a keep-alive connection (one per concurrent caller). */
  async headBlob(repo: string, digest: string): Promise<void> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const status = await this.heads.head(path);
    if (status !== 200) throw new RegistryError("HEAD", path, status, "");
  }

  async putManifest(repo: string, reference: string, content: Buffer, mediaType: string): Promise<void> {
    const res = await this.call(
      "PUT",
      `/v2/${repo}/manifests/${reference}`,
      201,
      { "content-type": mediaType, "content-length": String(content.length) },
      content,
    );
    await res.body.dump();
  }

  /** GET a manifest; returns its bytes. */
  async getManifest(repo: string, reference: string): Promise<Buffer> {
    const res = await this.call("GET", `/v2/${repo}/manifests/${reference}`, 200, { accept: MANIFEST_ACCEPT });
    return Buffer.from(await res.body.arrayBuffer());
  }
}
