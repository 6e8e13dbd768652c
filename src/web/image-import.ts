import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { DomainError } from "../kernel/errors";
import { CountingStream } from "../kernel/counting-stream";
import { JsonInputError, parseJson } from "../kernel/text";
import { OciError } from "../http/errors";
import type { TagName } from "../kernel/names";
import { parseTag } from "../kernel/names";
import { parseDigest, type Digest } from "../kernel/digest";
import { parseManifest } from "../registry/manifest-parser";
import { INDEX_TYPES, MediaType } from "../kernel/media-types";
import { formatPlatform, summarizeManifest } from "./image-info";

/** A bad archive: the message says what is wrong with it, for the person who uploaded it. */
export function archiveError(message: string): DomainError {
  return new DomainError("InvalidRequest", `bad image archive: ${message}`);
}

export interface ExtractLimits {
  /** Bytes the archive may unpack to (the tar stream, after decompression). */
  maxBytes: number;
  /** Most the unpacked bytes may exceed the received ones by, once past EXPANSION_FLOOR_BYTES. */
  maxRatio: number;
  maxEntries: number;
  /** Called with the bytes unpacked so far before they go on to disk: claims room for them, or fails (507). */
  room?: (unpacked: number) => Promise<void>;
  /** Called with the bytes of each chunk written to the work directory. */
  written?: (bytes: number) => void;
}

/** Below this, any ratio is allowed: a small archive of small text files compresses far better than 100:1. */
const EXPANSION_FLOOR_BYTES = 16 * 1024 * 1024;

/**
 * Counts what goes into the decompressor and what comes out, chunk by chunk, and fails the moment the
 * output passes the absolute bound or the ratio to the input (a gzip bomb is stopped after a bounded
 * number of bytes, not once it has filled the disk), or the disk has no room for it.
 */
function expansionMeter(limits: ExtractLimits): { received: CountingStream; unpacked: CountingStream } {
  const received = new CountingStream();
  const unpacked = new CountingStream((_chunk, total) => {
    if (total > limits.maxBytes) return archiveError(`it unpacks to more than ${limits.maxBytes} bytes (web.importMaxExpandedBytes)`);
    if (total > EXPANSION_FLOOR_BYTES && total > received.bytes * limits.maxRatio) {
      return archiveError(`it unpacks to more than ${limits.maxRatio} times its compressed size (web.importMaxExpansionRatio); a compression bomb?`);
    }
    return limits.room?.(total);
  });
  return { received, unpacked };
}

interface ExtractedFile {
  file: string;
  size: number;
  sha256: string;
}

/** What a tarball held: its regular files (on disk, hashed while written) and its links. */
export class ArchiveFiles {
  readonly files = new Map<string, ExtractedFile>();
  readonly links = new Map<string, string>();

  get(name: string): ExtractedFile | null {
    let current = normalizeEntryName(name, true);
    for (let hops = 0; hops < 16; hops++) {
      const file = this.files.get(current);
      if (file) return file;
      const target = this.links.get(current);
      if (target === undefined) return null;
      current = target;
    }
    throw archiveError(`too many levels of links at ${name}`);
  }

  async read(name: string, limit: number): Promise<Buffer | null> {
    const file = this.get(name);
    if (!file) return null;
    if (file.size > limit) throw archiveError(`${name} is larger than ${limit} bytes`);
    return readFile(file.file);
  }

  async json(name: string): Promise<unknown> {
    const raw = await this.read(name, 4 * 1024 * 1024);
    if (!raw) return undefined;
    try {
      return parseJson(raw.toString("utf8"));
    } catch (err) {
      throw archiveError(`${name} is ${err instanceof JsonInputError ? err.message : "not valid JSON"}`);
    }
  }
}

/**
 * Unpacks a tar (or gzipped tar) stream into `dir`, one file per regular entry, hashing each while it is
 * written. Names that leave the archive (absolute, "..") are refused; devices and the like are skipped.
 */
