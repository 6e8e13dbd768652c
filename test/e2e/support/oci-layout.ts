// Builds test images as OCI image layout directories (oci-layout, index.json, blobs/sha256/*)
// entirely in TypeScript: no network, no buildah, deterministic bytes (same spec => same digests on
// every machine, so separate test files can share expectations). Layers are gzip-compressed tars
// written by ./tar (ustar), gzipped and hashed in one streaming pass, so large layers never sit in memory.
import { createHash, randomBytes, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { EPOCH_SECONDS, tarStream, type TarEntry } from "./tar";

export type { FileContent, TarEntry } from "./tar";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** The line the runnable image prints (its Cmd), asserted by `docker run`. */
export const RUNNABLE_OUTPUT = "hello-from-berth";

/** Config "created" = the tar entries' mtime: keeps digests stable. */
const CREATED = new Date(EPOCH_SECONDS * 1000).toISOString();

// ---------------------------------------------------------------------------------------------
// Specs

export interface LayerSpec {
  entries: TarEntry[];
  /** Shown as the history entry's created_by. */
  comment?: string;
  /** zlib level; 1 is plenty for random data, which does not compress anyway. Default 6. */
  gzipLevel?: number;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface ImageSpec {
  platform?: Platform; // default linux/amd64
  layers: LayerSpec[];
  config?: { Cmd?: string[]; Entrypoint?: string[]; Env?: string[]; WorkingDir?: string; Labels?: Record<string, string> };
}

export interface IndexSpec {
  index: ImageSpec[];
}

// ---------------------------------------------------------------------------------------------
// Results

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface BuiltLayer extends Descriptor {
  /** sha256 of the uncompressed tar (= the config's rootfs.diff_ids entry). */
  diffId: string;
  uncompressedSize: number;
}

export interface BuiltImage {
  platform: Platform;
  manifest: Descriptor;
  config: Descriptor;
  layers: BuiltLayer[];
}

export interface OciLayout {
  /** The layout directory. */
  dir: string;
  tag: string;
  /** containers-image reference for skopeo: "oci:DIR:TAG". */
  ref: string;
  /** The tagged descriptor: an image manifest, or an image index for multi-platform layouts. */
  top: Descriptor;
  images: BuiltImage[];
  /** Every blob digest in the layout (index, manifests, configs, layers). */
  blobs: string[];
}

// ---------------------------------------------------------------------------------------------
// Layout writing

/** Pass-through stream that feeds every chunk to a hash and counts bytes. */
function tap(hash: Hash, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(":");
  return path.join(dir, "blobs", alg!, hex!);
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function writeBlob(dir: string, mediaType: string, data: Buffer): Promise<Descriptor> {
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const file = blobPath(dir, digest);
  if (!(await exists(file))) await writeFile(file, data);
  return { mediaType, digest, size: data.length };
}

async function writeJsonBlob(dir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  return writeBlob(dir, mediaType, Buffer.from(JSON.stringify(value)));
}

async function writeLayer(dir: string, layer: LayerSpec): Promise<BuiltLayer> {
  const diffHash = createHash("sha256");
  const blobHash = createHash("sha256");
  const raw = { n: 0 };
  const gz = { n: 0 };
  const tmp = path.join(dir, "blobs", `.tmp-${randomBytes(6).toString("hex")}`);
  try {
    await pipeline(
      Readable.from(tarStream(layer.entries)),
      tap(diffHash, raw),
      createGzip({ level: layer.gzipLevel ?? 6 }),
      tap(blobHash, gz),
      createWriteStream(tmp),
    );
    const digest = `sha256:${blobHash.digest("hex")}`;
    const file = blobPath(dir, digest);
    if (await exists(file)) await unlink(tmp);
    else await rename(tmp, file);
    return {
      mediaType: MEDIA_TYPES.ociLayerGzip,
      digest,
      size: gz.n,
      diffId: `sha256:${diffHash.digest("hex")}`,
      uncompressedSize: raw.n,
    };
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

async function writeImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  const platform = spec.platform ?? { architecture: "amd64", os: "linux" };
  const layers: BuiltLayer[] = [];
  for (const l of spec.layers) layers.push(await writeLayer(dir, l)); // sequential: bounded memory and CPU
  const cfg = spec.config ?? {};
  // One history entry per layer (docker matches non-empty entries to layers), plus the CMD as an empty one.
  const history: Array<{ created: string; created_by: string; empty_layer?: boolean }> = spec.layers.map((l, i) => ({
    created: CREATED,
    created_by: l.comment ?? `berth-e2e layer ${i}`,
  }));
  if (cfg.Cmd) history.push({ created: CREATED, created_by: `CMD ${JSON.stringify(cfg.Cmd)}`, empty_layer: true });
  const config = await writeJsonBlob(dir, MEDIA_TYPES.ociConfig, {
    created: CREATED,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: cfg,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history,
  });
  const manifest = await writeJsonBlob(dir, MEDIA_TYPES.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  });
  return { platform, manifest, config, layers };
}

/**
 * Writes an OCI image layout at dir (created if missing) with one tag pointing at the image
 * manifest, or, for an IndexSpec, at an image index whose manifests carry their platforms.
 */
export async function writeOciLayout(dir: string, tag: string, spec: ImageSpec | IndexSpec): Promise<OciLayout> {
  await mkdir(path.join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const images: BuiltImage[] = [];
  let top: Descriptor;
  if ("index" in spec) {
    for (const s of spec.index) images.push(await writeImage(dir, s));
    top = await writeJsonBlob(dir, MEDIA_TYPES.ociIndex, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: images.map((img) => ({ ...img.manifest, platform: img.platform })),
    });
  } else {
    const img = await writeImage(dir, spec);
    images.push(img);
    top = img.manifest;
  }
  const tagged = { ...top, annotations: { "org.opencontainers.image.ref.name": tag } };
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [tagged] }),
  );
  const blobs = new Set<string>([top.digest]);
  for (const img of images) {
    blobs.add(img.manifest.digest);
    blobs.add(img.config.digest);
    for (const l of img.layers) blobs.add(l.digest);
  }
  return { dir, tag, ref: `oci:${dir}:${tag}`, top, images, blobs: [...blobs] };
}

