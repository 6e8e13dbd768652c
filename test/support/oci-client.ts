// A small, typed OCI distribution client over Node's global fetch, for the API integration tests: digests,
// blob pushes (monolithic, POST-then-PUT, chunked), manifest pushes, image builders and an assertion on the
// spec's error body. Everything takes the registry's base URL ("http://127.0.0.1:PORT") per call, so a
// test keeps working after the registry restarts on another port.
import { createHash, randomBytes as cryptoRandomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";

export type DigestAlgorithm = "sha256" | "sha512";

export const MediaTypes = {
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_MANIFEST_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  DOCKER_LAYER: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DOCKER_SCHEMA1: "application/vnd.docker.distribution.manifest.v1+json",
  DOCKER_SCHEMA1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
  urls?: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Bytes and digests

/** "sha256:<hex>" (or sha512) of the bytes. */
export function digestOf(data: Buffer | Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

export function sha256(data: Buffer | Uint8Array | string): string {
  return digestOf(data, "sha256");
}

export function sha512(data: Buffer | Uint8Array | string): string {
  return digestOf(data, "sha512");
}

/** `size` random bytes (fresh content, so a digest never collides with another test's blob). */
export function randomBytes(size: number): Buffer {
  return cryptoRandomBytes(size);
}

/** A random lower-case suffix for unique repository names and tags. */
export function uniqueSuffix(): string {
  return cryptoRandomBytes(5).toString("hex");
}

/** A ReadableStream yielding the given pieces, optionally pausing between them (a client streaming slowly). */
export function streamOf(pieces: Buffer[], delayMs = 0): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i >= pieces.length) {
        controller.close();
        return;
      }
      if (delayMs > 0 && i > 0) await new Promise((r) => setTimeout(r, delayMs));
      controller.enqueue(new Uint8Array(pieces[i].buffer, pieces[i].byteOffset, pieces[i].byteLength));
      i++;
    },
  });
}

/** Digest and byte count of a response body, consumed as a stream (never buffered whole). */
export async function digestResponse(res: Response, algorithm: DigestAlgorithm = "sha256"): Promise<{ digest: string; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      size += value.byteLength;
    }
  }
  return { digest: `${algorithm}:${hash.digest("hex")}`, size };
}

export async function bodyBytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

// ---------------------------------------------------------------------------------------------------------
// URLs

/** The Location header resolved against the registry (the spec allows relative and absolute locations). */
export function locationOf(base: string, res: Response): URL {
  const location = res.headers.get("location");
  if (!location) throw new Error(`expected a Location header on ${res.status} ${res.url}`);
  return new URL(location, base);
}

/** `location` with ?digest=<digest> added, keeping whatever query the registry put there. */
export function withDigest(location: URL, digest: string): string {
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  return url.toString();
}

// ---------------------------------------------------------------------------------------------------------
// Blobs

export interface PushedBlob {
  digest: string;
  response: Response;
}

/** Monolithic push: one POST /v2/<repo>/blobs/uploads/?digest=… carrying the whole blob. */
export async function pushBlob(
  base: string,
  repo: string,
  data: Buffer,
  options: { digest?: string; algorithm?: DigestAlgorithm } = {},
): Promise<PushedBlob> {
  const digest = options.digest ?? digestOf(data, options.algorithm);
  const response = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream" },
    body: data,
  });
  return { digest, response };
}

/** Monolithic push that must succeed (201), for tests whose subject is something else. */
export async function putBlob(base: string, repo: string, data: Buffer, algorithm: DigestAlgorithm = "sha256"): Promise<string> {
  const { digest, response } = await pushBlob(base, repo, data, { algorithm });
  if (response.status !== 201) throw new Error(`pushing blob to ${repo}: ${response.status} ${await response.text()}`);
  return digest;
}

/** POST /v2/<repo>/blobs/uploads/ → the session's Location (expects 202). */
export async function startUpload(base: string, repo: string): Promise<{ location: URL; response: Response }> {
  const response = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "Content-Length": "0" } });
  if (response.status !== 202) throw new Error(`starting an upload in ${repo}: ${response.status} ${await response.text()}`);
  return { location: locationOf(base, response), response };
}

/** PATCH one chunk with Content-Range: <start>-<end> (inclusive). */
export function patchChunk(location: URL | string, chunk: Buffer, start: number): Promise<Response> {
  return fetch(location, {
    method: "PATCH",
    headers: {
      "Content-Type": "application/octet-stream",
      "Content-Range": `${start}-${start + chunk.length - 1}`,
    },
    body: chunk,
  });
}