export async function extractArchive(source: Readable, dir: string, limits: ExtractLimits): Promise<ArchiveFiles> {
  const result = new ArchiveFiles();
  const input = await peekCompression(source);
  const ex = tarExtract();
  let entries = 0;
  const consume = (async () => {
    for await (const entry of ex) {
      const header = entry.header;
      if (++entries > limits.maxEntries) throw archiveError(`more than ${limits.maxEntries} entries`);
      const name = normalizeEntryName(header.name, false);
      if ((header.type === "file" || header.type === "contiguous-file") && name) {
        const file = path.join(dir, String(entries));
        const hash = createHash("sha256");
        const tap = new CountingStream((chunk) => {
          hash.update(chunk);
          limits.written?.(chunk.length);
        });
        await pipeline(entry, tap, createWriteStream(file));
        result.files.set(name, { file, size: tap.bytes, sha256: `sha256:${hash.digest("hex")}` });
      } else {
        if (header.type === "symlink" && name && header.linkname) {
          result.links.set(name, resolveLink(name, header.linkname));
        } else if (header.type === "link" && name && header.linkname) {
          result.links.set(name, normalizeEntryName(header.linkname, true));
        }
        entry.resume();
        await new Promise<void>((resolve, reject) => entry.once("end", resolve).once("error", reject));
      }
    }
  })();
  const meter = expansionMeter(limits);
  const feeding = (
    input.gzip ? pipeline(input.stream, meter.received, createGunzip(), meter.unpacked, ex) : pipeline(input.stream, meter.received, meter.unpacked, ex)
  ).catch((err: Error) => {
    ex.destroy(err);
    throw err;
  });
  // Both sides settle before this returns, so no file is still being written when the caller removes `dir`.
  const [fed, consumed] = await Promise.allSettled([
    feeding,
    consume.catch((err) => {
      ex.destroy(err as Error);
      throw err;
    }),
  ]);
  const failures = [fed, consumed].flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
  if (failures.length) {
    // One side's failure makes the other fail too ("premature close"): report the one that says why.
    throw failures.find((err) => err instanceof OciError || err instanceof DomainError) ?? archiveError(`not a readable tar archive (${failures[0].message})`);
  }
  if (entries === 0) throw archiveError("the archive is empty");
  return result;
}

/** Reads the first chunk to tell a gzipped tar from a plain one; the stream returned starts with that chunk. */
async function peekCompression(source: Readable): Promise<{ stream: Readable; gzip: boolean }> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer | undefined = first.done ? undefined : (first.value as Buffer);
  const stream = Readable.from(
    (async function* () {
      if (head) yield head;
      for (;;) {
        const next = await it.next();
        if (next.done) return;
        yield next.value as Buffer;
      }
    })(),
    { objectMode: false },
  );
  return { stream, gzip: !!head && head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b };
}

/** "./a//b" → "a/b"; refuses absolute names and "..": an archive entry never lands outside the archive. */
function normalizeEntryName(name: string, allowEmpty: boolean): string {
  if (name.startsWith("/")) throw archiveError(`entry ${name.slice(0, 200)} has an absolute path`);
  const parts: string[] = [];
  for (const seg of name.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") throw archiveError(`entry ${name.slice(0, 200)} points outside the archive`);
    parts.push(seg);
  }
  const out = parts.join("/");
  if (!out && !allowEmpty) return "";
  return out;
}

function resolveLink(name: string, target: string): string {
  if (target.startsWith("/")) throw archiveError(`link ${name} points outside the archive`);
  const parts = name.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!parts.length) throw archiveError(`link ${name} points outside the archive`);
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

/** Where imported content goes: the registry's own upload and manifest services. */
export interface ImportSink {
  hasBlob(digest: Digest): Promise<boolean>;
  putBlob(digest: Digest, file: string): Promise<void>;
  putManifest(reference: { tag: TagName } | { digest: Digest }, content: Buffer, mediaType: string): Promise<void>;
}

export interface ImportedImage {
  tag: string | null;
  digest: string;
  mediaType: string;
  platforms: string[];
}

export interface ImportResult {
  format: "oci-layout" | "docker-save";
  images: ImportedImage[];
  warnings: string[];
}

const MAX_MANIFEST = 4 * 1024 * 1024;

