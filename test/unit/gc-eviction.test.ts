// The pure parts of mirror cache eviction: sizes, its configuration, which images go, and when the
// server starts a collection by itself.
import { loadConfig, parseConfig } from "../../src/config";
import { parseByteSize } from "../../src/config/byte-size";
import { CacheWatch } from "../../src/gc/cache-watch";
import { mirrorCacheOf } from "../../src/gc/eviction";
import { evictionUnits, selectEvictions, type CachedBlob, type MirroredManifest } from "../../src/gc/eviction-plan";

describe("byte sizes", () => {
  test.each([
    ["0", 0],
    ["1024", 1024],
    ["500MB", 500_000_000],
    ["50GiB", 50 * 1024 ** 3],
    ["1.5 GB", 1_500_000_000],
    ["2g", 2 * 1024 ** 3],
    ["10kib", 10_240],
    [" 7b ", 7],
  ])("%j", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  test.each(["", "MB", "-1MB", "1 XB", "1e9", "1,5GB"])("refuses %j", (text) => {
    expect(() => parseByteSize(text)).toThrow(/invalid size/);
  });
});

describe("mirror cache configuration", () => {
  const upstreams = [{ name: "hub", url: "https://registry-1.docker.io", prefix: "" }, { name: "ghcr", url: "https://ghcr.io", prefix: "ghcr.io" }];

  test("takes sizes as numbers or strings, with a low watermark and an interval", () => {
    const config = parseConfig({ mirror: { upstreams, cacheMaxBytes: "50GiB", cacheLowWatermark: 0.8, evictionInterval: "10m" } });
    expect(config.mirror).toMatchObject({ cacheMaxBytes: 50 * 1024 ** 3, cacheLowWatermark: 0.8, evictionInterval: 600_000 });
    expect(parseConfig({ mirror: { cacheMaxBytes: 1000 } }).mirror).toMatchObject({ cacheMaxBytes: 1000, cacheLowWatermark: 0.9, evictionInterval: 300_000 });
    expect(parseConfig({}).mirror.cacheMaxBytes).toBeUndefined();
  });

  test("reads BERTH_MIRROR_CACHE_MAX_BYTES", () => {
    expect(loadConfig({ BERTH_MIRROR_CACHE_MAX_BYTES: "500MB" }).mirror.cacheMaxBytes).toBe(500_000_000);
    expect(loadConfig({ BERTH_MIRROR_CACHE_MAX_BYTES: "123" }).mirror.cacheMaxBytes).toBe(123);
  });

  test("refuses bad values by key", () => {
    expect(() => parseConfig({ mirror: { cacheMaxBytes: "lots" } })).toThrow(/mirror\.cacheMaxBytes: invalid size/);
    expect(() => parseConfig({ mirror: { cacheMaxBytes: -1 } })).toThrow(/mirror\.cacheMaxBytes/);
    expect(() => parseConfig({ mirror: { cacheLowWatermark: 0 } })).toThrow(/mirror\.cacheLowWatermark/);
    expect(() => parseConfig({ mirror: { cacheLowWatermark: 1.5 } })).toThrow(/mirror\.cacheLowWatermark/);
  });

  test("describes the mirrored names and the target; no limit or no upstream means no eviction", () => {
    const config = parseConfig({ mirror: { upstreams, cacheMaxBytes: "1000", cacheLowWatermark: 0.75 } });
    expect(mirrorCacheOf(config.mirror)).toEqual({ prefixes: ["ghcr.io"], hasDefault: true, limitBytes: 1000, targetBytes: 750 });
    expect(mirrorCacheOf(parseConfig({ mirror: { upstreams } }).mirror)).toBeNull();
    expect(mirrorCacheOf(parseConfig({ mirror: { cacheMaxBytes: 1000 } }).mirror)).toBeNull();
  });
});

const day = (n: number) => new Date(Date.UTC(2026, 0, n));
const manifest = (id: number, lastUsed: Date, blobs: string[], repositoryId = 1): MirroredManifest => ({ id, repositoryId, lastUsed, blobs });
const sizes = (entries: Record<string, number>, flags: Record<string, Partial<CachedBlob>> = {}) =>
  new Map(Object.entries(entries).map(([d, size]) => [d, { size, shared: false, fresh: false, ...flags[d] }]));

describe("eviction units", () => {
  test("an index is one unit with its children, used when any of them was", () => {
    const units = evictionUnits(
      [manifest(1, day(1), []), manifest(2, day(5), ["a"]), manifest(3, day(2), ["b"]), manifest(4, day(3), ["c"])],
      [{ parent: 1, child: 2 }, { parent: 1, child: 3 }],
    );
    expect(units.map((u) => ({ root: u.root, members: u.members.sort(), lastUsed: u.lastUsed, blobs: [...u.blobs].sort() }))).toEqual([
      { root: 1, members: [1, 2, 3], lastUsed: day(5), blobs: ["a", "b"] },
      { root: 4, members: [4], lastUsed: day(3), blobs: ["c"] },
    ]);
  });

  test("a child two indexes list belongs to both", () => {
    const units = evictionUnits(
      [manifest(1, day(1), []), manifest(2, day(1), []), manifest(3, day(1), ["x"])],
      [{ parent: 1, child: 3 }, { parent: 2, child: 3 }],
    );
    expect(units.map((u) => [u.root, u.members.sort()])).toEqual([[1, [1, 3]], [2, [2, 3]]]);
  });
});

describe("choosing what to evict", () => {
  const cutoff = day(20);

  test("nothing while the cache is within its limit", () => {
    const units = evictionUnits([manifest(1, day(1), ["a"]), manifest(2, day(2), ["b"])], []);
    const s = selectEvictions(units, sizes({ a: 100, b: 100 }), { cutoff, limitBytes: 200, targetBytes: 150 });
    expect(s).toMatchObject({ cacheBytes: 200, chosen: [], bytesAfter: 200 });
  });

  test("least recently used first, down to the target rather than just under the limit", () => {
    const units = evictionUnits([manifest(1, day(3), ["a"]), manifest(2, day(1), ["b"]), manifest(3, day(2), ["c"]), manifest(4, day(4), ["d"])], []);
    const s = selectEvictions(units, sizes({ a: 100, b: 100, c: 100, d: 100 }), { cutoff, limitBytes: 350, targetBytes: 200 });
    expect(s.chosen.map((c) => [c.unit.root, c.bytes])).toEqual([[2, 100], [3, 100]]);
    expect(s).toMatchObject({ cacheBytes: 400, bytesAfter: 200 });
    expect([...s.manifests].sort()).toEqual([2, 3]);
  });

  test("a blob still held by an image that stays is not freed; it is once its last holder goes", () => {
    const units = evictionUnits([manifest(1, day(1), ["shared", "a"]), manifest(2, day(2), ["shared", "b"]), manifest(3, day(3), ["c"])], []);
    const s = selectEvictions(units, sizes({ shared: 1000, a: 10, b: 10, c: 10 }), { cutoff, limitBytes: 1000, targetBytes: 900 });
    expect(s.chosen.map((c) => [c.unit.root, c.bytes])).toEqual([[1, 10], [2, 1010]]);
    expect(s.bytesAfter).toBe(10);
  });

  test("blobs shared with local repositories are not cache, and never count as freed", () => {
    const units = evictionUnits([manifest(1, day(1), ["local", "a"]), manifest(2, day(2), ["b"])], []);
    const blobs = sizes({ local: 5000, a: 100, b: 100 }, { local: { shared: true } });
    expect(selectEvictions(units, blobs, { cutoff, limitBytes: 200, targetBytes: 100 }).chosen).toEqual([]);
    const s = selectEvictions(units, blobs, { cutoff, limitBytes: 150, targetBytes: 100 });
    expect(s.chosen.map((c) => [c.unit.root, c.bytes])).toEqual([[1, 100]]);
    expect(s.cacheBytes).toBe(200);
  });

  test("never an image used within the grace period, even when that leaves the cache over its limit", () => {
    const units = evictionUnits([manifest(1, day(21), ["a"]), manifest(2, day(1), ["b"]), manifest(3, day(22), ["c"])], []);
    const s = selectEvictions(units, sizes({ a: 100, b: 100, c: 100 }), { cutoff, limitBytes: 100, targetBytes: 50 });
    expect(s.chosen.map((c) => c.unit.root)).toEqual([2]);
    expect(s.bytesAfter).toBe(200);
  });

  test("a blob touched within the grace period is counted but not freed", () => {
    const units = evictionUnits([manifest(1, day(1), ["touched"]), manifest(2, day(2), ["b"])], []);
    const s = selectEvictions(units, sizes({ touched: 100, b: 100 }, { touched: { fresh: true } }), { cutoff, limitBytes: 150, targetBytes: 100 });
    expect(s.chosen.map((c) => [c.unit.root, c.bytes])).toEqual([[1, 0], [2, 100]]);
  });

  test("an index goes with its children, but a child another staying index lists stays", () => {
    const units = evictionUnits(
      [manifest(1, day(1), []), manifest(2, day(1), ["a"]), manifest(3, day(1), ["b"]), manifest(4, day(9), []), manifest(5, day(2), ["c"])],
      [{ parent: 1, child: 2 }, { parent: 1, child: 3 }, { parent: 4, child: 3 }],
    );
    const s = selectEvictions(units, sizes({ a: 100, b: 100, c: 100 }), { cutoff, limitBytes: 250, targetBytes: 200 });
    expect(s.chosen.map((c) => [c.unit.root, c.bytes])).toEqual([[1, 100]]);
    expect([...s.manifests].sort()).toEqual([1, 2]);
  });
});

describe("the cache watch", () => {
  // Its settle delay and interval run on jest's fake timers and clock: the test moves time, nothing sleeps.
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());
  const settle = (ms: number) => jest.advanceTimersByTimeAsync(ms);

  test("measures once the estimate crosses the limit, collects when confirmed, then not again within the interval", async () => {
    let size = 0;
    const calls: string[] = [];
    const watch = new CacheWatch({
      limitBytes: 1000,
      intervalMs: 60_000,
      measure: async () => {
        calls.push("measure");
        return size;
      },
      collect: async () => {
        calls.push("collect");
        size = 1500; // what was pulled within the grace period stays
        return true;
      },
    });
    try {
      size = 600;
      watch.grew(600); // no measurement yet: measure
      await settle(1300);
      expect(calls).toEqual(["measure"]);
      watch.grew(300); // 900: within the limit, nothing to do
      await settle(1300);
      expect(calls).toEqual(["measure"]);
      size = 2000;
      watch.grew(1100);
      watch.grew(10); // the fetches of one pull make one check
      await settle(1300);
      expect(calls).toEqual(["measure", "measure", "collect", "measure"]);
      watch.grew(10); // still over, but the interval has not passed
      await settle(1300);
      expect(calls).toHaveLength(4);
    } finally {
      await watch.stop();
    }
  });
});
