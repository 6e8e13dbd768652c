import type { ListenHandlers } from "../../src/metadata/database";
import { ContentCache } from "../../src/metadata/content-cache";
import type { ManifestRecord } from "../../src/metadata/store";

const record = (size: number, digest = `sha256:${"a".repeat(64)}`): ManifestRecord => ({
  digest: digest as never,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  content: Buffer.alloc(size),
  subject: null,
});
const repo = (name: string) => name as never;
const tag = (name: string) => ({ tag: name as never });

/** A cache whose announcement channel the test drives by hand. */
async function cacheWithChannel(maxBytes?: number): Promise<{ cache: ContentCache; channel: ListenHandlers }> {
  let channel!: ListenHandlers;
  const { cache } = await ContentCache.listening(
    {
      listen: async (_name, handlers) => {
        channel = handlers;
        handlers.listening();
        return { close: async () => undefined };
      },
    },
    maxBytes,
  );
  return { cache, channel };
}

describe("ContentCache", () => {
  test("serves what was filled, and a repository's announced change drops only that repository", async () => {
    const { cache, channel } = await cacheWithChannel();
    cache.fill(cache.ticket(), repo("a/x"), 1, tag("v1"), record(10));
    cache.fill(cache.ticket(), repo("b/y"), 2, tag("v1"), record(10));
    expect(cache.lookup(repo("a/x"), tag("v1"))).toBeDefined();
    channel.message("1");
    expect(cache.lookup(repo("a/x"), tag("v1"))).toBeUndefined();
    expect(cache.lookup(repo("b/y"), tag("v1"))).toBeDefined();
    channel.message("*");
    expect(cache.size).toBe(0);
  });

  test("a read that began before a change cannot fill the cache with what it read", async () => {
    const { cache, channel } = await cacheWithChannel();
    const before = cache.ticket();
    channel.message("7"); // some change, anywhere, while the read ran
    cache.fill(before, repo("a/x"), 1, tag("v1"), record(10));
    expect(cache.size).toBe(0);
    const local = cache.ticket();
    cache.dropRepository("a/x"); // a write through this process
    cache.fill(local, repo("a/x"), 1, tag("v1"), record(10));
    expect(cache.size).toBe(0);
  });

  test("bounded by bytes, least recently used out first", async () => {
    const { cache } = await cacheWithChannel(16 * 100);
    for (const t of ["t1", "t2", "t3", "t4", "t5"]) cache.fill(cache.ticket(), repo("a/x"), 1, tag(t), record(90));
    cache.lookup(repo("a/x"), tag("t1")); // t1 used: t2 is now the oldest
    for (const t of ["t6", "t7", "t8", "t9", "t10", "t11", "t12", "t13", "t14", "t15", "t16", "t17", "t18"]) {
      cache.fill(cache.ticket(), repo("a/x"), 1, tag(t), record(90));
    }
    expect(cache.lookup(repo("a/x"), tag("t1"))).toBeDefined();
    expect(cache.lookup(repo("a/x"), tag("t2"))).toBeUndefined();
    expect(cache.size).toBe(17);
    // Something bigger than a sixteenth of the budget is never cached.
    cache.fill(cache.ticket(), repo("a/x"), 1, tag("big"), record(101));
    expect(cache.lookup(repo("a/x"), tag("big"))).toBeUndefined();
  });

  test("while the channel is lost the cache is empty and refuses fills; heard again, it works", async () => {
    const { cache, channel } = await cacheWithChannel();
    cache.fill(cache.ticket(), repo("a/x"), 1, tag("v1"), record(10));
    channel.lost();
    expect(cache.size).toBe(0);
    cache.fill(cache.ticket(), repo("a/x"), 1, tag("v1"), record(10));
    expect(cache.size).toBe(0);
    channel.listening();
    cache.fill(cache.ticket(), repo("a/x"), 1, tag("v1"), record(10));
    expect(cache.size).toBe(1);
  });

  test("blob links: served while fresh, apart from a manifest of the same digest, dropped with their repository", async () => {
    const { cache, channel } = await cacheWithChannel();
    const digest = `sha256:${"b".repeat(64)}` as never;
    const blob = { digest, size: 42 };
    cache.fillBlob(cache.ticket(), repo("a/x"), 1, { blob, freshUntil: Date.now() + 60_000 });
    cache.fillBlob(cache.ticket(), repo("a/stale"), 3, { blob, freshUntil: Date.now() - 1 });
    expect(cache.lookupBlob(repo("a/x"), digest)).toEqual(blob);
    expect(cache.lookupBlob(repo("b/y"), digest)).toBeUndefined();
    expect(cache.lookup(repo("a/x"), { digest })).toBeUndefined(); // a blob is not a manifest
    expect(cache.lookupBlob(repo("a/stale"), digest)).toBeUndefined(); // past its freshness: ask the database
    cache.fill(cache.ticket(), repo("a/x"), 1, { digest }, record(10, digest));
    expect(cache.lookupBlob(repo("a/x"), digest)).toEqual(blob);

    channel.message("1");
    expect(cache.lookupBlob(repo("a/x"), digest)).toBeUndefined();

    cache.fillBlob(cache.ticket(), repo("a/x"), 1, { blob, freshUntil: Date.now() + 60_000 });
    cache.dropRepository(repo("a/x"));
    expect(cache.lookupBlob(repo("a/x"), digest)).toBeUndefined();
  });

  test("a blob lookup that began before a change cannot fill the cache with what it read", async () => {
    const { cache, channel } = await cacheWithChannel();
    const blob = { digest: `sha256:${"c".repeat(64)}` as never, size: 1 };
    const ticket = cache.ticket();
    channel.message("9");
    cache.fillBlob(ticket, repo("a/x"), 1, { blob, freshUntil: Date.now() + 60_000 });
    expect(cache.lookupBlob(repo("a/x"), blob.digest)).toBeUndefined();
  });
});