// ---------------------------------------------------------------------------------------------
// Reading layouts back (what skopeo wrote)

/** The descriptor index.json holds for a tag (org.opencontainers.image.ref.name). */
export async function readLayoutTag(dir: string, tag: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const found = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!found) throw new Error(`tag ${tag} not in ${dir}/index.json: ${JSON.stringify(index)}`);
  return found;
}

/** Reads one blob's bytes from a layout. */
export function readLayoutBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(dir, digest));
}

/** digest -> sha256 of the stored file, for every blob in the layout (re-hashed, streamed). */
export async function hashLayoutBlobs(dir: string): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const base = path.join(dir, "blobs", "sha256");
  for (const name of await readdir(base)) {
    if (name.startsWith(".")) continue;
    const h = createHash("sha256");
    await pipeline(createReadStream(path.join(base, name)), h);
    result.set(`sha256:${name}`, `sha256:${h.digest("hex")}`);
  }
  return result;
}

/**
 * Packs a layout directory into an uncompressed tar (the "OCI archive" that `ctr images import`
 * and `docker load` read), with the same ustar writer used for layers.
 */
export async function archiveLayout(dir: string, tarFile: string): Promise<void> {
  const entries: TarEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const d of names) {
      if (d.name.startsWith(".tmp-")) continue;
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        entries.push({ type: "dir", path: p });
        await walk(p);
      } else {
        entries.push({ type: "file", path: p, content: { kind: "host", path: path.join(dir, p) } });
      }
    }
  };
  await walk("");
  await pipeline(Readable.from(tarStream(entries)), createWriteStream(tarFile));
}

// ---------------------------------------------------------------------------------------------
// The suite's standard images

const MiB = 1024 * 1024;