/**
 * Pushes what an unpacked archive holds, like `docker load` then `docker push`: an OCI image layout
 * (index.json, blobs/…; `docker save` from Docker 25 on, skopeo's oci-archive) or the classic
 * `docker save` format (manifest.json with Config and Layers). `tag` names the image when the archive
 * holds one; otherwise each image keeps the tag it was saved with.
 */
export async function importArchive(files: ArchiveFiles, tag: TagName | null, sink: ImportSink): Promise<ImportResult> {
  if (files.get("index.json")) return importOciLayout(files, tag, sink);
  if (files.get("manifest.json")) return importDockerSave(files, tag, sink);
  throw archiveError("found neither index.json (OCI image layout) nor manifest.json (docker save); is this an image archive?");
}

async function importOciLayout(files: ArchiveFiles, tag: TagName | null, sink: ImportSink): Promise<ImportResult> {
  const index = (await files.json("index.json")) as { manifests?: unknown } | undefined;
  if (!index || !Array.isArray(index.manifests) || !index.manifests.length) throw archiveError("index.json lists no manifests");
  const warnings: string[] = [];
  const images: ImportedImage[] = [];
  const single = index.manifests.length === 1;
  for (const [i, raw] of (index.manifests as unknown[]).entries()) {
    const d = raw as { digest?: unknown; mediaType?: unknown; annotations?: Record<string, unknown> };
    if (typeof d?.digest !== "string") throw archiveError(`index.json manifests[${i}] has no digest`);
    const digest = checkedDigest(d.digest, `index.json manifests[${i}]`);
    const saved = savedTag(d.annotations?.["org.opencontainers.image.ref.name"]) ?? savedTag(d.annotations?.["io.containerd.image.name"]);
    const chosen = single && tag ? tag : saved;
    images.push(await importTree(files, sink, digest, typeof d.mediaType === "string" ? d.mediaType : undefined, chosen, warnings));
  }
  return { format: "oci-layout", images, warnings };
}

async function importTree(
  files: ArchiveFiles,
  sink: ImportSink,
  digest: Digest,
  mediaType: string | undefined,
  tag: TagName | null,
  warnings: string[],
): Promise<ImportedImage> {
  const content = await readBlob(files, digest, `manifest ${digest}`);
  const parsed = parseManifest(content, mediaType);
  const summary = summarizeManifest(parsed.mediaType, content);
  if (INDEX_TYPES.has(parsed.mediaType)) {
    const present: Array<{ digest: Digest; platform: string }> = [];
    const absent: string[] = [];
    for (const child of summary.children) {
      const childDigest = checkedDigest(child.digest, `a child of ${digest}`);
      if (files.get(blobName(childDigest))) {
        await importTree(files, sink, childDigest, child.mediaType, null, warnings);
        present.push({ digest: childDigest, platform: formatPlatform(child.platform) });
      } else absent.push(formatPlatform(child.platform) || child.digest);
    }
    if (!absent.length) {
      await sink.putManifest(tag ? { tag } : { digest }, content, parsed.mediaType);
      return { tag, digest, mediaType: parsed.mediaType, platforms: present.map((p) => p.platform).filter(Boolean) };
    }
    // docker save keeps only the platforms the daemon had: import those and tag the first one.
    const first = present.find((p) => p.platform && !p.platform.startsWith("unknown"));
    if (!first) throw archiveError(`the index ${digest} lists platforms the archive does not contain (${absent.join(", ")})`);
    warnings.push(`the archive holds ${present.length} of the index's ${summary.children.length} manifests (missing: ${absent.join(", ")}); imported ${first.platform} as a single-platform image`);
    const child = await readBlob(files, first.digest, `manifest ${first.digest}`);
    if (tag) await sink.putManifest({ tag }, child, parseManifest(child, undefined).mediaType);
    return { tag, digest: first.digest, mediaType: parseManifest(child, undefined).mediaType, platforms: [first.platform] };
  }
  for (const ref of parsed.references) {
    if (await sink.hasBlob(ref.digest)) continue;
    const file = files.get(blobName(ref.digest));
    if (!file) throw archiveError(`blob ${ref.digest} that manifest ${digest} needs is not in the archive`);
    if (ref.digest.startsWith("sha256:") && file.sha256 !== ref.digest) throw archiveError(`blob ${ref.digest} does not match its digest (the archive is damaged)`);
    await sink.putBlob(ref.digest, file.file);
  }
  await sink.putManifest(tag ? { tag } : { digest }, content, parsed.mediaType);
  return { tag, digest, mediaType: parsed.mediaType, platforms: [] };
}