/** PATCH a streamed body of unknown length (chunked transfer encoding, no Content-Range). */
export function patchStream(location: URL | string, body: ReadableStream<Uint8Array>): Promise<Response> {
  return fetch(location, {
    method: "PATCH",
    headers: { "Content-Type": "application/octet-stream" },
    body,
    duplex: "half",
  } as RequestInit);
}

/** PUT <location>?digest=… closing the session, with an optional last chunk. */
export function finishUpload(location: URL, digest: string, body?: Buffer): Promise<Response> {
  return fetch(withDigest(location, digest), {
    method: "PUT",
    headers: { "Content-Type": "application/octet-stream", ...(body ? {} : { "Content-Length": "0" }) },
    body,
  });
}

export interface ChunkedPushOptions {
  chunkSize: number;
  algorithm?: DigestAlgorithm;
  /** Claimed digest (default: the data's). */
  digest?: string;
  /** Send the last chunk in the closing PUT rather than in a PATCH. */
  lastChunkInPut?: boolean;
}

/**
 * Chunked push: POST, one PATCH per chunk with Content-Range (checking each 202's Range and Location, and
 * following the Location each answer gives), then PUT ?digest=. Returns the PUT's response.
 */
export async function pushBlobChunked(base: string, repo: string, data: Buffer, options: ChunkedPushOptions): Promise<PushedBlob> {
  const digest = options.digest ?? digestOf(data, options.algorithm);
  let { location } = await startUpload(base, repo);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += options.chunkSize) chunks.push(data.subarray(offset, offset + options.chunkSize));
  const last = options.lastChunkInPut ? chunks.pop() : undefined;
  let offset = 0;
  for (const chunk of chunks) {
    const res = await patchChunk(location, chunk, offset);
    if (res.status !== 202) throw new Error(`PATCH ${offset}-${offset + chunk.length - 1}: ${res.status} ${await res.text()}`);
    offset += chunk.length;
    const range = res.headers.get("range");
    if (range !== `0-${offset - 1}`) throw new Error(`PATCH answered Range ${range}, expected 0-${offset - 1}`);
    location = locationOf(base, res);
  }
  const response = await finishUpload(location, digest, last);
  return { digest, response };
}

// ---------------------------------------------------------------------------------------------------------
// Manifests

/** PUT /v2/<repo>/manifests/<ref>; objects are serialised with JSON.stringify, strings and Buffers sent as is. */
export function pushManifest(base: string, repo: string, ref: string, manifest: object | string | Buffer, mediaType: string): Promise<Response> {
  const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(typeof manifest === "string" ? manifest : JSON.stringify(manifest));
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: "PUT", headers: { "Content-Type": mediaType }, body });
}

export function getManifest(base: string, repo: string, ref: string, accept?: string, method: "GET" | "HEAD" = "GET"): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, { method, headers: accept === undefined ? {} : { Accept: accept } });
}

export interface Blob {
  data: Buffer;
  descriptor: Descriptor;
}

export interface BuiltManifest {
  mediaType: string;
  /** The exact bytes to push (and to expect back). */
  bytes: Buffer;
  digest: string;
  descriptor: Descriptor;
}

export interface BuiltImage extends BuiltManifest {
  config: Blob;
  layers: Blob[];
}

export function blobOf(data: Buffer, mediaType: string): Blob {
  return { data, descriptor: { mediaType, digest: sha256(data), size: data.length } };
}

export function manifestOf(bytes: Buffer | string, mediaType: string, extra: Partial<Descriptor> = {}): BuiltManifest {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const digest = sha256(buffer);
  return { mediaType, bytes: buffer, digest, descriptor: { mediaType, digest, size: buffer.length, ...extra } };
}

/**
 * An image manifest with real config and layer blobs. The JSON is written by hand with odd whitespace, key
 * order and a trailing newline, so a registry that re-serialises instead of storing bytes is caught.
 */
