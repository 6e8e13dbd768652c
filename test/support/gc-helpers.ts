// Helpers for garbage-collection tests: images built from chosen layers, making rows look old, pulling
// everything a tag reaches with digest checks, and snapshots of what the database and storage hold.
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { Deps } from "../../src/deps";
import {
  blobOf,
  digestResponse,
  manifestOf,
  MediaTypes,
  pushManifest,
  putBlob,
  randomBytes,
  uniqueSuffix,
  type Blob,
  type BuiltManifest,
  type Descriptor,
} from "./oci-client";

export interface Image extends BuiltManifest {
  config: Blob;
  layers: Blob[];
}

/** A fresh random layer of `size` bytes. */
export function layer(size = 256): Blob {
  return blobOf(randomBytes(size), MediaTypes.OCI_LAYER);
}

/** An OCI image manifest over the given layers, with a fresh config (so every image has its own digest). */
export function image(layers: Blob[], extra: { subject?: Descriptor; artifactType?: string } = {}): Image {
  const config = blobOf(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", nonce: uniqueSuffix() })), MediaTypes.OCI_CONFIG);
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaTypes.OCI_MANIFEST,
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  if (extra.artifactType) body.artifactType = extra.artifactType;
  if (extra.subject) body.subject = extra.subject;
  return { ...manifestOf(JSON.stringify(body), MediaTypes.OCI_MANIFEST), config, layers };
}

/** A signature-like referrer of `subject`: an artifact manifest with one small blob. */
export function referrer(subject: BuiltManifest): Image {
  return image([blobOf(randomBytes(64), "application/vnd.example.signature")], {
    subject: subject.descriptor,
    artifactType: "application/vnd.example.signature",
  });
}

export function index(children: BuiltManifest[]): BuiltManifest {
  return manifestOf(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: children.map((c) => c.descriptor) }),
    MediaTypes.OCI_INDEX,
  );
}

/** Pushes the image's blobs (monolithic) and manifest; throws unless every step succeeds. */
export async function push(base: string, repo: string, img: Image, ref: string = img.digest): Promise<void> {
  for (const blob of [img.config, ...img.layers]) await putBlob(base, repo, blob.data);
  await putManifestOk(base, repo, img, ref);
}

export async function putManifestOk(base: string, repo: string, m: BuiltManifest, ref: string = m.digest): Promise<void> {
  const res = await pushManifest(base, repo, ref, m.bytes, m.mediaType);
  if (res.status !== 201) throw new Error(`PUT ${repo}:${ref}: ${res.status} ${await res.text()}`);
}

/**
 * Pulls `ref` the way a client does and verifies every digest: the manifest, an index's children (and
 * theirs), each image's config and layers. Returns every digest fetched.
 */