/** (a) One small layer. */
export function tinyImage(): ImageSpec {
  return {
    layers: [
      {
        comment: "tiny: one text file",
        entries: [
          { type: "dir", path: "etc" },
          { type: "file", path: "etc/berth-tiny.txt", content: { kind: "bytes", data: "berth tiny test image\n" } },
        ],
      },
    ],
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"], Labels: { "org.berth.test": "tiny" } },
  };
}

/** (b) Several layers of pseudo-random data, default 3+5+8+8+6 = 30 MiB. */
export function multiLayerImage(sizesMiB: readonly number[] = [3, 5, 8, 8, 6]): ImageSpec {
  return {
    layers: sizesMiB.map((mib, i) => ({
      comment: `multi: layer ${i} with ${mib} MiB of random data`,
      gzipLevel: 1,
      entries: [
        { type: "dir", path: "data" },
        { type: "dir", path: `data/layer${i}` },
        { type: "file", path: `data/layer${i}/README`, content: { kind: "bytes", data: `layer ${i}: ${mib} MiB\n` } },
        { type: "file", path: `data/layer${i}/random.bin`, content: { kind: "random", size: mib * MiB, seed: `berth-multi-${i}` } },
      ],
    })),
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin", "BERTH_TEST=multi"] },
  };
}

/** (c) A two-platform index: linux/amd64 and linux/arm64, each with its own manifest, config and layer. */
export function twoPlatformIndex(): IndexSpec {
  const image = (architecture: string, variant?: string): ImageSpec => ({
    platform: { architecture, os: "linux", ...(variant ? { variant } : {}) },
    layers: [
      {
        comment: `index: ${architecture} layer`,
        entries: [
          { type: "dir", path: "etc" },
          { type: "file", path: "etc/berth-arch.txt", content: { kind: "bytes", data: `built for linux/${architecture}\n` } },
          { type: "dir", path: "opt" },
          { type: "file", path: `opt/${architecture}.bin`, content: { kind: "random", size: 256 * 1024, seed: `berth-index-${architecture}` } },
        ],
      },
    ],
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"], Labels: { "org.berth.test.arch": architecture } },
  });
  return { index: [image("amd64"), image("arm64", "v8")] };
}

/** (d) Runnable with docker: static busybox as /bin/busybox plus applet symlinks; Cmd prints RUNNABLE_OUTPUT. */
export function runnableImage(busyboxPath = "/bin/busybox"): ImageSpec {
  const applets = ["sh", "echo", "cat", "ls", "mkdir", "touch", "env", "true"];
  return {
    layers: [
      {
        comment: "runnable: busybox-static",
        entries: [
          { type: "dir", path: "bin" },
          { type: "file", path: "bin/busybox", mode: 0o755, content: { kind: "host", path: busyboxPath } },
          ...applets.map((a): TarEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
          { type: "dir", path: "etc" },
          { type: "file", path: "etc/berth-release", content: { kind: "bytes", data: "berth e2e runnable image\n" } },
          { type: "dir", path: "tmp", mode: 0o1777 },
        ],
      },
    ],
    config: { Cmd: ["/bin/sh", "-c", `echo ${RUNNABLE_OUTPUT}`], Env: ["PATH=/bin"] },
  };
}

export interface TestImages {
  tiny: OciLayout;
  multi: OciLayout;
  index: OciLayout;
  runnable: OciLayout;
}

/** Builds all four standard images under root (one layout dir each, tag "latest"). ~1-2 s. */
export async function buildTestImages(root: string, opts: { busyboxPath?: string } = {}): Promise<TestImages> {
  return {
    tiny: await writeOciLayout(path.join(root, "tiny"), "latest", tinyImage()),
    multi: await writeOciLayout(path.join(root, "multi"), "latest", multiLayerImage()),
    index: await writeOciLayout(path.join(root, "index"), "latest", twoPlatformIndex()),
    runnable: await writeOciLayout(path.join(root, "runnable"), "latest", runnableImage(opts.busyboxPath)),
  };
}
