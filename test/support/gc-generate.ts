// Generates a large registry fast, straight into the database and the storage folder (no HTTP): real
// manifests (valid JSON naming real blobs whose files hash to their digests), so everything still pulls.
// Half the images are tagged; the other half are dangling, except those adopted by a tagged index. A tenth
// of the images carry a signature (untagged referrer). Layers are partly shared across images and
// repositories; some blobs are linked but never referenced. Everything is dated `ageHours` ago.
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Database } from "../../src/metadata/database";

export interface GenerateOptions {
  repositories: number;
  /** Image manifests (indexes and signatures come on top: about 5% and 20% more). */
  images: number;
  /** Blobs in total, roughly: 2 per image (config, own layer), the rest a shared pool and strays. */
  blobs: number;
  ageHours: number;
  seed?: number;
}

export interface GeneratedRegistry {
  manifests: number;
  blobs: number;
  links: number;
  tags: Array<{ repository: string; tag: string; digest: string }>;
  /** What a collection with a grace below ageHours must delete, and what must stay. */
  expected: { manifests: number; blobs: number; links: number; keptManifests: number; keptBlobs: number };
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const CHUNK = 2000;

interface BlobSpec {
  digest: string;
  data: Buffer;
}

interface ManifestSpec {
  repo: number;
  digest: string;
  json: string;
  mediaType: string;
  subject: string | null;
  artifactType: string | null;
  refs: Array<{ digest: string; kind: "blob" | "manifest" }>;
  tag: string | null;
  kept: boolean;
}

function blob(label: string): BlobSpec {
  const data = Buffer.from(`berth-gc-generated ${label}\n`);
  return { digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, data };
}

function descriptor(mediaType: string, b: { digest: string; size: number }) {
  return { mediaType, digest: b.digest, size: b.size };
}

/** A small deterministic PRNG (mulberry32), so a seed gives the same registry every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function generateRegistry(db: Database, storageRoot: string, o: GenerateOptions): Promise<GeneratedRegistry> {
  const random = prng(o.seed ?? 42);
  const stray = Math.max(1, Math.floor(o.blobs * 0.05));
  const poolSize = Math.max(4, o.blobs - 2 * o.images - stray - Math.floor(o.images / 5));
  const pool = Array.from({ length: poolSize }, (_, i) => blob(`pool ${i}`));
  const allBlobs = new Map<string, BlobSpec>(pool.map((b) => [b.digest, b]));
  const links = new Set<string>(); // "repo\0digest"
  const manifests: ManifestSpec[] = [];
  const repoNames = Array.from({ length: o.repositories }, (_, i) => `gen${i % 10}/repo-${i}`);

  const image = (repo: number, label: string, layers: BlobSpec[], extra: { subject?: ManifestSpec; tag?: string | null } = {}) => {
    const config = blob(`config ${label}`);
    for (const b of [config, ...layers]) {
      allBlobs.set(b.digest, b);
      links.add(`${repo}\u0000${b.digest}`);
    }
    const body: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor("application/vnd.oci.image.config.v1+json", { digest: config.digest, size: config.data.length }),
      layers: layers.map((l) => descriptor("application/vnd.oci.image.layer.v1.tar+gzip", { digest: l.digest, size: l.data.length })),
    };
    if (extra.subject) {
      body.artifactType = "application/vnd.example.signature";
      body.subject = descriptor(OCI_MANIFEST, { digest: extra.subject.digest, size: Buffer.byteLength(extra.subject.json) });
    }
    const json = JSON.stringify(body);
    const m: ManifestSpec = {
      repo,
      digest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
      json,
      mediaType: OCI_MANIFEST,
      subject: extra.subject?.digest ?? null,
      artifactType: extra.subject ? "application/vnd.example.signature" : null,
      refs: [config, ...layers].map((b) => ({ digest: b.digest, kind: "blob" as const })),
      tag: extra.tag ?? null,
      kept: false,
    };
    manifests.push(m);
    return m;
  };

  const images: ManifestSpec[] = [];
  for (let i = 0; i < o.images; i++) {
    const repo = i % o.repositories;
    const layers = [blob(`layer ${i}`), pool[Math.floor(random() * poolSize)], pool[Math.floor(random() * poolSize)]];
    images.push(image(repo, `image ${i}`, [...new Map(layers.map((l) => [l.digest, l])).values()], { tag: i % 2 === 0 ? `t${i}` : null }));
  }
  // Tagged indexes adopting two dangling images of their repository as children (i odd: untagged; i and
  // i + 2R share a repository and a parity).
  for (let i = 1; i + 2 * o.repositories < o.images; i += 20) {
    const children = [images[i], images[i + 2 * o.repositories]].filter((c) => c && c.tag === null);
    if (children.length < 2) continue;
    const json = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => descriptor(OCI_MANIFEST, { digest: c.digest, size: Buffer.byteLength(c.json) })),
    });
    manifests.push({
      repo: children[0].repo,
      digest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
      json,
      mediaType: OCI_INDEX,
      subject: null,
      artifactType: null,
      refs: children.map((c) => ({ digest: c.digest, kind: "manifest" as const })),
      tag: `idx${i}`,
      kept: false,
    });
  }
  // Signatures of every fifth image, untagged: kept with a kept subject, collected with a dangling one.
  for (let i = 0; i < o.images; i += 5) image(images[i].repo, `signature ${i}`, [], { subject: images[i] });
  // Strays: linked, never referenced.
  for (let i = 0; i < stray; i++) {
    const b = blob(`stray ${i}`);
    allBlobs.set(b.digest, b);
    links.add(`${i % o.repositories}\u0000${b.digest}`);
  }
  // Pool layers nobody picked are linked somewhere too (uploaded, never used).
  const picked = new Set(manifests.flatMap((m) => m.refs.map((r) => r.digest)));
  pool.forEach((b, i) => {
    if (!picked.has(b.digest)) links.add(`${i % o.repositories}\u0000${b.digest}`);
  });

  // What must stay: tagged manifests and everything they reach (children, subjects, referrers).
  const byKey = new Map(manifests.map((m) => [`${m.repo}\u0000${m.digest}`, m]));
  const referrersOf = new Map<string, ManifestSpec[]>();
  for (const m of manifests) {
    if (!m.subject) continue;
    const key = `${m.repo}\u0000${m.subject}`;
    referrersOf.set(key, [...(referrersOf.get(key) ?? []), m]);
  }
  const stack = manifests.filter((m) => m.tag !== null);
  while (stack.length) {
    const m = stack.pop()!;
    if (m.kept) continue;
    m.kept = true;
    const key = (d: string) => `${m.repo}\u0000${d}`;
    for (const r of m.refs) if (r.kind === "manifest") stack.push(byKey.get(key(r.digest))!);
    if (m.subject && byKey.has(key(m.subject))) stack.push(byKey.get(key(m.subject))!);
    stack.push(...(referrersOf.get(key(m.digest)) ?? []));
  }
  const kept = manifests.filter((m) => m.kept);
  const keptLinks = new Set(kept.flatMap((m) => m.refs.filter((r) => r.kind === "blob").map((r) => `${m.repo}\u0000${r.digest}`)));
  const keptBlobs = new Set(kept.flatMap((m) => m.refs.filter((r) => r.kind === "blob").map((r) => r.digest)));

  // Files, then rows.
  await writeFiles(storageRoot, [...allBlobs.values()]);
  const when = new Date(Date.now() - o.ageHours * 3_600_000);
  const repoIds: number[] = [];
  for (let i = 0; i < repoNames.length; i += CHUNK) {
    const rows = await db.query<{ id: number; name: string }>(
      `INSERT INTO repository (name, created_at, updated_at) SELECT n, $2, $2 FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)
       ORDER BY i RETURNING id, name`,
      [repoNames.slice(i, i + CHUNK), when],
    );
    const ids = new Map(rows.map((r) => [r.name, r.id]));
    repoIds.push(...repoNames.slice(i, i + CHUNK).map((n) => ids.get(n)!));
  }
  const blobList = [...allBlobs.values()];
  for (let i = 0; i < blobList.length; i += CHUNK) {
    const chunk = blobList.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO blob (digest, size, created_at, last_touched_at) SELECT d, s, $3, $3 FROM unnest($1::text[], $2::int8[]) AS x(d, s)`,
      [chunk.map((b) => b.digest), chunk.map((b) => b.data.length), when],
    );
  }
  const linkList = [...links].map((l) => l.split("\u0000"));
  for (let i = 0; i < linkList.length; i += CHUNK) {
    const chunk = linkList.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO repository_blob (repository_id, digest, created_at) SELECT r, d, $3 FROM unnest($1::int[], $2::text[]) AS x(r, d)`,
      [chunk.map((l) => repoIds[Number(l[0])]), chunk.map((l) => l[1]), when],
    );
  }
  const manifestIds = new Map<ManifestSpec, number>();
  for (let i = 0; i < manifests.length; i += CHUNK) {
    const chunk = manifests.slice(i, i + CHUNK);
    const rows = await db.query<{ id: number; repository_id: number; digest: string }>(
      `INSERT INTO manifest (repository_id, digest, media_type, content, size, subject_digest, artifact_type, created_at)
       SELECT r, d, mt, convert_to(c, 'UTF8'), octet_length(c), s, a, $7
       FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(r, d, mt, c, s, a)
       RETURNING id, repository_id, digest`,
      [
        chunk.map((m) => repoIds[m.repo]),
        chunk.map((m) => m.digest),
        chunk.map((m) => m.mediaType),
        chunk.map((m) => m.json),
        chunk.map((m) => m.subject),
        chunk.map((m) => m.artifactType),
        when,
      ],
    );
    const ids = new Map(rows.map((r) => [`${r.repository_id}\u0000${r.digest}`, r.id]));
    for (const m of chunk) manifestIds.set(m, ids.get(`${repoIds[m.repo]}\u0000${m.digest}`)!);
  }
  const refs = manifests.flatMap((m) => m.refs.map((r) => ({ id: manifestIds.get(m)!, ...r })));
  for (let i = 0; i < refs.length; i += CHUNK) {
    const chunk = refs.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO manifest_reference (manifest_id, digest, kind) SELECT * FROM unnest($1::int[], $2::text[], $3::text[])`,
      [chunk.map((r) => r.id), chunk.map((r) => r.digest), chunk.map((r) => r.kind)],
    );
  }
  const tagged = manifests.filter((m) => m.tag !== null);
  for (let i = 0; i < tagged.length; i += CHUNK) {
    const chunk = tagged.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO tag (repository_id, name, manifest_id, updated_at) SELECT r, n, m, $4 FROM unnest($1::int[], $2::text[], $3::int[]) AS x(r, n, m)`,
      [chunk.map((m) => repoIds[m.repo]), chunk.map((m) => m.tag), chunk.map((m) => manifestIds.get(m)!), when],
    );
  }

  return {
    manifests: manifests.length,
    blobs: allBlobs.size,
    links: links.size,
    tags: tagged.map((m) => ({ repository: repoNames[m.repo], tag: m.tag!, digest: m.digest })),
    expected: {
      manifests: manifests.length - kept.length,
      blobs: allBlobs.size - keptBlobs.size,
      links: links.size - keptLinks.size,
      keptManifests: kept.length,
      keptBlobs: keptBlobs.size,
    },
  };
}

async function writeFiles(root: string, blobs: BlobSpec[]): Promise<void> {
  const dirs = new Set(blobs.map((b) => b.digest.slice(7, 9)));
  await Promise.all([...dirs].map((d) => mkdir(path.join(root, "blobs", "sha256", d), { recursive: true })));
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < blobs.length) {
        const b = blobs[next++];
        const hex = b.digest.slice(7);
        await writeFile(path.join(root, "blobs", "sha256", hex.slice(0, 2), hex), b.data);
      }
    }),
  );
}
