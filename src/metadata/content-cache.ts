import type { RepositoryName } from "../kernel/names";
import type { Database } from "./database";
import type { Digest } from "../kernel/digest";
import type { BlobRecord, ManifestRecord, ManifestReference } from "./store";

/** The channel the triggers of migrations 20261125130000_manifest_change_notify and 20261205090000_blob_link_notify announce changes on. */
const CHANNEL = "berth_manifest_change";

/** A blob known to be linked into a repository, trusted without asking the database until `freshUntil`. */
export interface BlobLink {
  blob: BlobRecord;
  freshUntil: number;
}

interface Entry {
  key: string;
  repository: string;
  repositoryId: number;
  value: ManifestRecord | BlobLink;
  /** What the entry counts for against the byte budget. */
  weight: number;
}

/** A blob link's weight: its key and record, roughly. */
const BLOB_LINK_WEIGHT = 256;

/**
 * Manifests recently read, by repository and tag or digest, and blobs recently found linked into a
 * repository, so that a GET of a hot manifest or a HEAD/GET of a blob costs no database round trip.
 * Bounded by bytes, least recently used first out.
 *
 * Kept correct across processes: the database announces every change to a repository's manifests or
 * tags and every blob link removed from it, whoever makes the change (another replica, the collector, retention, the mirror), and the repository's
 * entries go. Changes made through this process's store drop them before the write returns. A read
 * fills the cache only if no announcement arrived while it ran (the epoch), so it cannot put back what
 * a change just removed. While the announcements cannot be heard (the listening connection is down),
 * the cache is empty and unused.
 */
export class ContentCache {
  private readonly entries = new Map<string, Entry>();
  /** The keys of each repository's entries, and each repository's name by id (announcements carry ids). */
  private readonly keysOf = new Map<string, Set<string>>();
  private readonly names = new Map<number, string>();
  private bytes = 0;
  private epoch = 0;
  private hearing = false;

  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  /** Listens for the database's announcements; close() stops. */
  static async listening(database: Pick<Database, "listen">, maxBytes?: number): Promise<{ cache: ContentCache; close(): Promise<void> }> {
    const cache = new ContentCache(maxBytes);
    const listener = await database.listen(CHANNEL, {
      message: (payload) => (payload === "*" ? cache.clear() : payload.split(",").forEach((id) => cache.dropRepositoryId(Number(id)))),
      listening: () => {
        cache.clear();
        cache.hearing = true;
      },
      lost: () => {
        cache.hearing = false;
        cache.clear();
      },
    });
    return { cache, close: () => listener.close() };
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(repository: RepositoryName, reference: ManifestReference): ManifestRecord | undefined {
    return this.get(keyOf(repository, reference)) as ManifestRecord | undefined;
  }

  /** The link, if known and still fresh. */
  lookupBlob(repository: RepositoryName, digest: Digest): BlobRecord | undefined {
    const link = this.get(blobKeyOf(repository, digest)) as BlobLink | undefined;
    return link && link.freshUntil > Date.now() ? link.blob : undefined;
  }

  /** Taken before reading the database; fill() accepts the result only under the same ticket. */
  ticket(): number {
    return this.hearing ? this.epoch : -1;
  }

  fill(ticket: number, repository: RepositoryName, repositoryId: number, reference: ManifestReference, record: ManifestRecord): void {
    this.put(ticket, keyOf(repository, reference), repository, repositoryId, record, record.content.length);
  }

  fillBlob(ticket: number, repository: RepositoryName, repositoryId: number, link: BlobLink): void {
    this.put(ticket, blobKeyOf(repository, link.blob.digest), repository, repositoryId, link, BLOB_LINK_WEIGHT);
  }

  private get(key: string): ManifestRecord | BlobLink | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key); // to the back of the line: most recently used
    this.entries.set(key, entry);
    return entry.value;
  }

  private put(ticket: number, key: string, repository: string, repositoryId: number, value: ManifestRecord | BlobLink, weight: number): void {
    if (ticket !== this.epoch || !this.hearing || weight > this.maxBytes / 16) return;
    this.remove(key);
    this.entries.set(key, { key, repository, repositoryId, value, weight });
    this.bytes += weight;
    let keys = this.keysOf.get(repository);
    if (!keys) this.keysOf.set(repository, (keys = new Set()));
    keys.add(key);
    this.names.set(repositoryId, repository);
    for (const oldest of this.entries.values()) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest.key);
    }
  }

  /** A write through this process changed the repository. */
  dropRepository(repository: RepositoryName | string): void {
    this.epoch++;
    for (const key of this.keysOf.get(repository) ?? []) this.remove(key);
  }

  private dropRepositoryId(id: number): void {
    const name = this.names.get(id);
    if (name === undefined) this.epoch++;
    else this.dropRepository(name);
  }

  private clear(): void {
    this.epoch++;
    this.entries.clear();
    this.keysOf.clear();
    this.names.clear();
    this.bytes = 0;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.weight;
    const keys = this.keysOf.get(entry.repository)!;
    keys.delete(key);
    if (keys.size === 0) {
      this.keysOf.delete(entry.repository);
      this.names.delete(entry.repositoryId);
    }
  }
}

function keyOf(repository: RepositoryName, reference: ManifestReference): string {
  return `${repository}\n${"tag" in reference ? reference.tag : reference.digest}`;
}

/** Apart from manifest keys: a manifest's digest may also be linked as a blob in the same repository. */
function blobKeyOf(repository: RepositoryName, digest: Digest): string {
  return `${repository}\n@${digest}`;
}