export function buildImage(
  options: {
    format?: "oci" | "docker";
    layers?: number;
    layerSize?: number;
    config?: Buffer;
    configMediaType?: string;
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  } = {},
): BuiltImage {
  const docker = options.format === "docker";
  const mediaType = docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
  const configData =
    options.config ??
    Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: uniqueSuffix() }));
  const config = blobOf(configData, options.configMediaType ?? (docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG));
  const layers = Array.from({ length: options.layers ?? 2 }, () =>
    blobOf(randomBytes(options.layerSize ?? 512), docker ? MediaTypes.DOCKER_LAYER : MediaTypes.OCI_LAYER),
  );
  const parts = [
    `"layers" : [ ${layers.map((l) => descriptorJson(l.descriptor)).join(" ,\n\t")} ]`,
    `\t"schemaVersion":2`,
    ...(options.annotations ? [`"annotations":${JSON.stringify(options.annotations, null, 3)}`] : []),
    `"config":${descriptorJson(config.descriptor)}`,
    `  "mediaType" :  "${mediaType}"`,
    ...(options.artifactType ? [`"artifactType": "${options.artifactType}"`] : []),
    ...(options.subject ? [`"subject" : ${descriptorJson(options.subject)}`] : []),
  ];
  const bytes = Buffer.from(`{\n${parts.join(",\n")}\r\n}\n`);
  return { ...manifestOf(bytes, mediaType), config, layers };
}

/** An image index (or Docker manifest list) naming the given manifests, with the same odd formatting. */
export function buildIndex(
  children: BuiltManifest[],
  options: { format?: "oci" | "docker"; artifactType?: string; subject?: Descriptor; annotations?: Record<string, string> } = {},
): BuiltManifest {
  const mediaType = options.format === "docker" ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX;
  const platforms = [
    { architecture: "amd64", os: "linux" },
    { architecture: "arm64", os: "linux", variant: "v8" },
  ];
  const entries = children.map((c, i) => descriptorJson({ ...c.descriptor, platform: platforms[i % platforms.length] }));
  const parts = [
    `"manifests":[\n    ${entries.join(",\n    ")}\n  ]`,
    `"mediaType":"${mediaType}"`,
    ...(options.artifactType ? [`"artifactType":"${options.artifactType}"`] : []),
    ...(options.subject ? [`"subject":${descriptorJson(options.subject)}`] : []),
    ...(options.annotations ? [`"annotations":${JSON.stringify(options.annotations)}`] : []),
    `"schemaVersion" : 2`,
  ];
  return manifestOf(`{  ${parts.join(" ,  ")}  }\n\n`, mediaType);
}

/** A descriptor in JSON with keys in a non-canonical order. */
function descriptorJson(d: Descriptor): string {
  const { size, digest, mediaType, ...rest } = d;
  const extra = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `, "${k}": ${JSON.stringify(v)}`)
    .join("");
  return `{ "size": ${size},"digest" :"${digest}",  "mediaType":"${mediaType}"${extra} }`;
}

/**
 * Pushes an image the way every registry accepts, the CNCF registry included (it has no single-POST
 * upload): POST then PUT per blob, then the manifest under `ref`.
 */
export async function pushImageTwoStep(base: string, repo: string, image: BuiltImage, ref: string = image.digest): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) {
    const { location } = await startUpload(base, repo);
    const done = await finishUpload(location, blob.descriptor.digest, blob.data);
    if (done.status !== 201) throw new Error(`push of ${blob.descriptor.digest} to ${repo}: ${done.status}`);
  }
  return pushManifest(base, repo, ref, image.bytes, image.mediaType);
}

/** Pushes an image's config and layers (monolithically) and then its manifest under `ref`. */
export async function pushImage(base: string, repo: string, image: BuiltImage, ref: string = image.digest): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) await putBlob(base, repo, blob.data);
  return pushManifest(base, repo, ref, image.bytes, image.mediaType);
}

// ---------------------------------------------------------------------------------------------------------
// Errors

export interface OciErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>;
}

/**
 * Asserts the response is an OCI error: `status`, Content-Type application/json and a body of the form
 * {"errors":[{"code":<code>,"message":<string>,"detail"?:…}]}. Returns the parsed body.
 */
export async function expectOciError(res: Response, status: number, code: string): Promise<OciErrorBody> {
  const text = await res.text();
  const context = `${res.status} ${res.url}: ${text.slice(0, 500)}`;
  expect({ status: res.status, context }).toEqual({ status, context });
  expect(res.headers.get("content-type")?.split(";")[0].trim()).toBe("application/json");
  let body: OciErrorBody;
  try {
    body = JSON.parse(text) as OciErrorBody;
  } catch {
    throw new Error(`error body is not JSON: ${context}`);
  }
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.errors.length).toBeGreaterThan(0);
  for (const error of body.errors) {
    expect(typeof error.code).toBe("string");
    expect(typeof error.message).toBe("string");
  }
  expect(body.errors.map((e) => e.code)).toContain(code);
  return body;
}