export async function pullAndVerify(base: string, repo: string, ref: string): Promise<string[]> {
  const seen: string[] = [];
  const visit = async (reference: string, expected?: string): Promise<void> => {
    const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
      headers: { Accept: [MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST].join(", ") },
    });
    if (res.status !== 200) throw new Error(`GET manifest ${repo}:${reference}: ${res.status} ${await res.text()}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (expected && digest !== expected) throw new Error(`manifest ${repo}@${expected} came back as ${digest}`);
    if (res.headers.get("docker-content-digest") !== digest) throw new Error(`manifest ${repo}:${reference}: digest header mismatch`);
    seen.push(digest);
    const json = JSON.parse(bytes.toString("utf8")) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (json.manifests) {
      for (const child of json.manifests) await visit(child.digest, child.digest);
      return;
    }
    for (const blob of [json.config!, ...(json.layers ?? [])]) {
      const b = await fetch(`${base}/v2/${repo}/blobs/${blob.digest}`);
      if (b.status !== 200) throw new Error(`GET blob ${repo}@${blob.digest}: ${b.status} ${await b.text()}`);
      const got = await digestResponse(b);
      if (got.digest !== blob.digest || got.size !== blob.size) {
        throw new Error(`blob ${repo}@${blob.digest} came back as ${got.digest} (${got.size} bytes)`);
      }
      seen.push(blob.digest);
    }
  };
  await visit(ref);
  return seen;
}

/** Every tag of every repository pulls completely and verifies. Returns the number of tags checked. */
export async function verifyAllTags(deps: Deps, base: string): Promise<number> {
  const tags = await deps.database.query<{ repo: string; tag: string }>(
    `SELECT r.name AS repo, t.name AS tag FROM tag t JOIN repository r ON r.id = t.repository_id ORDER BY 1, 2`,
  );
  for (const t of tags) await pullAndVerify(base, t.repo, t.tag);
  return tags.length;
}

/** Makes every row look `ms` older, as if pushed, last touched and last pulled that long ago. */
export async function ageEverything(deps: Deps, ms: number): Promise<void> {
  const q = (sql: string) => deps.database.query(sql, [ms / 1000]);
  const by = `make_interval(secs => $1::float8)`;
  await q(`UPDATE manifest SET created_at = created_at - ${by}, last_pulled_at = last_pulled_at - ${by}`);
  await q(`UPDATE blob SET created_at = created_at - ${by}, last_touched_at = last_touched_at - ${by}`);
  await q(`UPDATE repository_blob SET created_at = created_at - ${by}`);
  await q(`UPDATE tag SET updated_at = updated_at - ${by}, last_pulled_at = last_pulled_at - ${by}`);
  await q(`UPDATE upload SET started_at = started_at - ${by}, updated_at = updated_at - ${by}`);
  await q(`UPDATE repository SET created_at = created_at - ${by}, updated_at = updated_at - ${by}`);
}

export interface Snapshot {
  manifests: string[];
  blobs: string[];
  links: string[];
  tags: string[];
  uploads: string[];
  files: string[];
}

/** What the database and the storage hold, as sorted lists (manifests and links as "repo@digest"). */
export async function snapshot(deps: Deps): Promise<Snapshot> {
  const col = async (sql: string) => (await deps.database.query<{ v: string }>(sql)).map((r) => r.v).sort();
  return {
    manifests: await col(`SELECT r.name || '@' || m.digest AS v FROM manifest m JOIN repository r ON r.id = m.repository_id`),
    blobs: await col(`SELECT digest AS v FROM blob`),
    links: await col(`SELECT r.name || '@' || rb.digest AS v FROM repository_blob rb JOIN repository r ON r.id = rb.repository_id`),
    tags: await col(`SELECT r.name || ':' || t.name AS v FROM tag t JOIN repository r ON r.id = t.repository_id`),
    uploads: await col(`SELECT id::text AS v FROM upload`),
    files: (await listFiles(deps.config.storage.root!)).sort(),
  };
}

/** Blob files in storage as digests, plus anything under uploads/ as its path. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else out.push(r.startsWith("blobs/") ? `${r.split("/")[1]}:${e.name}` : r);
    }
  };
  await walk(root, "");
  return out;
}

/**
 * Every blob that is linked to a repository or referenced by a manifest has its bytes in storage: what no
 * race or crash may break. (A crash mid-batch may leave unreachable blob rows without bytes; the next run
 * removes them.)
 */
export async function expectReachableBlobsStored(deps: Deps): Promise<void> {
  const needed = (
    await deps.database.query<{ digest: string }>(
      `SELECT digest FROM blob b WHERE EXISTS (SELECT 1 FROM repository_blob rb WHERE rb.digest = b.digest)
          OR EXISTS (SELECT 1 FROM manifest_reference mr WHERE mr.digest = b.digest)`,
    )
  ).map((r) => r.digest);
  const files = new Set(await listFiles(deps.config.storage.root!));
  expect(needed.filter((d) => !files.has(d))).toEqual([]);
}

/**
 * The metadata is whole: every blob a manifest references is linked in its repository, and every child
 * an index names is stored there. (Deleting a blob through the API breaks the first on purpose; the
 * tests using this do not.)
 */
export async function expectIntegrity(deps: Deps): Promise<void> {
  const unlinked = await deps.database.query(
    `SELECT m.digest AS manifest, mr.digest FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
     WHERE mr.kind = 'blob' AND NOT EXISTS (
       SELECT 1 FROM repository_blob rb WHERE rb.repository_id = m.repository_id AND rb.digest = mr.digest)`,
  );
  const childless = await deps.database.query(
    `SELECT m.digest AS manifest, mr.digest FROM manifest_reference mr JOIN manifest m ON m.id = mr.manifest_id
     WHERE mr.kind = 'manifest' AND NOT EXISTS (
       SELECT 1 FROM manifest c WHERE c.repository_id = m.repository_id AND c.digest = mr.digest)`,
  );
  expect({ unlinked, childless }).toEqual({ unlinked: [], childless: [] });
}
