import type { RepositoryName } from "../oci/names";
import type { Database } from "./database";
import type { ManifestRecord, ManifestReference } from "./store";

/** The channel migration 20261125130000_manifest_change_notify announces changes on. */
const CHANNEL = "berth_manifest_change";

interface Entry {
  key: string;
  repository: string;
  repositoryId: number;
  record: ManifestRecord;
}

/**
 * Manifests recently read, by repository and tag or digest, so that a GET of a hot manifest costs no
 * database round trip. Bounded by bytes, least recently used first out.
 *
 * Kept correct across processes: the database announces every change to a repository's manifests or
 * tags, whoever makes it (another replica, the collector, retention, the mirror), and the repository's
 * entries go. Changes made through this process's store drop them before the write returns. A read
 * fills the cache only if no announcement arrived while it ran (the epoch), so it cannot put back what
 * a change just removed. While the announcements cannot be heard (the listening connection is down),
 * the cache is empty and unused.
 */
export class ManifestCache {
  private readonly entries = new Map<string, Entry>();
  /** The keys of each repository's entries, and each repository's name by id (announcements carry ids). */
  private readonly keysOf = new Map<string, Set<string>>();
  private readonly names = new Map<number, string>();
  private bytes = 0;
  private epoch = 0;
  private hearing = false;

  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  /** Listens for the database's announcements; close() stops. */
  static async listening(database: Pick<Database, "listen">, maxBytes?: number): Promise<{ cache: ManifestCache; close(): Promise<void> }> {
    const cache = new ManifestCache(maxBytes);
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
    const key = keyOf(repository, reference);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key); // to the back of the line: most recently used
    this.entries.set(key, entry);
    return entry.record;
  }

  /** Taken before reading the database; fill() accepts the result only under the same ticket. */
  ticket(): number {
    return this.hearing ? this.epoch : -1;
  }

  fill(ticket: number, repository: RepositoryName, repositoryId: number, reference: ManifestReference, record: ManifestRecord): void {
    if (ticket !== this.epoch || !this.hearing || record.content.length > this.maxBytes / 16) return;
    const key = keyOf(repository, reference);
    this.remove(key);
    this.entries.set(key, { key, repository, repositoryId, record });
    this.bytes += record.content.length;
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
    this.bytes -= entry.record.content.length;
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