// ---------------------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request whose path goes out exactly as written (fetch's URL parser would resolve "..", "%2e%2e" and
 * "//" before sending), and without the Accept header fetch adds.
 */
export function rawRequest(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...(options.body ? { "Content-Length": String(options.body.length) } : {}), ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** expectOciError for a RawResponse. */
export function expectRawOciError(res: RawResponse, status: number, code: string): OciErrorBody {
  const text = res.body.toString("utf8");
  expect({ status: res.status, body: text.slice(0, 500) }).toEqual({ status, body: expect.any(String) });
  expect(String(res.headers["content-type"]).split(";")[0].trim()).toBe("application/json");
  const body = JSON.parse(text) as OciErrorBody;
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.errors.length).toBeGreaterThan(0);
  for (const error of body.errors) {
    expect(typeof error.code).toBe("string");
    expect(typeof error.message).toBe("string");
  }
  expect(body.errors.map((e) => e.code)).toContain(code);
  return body;
}

/** The URL in a `Link: <url>; rel="next"` header, resolved against the registry, or null. */
export function nextLink(base: string, res: Response): string | null {
  const link = res.headers.get("link");
  if (!link) return null;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!m) throw new Error(`malformed Link header: ${link}`);
  return new URL(m[1], base).toString();
}

// ---------------------------------------------------------------------------------------------------------
// One connection, by hand

export interface ConnectionReuseResult {
  /** The answer to the streamed request (null if none came). */
  first: RawResponse | null;
  /** Whether the whole chunked body could be written (false: the server stopped reading it). */
  bodyWritten: boolean;
  /** Whether the server closed the connection after answering. */
  serverClosed: boolean;
  /** Status of a follow-up `GET /v2/` sent on the same connection, when it was still open (null: no answer). */
  followUp: number | null;
}

/**
 * Sends `method path` with a chunked (no Content-Length) body over a fresh TCP connection, then, unless the
 * server closed it, a `GET /v2/` on the same connection. A server that answers early and then neither reads
 * the rest of the body nor closes the connection leaves it hanging: this tells those cases apart without
 * tying up fetch's connection pool.
 */
export async function chunkedRequestThenReuse(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
  timeoutMs = 5000,
): Promise<ConnectionReuseResult> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let received = Buffer.alloc(0);
  let serverClosed = false;
  socket.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
  socket.on("end", () => (serverClosed = true));
  socket.on("close", () => (serverClosed = true));
  socket.on("error", () => (serverClosed = true));
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const writeAll = async (data: Buffer | string): Promise<boolean> => {
    if (serverClosed) return false;
    if (socket.write(data)) return true;
    const drained = await Promise.race([
      new Promise<boolean>((r) => socket.once("drain", () => r(true))),
      wait(timeoutMs).then(() => false),
    ]);
    return drained && !serverClosed;
  };
  try {
    const head = [`${method} ${path} HTTP/1.1`, `Host: ${url.host}`, "Transfer-Encoding: chunked", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    let bodyWritten = await writeAll(`${head.join("\r\n")}\r\n\r\n`);
    for (const chunk of chunks) {
      if (!bodyWritten) break;
      bodyWritten = (await writeAll(`${chunk.length.toString(16)}\r\n`)) && (await writeAll(chunk)) && (await writeAll("\r\n"));
    }
    if (bodyWritten) bodyWritten = await writeAll("0\r\n\r\n");

    const deadline = Date.now() + timeoutMs;
    let parsed = parseResponses(received);
    while (parsed.length < 1 && !serverClosed && Date.now() < deadline) {
      await wait(20);
      parsed = parseResponses(received);
    }
    let followUp: number | null = null;
    if (!serverClosed && bodyWritten) {
      socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      const until = Date.now() + timeoutMs;
      while (parseResponses(received).length < 2 && !serverClosed && Date.now() < until) await wait(20);
      parsed = parseResponses(received);
      followUp = parsed[1]?.status ?? null;
    }
    return { first: parsed[0] ?? null, bodyWritten, serverClosed, followUp };
  } finally {
    socket.destroy();
  }
}

/** The complete HTTP/1.1 responses (with Content-Length bodies) at the start of `data`. */
function parseResponses(data: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end === -1) return out;
    const lines = data.subarray(at, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
    const headers: http.IncomingHttpHeaders = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    if (data.length < end + 4 + length) return out;
    out.push({ status, headers, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
}
