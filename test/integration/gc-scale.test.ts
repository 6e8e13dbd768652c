// Garbage collection over a generated registry: exactly the garbage goes, at a size where quadratic work
// would show. By default a moderate registry, so the suite stays quick; BERTH_GC_SCALE=full generates
// ~10k manifests and ~50k blobs (the yardstick) and prints how long each step took.
import { performance } from "node:perf_hooks";
import { expectIntegrity, expectReachableBlobsStored, pullAndVerify } from "../support/gc-helpers";
import { generateRegistry } from "../support/gc-generate";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "../support/registry";

const FULL = process.env.BERTH_GC_SCALE === "full";
const SIZE = FULL ? { repositories: 200, images: 8000, blobs: 50_000 } : { repositories: 50, images: 1200, blobs: 6000 };

jest.setTimeout(FULL ? 1_800_000 : 300_000);

describe.each<DatabaseKind>(["postgres", "embedded"])("garbage collection at scale (%s)", (database) => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database });
  });
  afterAll(() => registry?.stop());

  test(`collects exactly the garbage of ${SIZE.images} images / ${SIZE.blobs} blobs`, async () => {
    const seconds = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const t = performance.now();
      const value = await fn();
      return [value, (performance.now() - t) / 1000];
    };
    const [generated, generateS] = await seconds(() =>
      generateRegistry(registry.deps.database, registry.deps.config.storage.root!, { ...SIZE, ageHours: 48 }),
    );
    const gc = registry.deps.gc;
    const [dry, dryS] = await seconds(() => gc.collect({ trigger: "api", dryRun: true }));
    expect(dry.totals).toMatchObject({ manifests: generated.expected.manifests, links: generated.expected.links, blobs: generated.expected.blobs });
    const [report, runS] = await seconds(() => gc.collect({ trigger: "api" }));
    expect(report.status).toBe("succeeded");
    expect(report.totals).toMatchObject({ manifests: generated.expected.manifests, links: generated.expected.links, blobs: generated.expected.blobs });
    const [again, againS] = await seconds(() => gc.collect({ trigger: "api" }));
    expect(again.totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });

    const [left] = await registry.deps.database.query<{ manifests: bigint; blobs: bigint }>(
      `SELECT (SELECT count(*) FROM manifest) AS manifests, (SELECT count(*) FROM blob) AS blobs`,
    );
    expect(Number(left.manifests)).toBe(generated.expected.keptManifests);
    expect(Number(left.blobs)).toBe(generated.expected.keptBlobs);
    await expectReachableBlobsStored(registry.deps);
    await expectIntegrity(registry.deps);
    for (const t of generated.tags.filter((_, i) => i % Math.ceil(generated.tags.length / 100) === 0)) {
      await pullAndVerify(registry.url, t.repository, t.tag);
    }

    const phases = (r: typeof report) => Object.entries(r.phases).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}s`).join(", ");
    console.log(
      `${database}: ${generated.manifests} manifests, ${generated.blobs} blobs, ${generated.links} links ` +
        `(generated in ${generateS.toFixed(1)} s); garbage: ${generated.expected.manifests} manifests, ` +
        `${generated.expected.links} links, ${generated.expected.blobs} blobs\n` +
        `  dry run ${dryS.toFixed(2)} s (${phases(dry)})\n` +
        `  collection ${runS.toFixed(2)} s (${phases(report)})\n` +
        `  second run ${againS.toFixed(2)} s (${phases(again)})`,
    );
  });
});