async function importDockerSave(files: ArchiveFiles, tag: TagName | null, sink: ImportSink): Promise<ImportResult> {
  const list = await files.json("manifest.json");
  if (!Array.isArray(list) || !list.length) throw archiveError("manifest.json must be a non-empty list of images");
  const images: ImportedImage[] = [];
  for (const [i, raw] of list.entries()) {
    const entry = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    if (typeof entry?.Config !== "string" || !Array.isArray(entry.Layers)) throw archiveError(`manifest.json[${i}] needs Config and Layers`);
    const config = files.get(entry.Config);
    if (!config) throw archiveError(`${entry.Config} (the image config) is not in the archive`);
    if (config.size > MAX_MANIFEST) throw archiveError(`${entry.Config} is too large for an image config`);
    const layers = [];
    for (const layerPath of entry.Layers as unknown[]) {
      if (typeof layerPath !== "string") throw archiveError(`manifest.json[${i}].Layers must hold paths`);
      const file = files.get(layerPath);
      if (!file) throw archiveError(`layer ${layerPath} is not in the archive`);
      layers.push({ file, mediaType: await layerMediaType(file.file) });
    }
    const configDigest = config.sha256 as Digest;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.file.sha256, size: l.file.size })),
      }),
    );
    for (const blob of [config, ...layers.map((l) => l.file)]) {
      if (!(await sink.hasBlob(blob.sha256 as Digest))) await sink.putBlob(blob.sha256 as Digest, blob.file);
    }
    const repoTags = Array.isArray(entry.RepoTags) ? entry.RepoTags : [];
    const chosen = list.length === 1 && tag ? tag : savedTag(repoTags[0]);
    const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}` as Digest;
    await sink.putManifest(chosen ? { tag: chosen } : { digest }, manifest, MediaType.OCI_MANIFEST);
    images.push({ tag: chosen, digest, mediaType: MediaType.OCI_MANIFEST, platforms: [] });
  }
  return { format: "docker-save", images, warnings: [] };
}

async function readBlob(files: ArchiveFiles, digest: Digest, what: string): Promise<Buffer> {
  const content = await files.read(blobName(digest), MAX_MANIFEST);
  if (!content) throw archiveError(`${what} is not in the archive (blobs/${digest.replace(":", "/")})`);
  const algorithm = digest.slice(0, digest.indexOf(":"));
  if (`${algorithm}:${createHash(algorithm).update(content).digest("hex")}` !== digest) throw archiveError(`${what} does not match its digest (the archive is damaged)`);
  return content;
}

function blobName(digest: string): string {
  return `blobs/${digest.replace(":", "/")}`;
}

function checkedDigest(value: string, where: string): Digest {
  try {
    return parseDigest(value);
  } catch {
    throw archiveError(`${where}: ${value.slice(0, 100)} is not a digest`);
  }
}

/** "latest", or the tag part of "registry/name:tag"; null when there is none (or it is not a valid tag). */
function savedTag(value: unknown): TagName | null {
  if (typeof value !== "string" || !value) return null;
  const colon = value.lastIndexOf(":");
  const candidate = value.includes("/") || colon !== -1 ? (colon > value.lastIndexOf("/") ? value.slice(colon + 1) : null) : value;
  if (!candidate) return null;
  try {
    return parseTag(candidate);
  } catch {
    return null;
  }
}

/** docker save stores layers as plain tars (older versions) or as pulled; the media type says which. */
async function layerMediaType(file: string): Promise<string> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return "application/vnd.oci.image.layer.v1.tar+gzip";
    if (head.readUInt32LE(0) === 0xfd2fb528) return "application/vnd.oci.image.layer.v1.tar+zstd";
    return "application/vnd.oci.image.layer.v1.tar";
  } finally {
    await handle.close();
  }
}

export function fileStream(file: string): Readable {
  return createReadStream(file);
}
