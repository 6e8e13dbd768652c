// Pushes to one repository do not queue behind each other: a push still in progress (its transaction
// open, holding what a manifest PUT holds) must not hold up another manifest PUT or blob upload to the
// same repository. And where they must take turns — two pushes creating one immutable tag — only one wins.
// Real Postgres only: the embedded database has one connection, so its transactions take turns anyway.
import type { Query } from "../../src/metadata/database";
import { foldRepositoryFigures } from "../../src/metadata/repository-figures";
import { image, layer, push } from "../support/gc-helpers";
import { expectOciError, pushManifest, putBlob } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";

/** Resolves with `promise`, or fails naming `what` if it is still pending after `ms`: a liveness bound. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("concurrent pushes to one repository (postgres)", () => {
  let registry: TestRegistry;
  const base = () => registry.url;

  beforeAll(async () => {
    registry = await startTestRegistry({ config: { immutableTags: [{ project: "imm", tags: ["v.*"] }] } });
  });
  afterAll(() => registry?.stop());

  /**
   * Runs `hold` in a transaction left open until `during` has finished: what `hold` writes or locks is
   * held exactly as an unfinished push would hold it.
   */
  async function whileHeld<T>(hold: (q: Query) => Promise<void>, during: (held: Promise<void>) => Promise<T>): Promise<T> {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let ready!: () => void;
    const holding = new Promise<void>((resolve) => (ready = resolve));
    const transaction = registry.deps.database.transaction(async (q) => {
      await hold(q);
      ready();
      await gate;
    });
    await Promise.race([holding, transaction]);
    try {
      return await during(transaction);
    } finally {
      release();
      await transaction;
    }
  }

  /** What a manifest PUT with a tag writes, as raw statements (the triggers fire as they do for a push). */
  async function writeManifest(q: Query, repository: string, bytes: Buffer, digest: string, mediaType: string, tag: string): Promise<void> {
    const [repo] = await q<{ id: number }>(`SELECT id FROM repository WHERE name = $1 FOR KEY SHARE`, [repository]);
    const [m] = await q<{ id: number }>(
      `INSERT INTO manifest (repository_id, digest, media_type, content, size) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [repo.id, digest, mediaType, bytes, bytes.length],
    );
    await q(`INSERT INTO tag (repository_id, name, manifest_id) VALUES ($1, $2, $3)`, [repo.id, tag, m.id]);
  }

  test("a manifest PUT and a blob upload go through while another push to the repository is unfinished", async () => {
    const first = image([layer()]);
    const second = image([layer()]);
    const unfinished = image([layer()]);
    await push(base(), "team/app", first, "seed"); // the repository and first's blobs exist
    for (const blob of [second.config, ...second.layers]) await putBlob(base(), "team/app", blob.data);

    await whileHeld(
      (q) => writeManifest(q, "team/app", unfinished.bytes, unfinished.digest, unfinished.mediaType, "held"),
      async () => {
        const put = await within(15_000, "manifest PUT", pushManifest(base(), "team/app", "second", second.bytes, second.mediaType));
        expect(put.status).toBe(201);
        await within(15_000, "blob upload", putBlob(base(), "team/app", layer().data));
      },
    );

    // Both pushes count in the figures the web UI shows, once folded in.
    await foldRepositoryFigures(registry.deps.database);
    const [repo] = await registry.deps.database.query<{ tag_count: number }>(`SELECT tag_count FROM repository WHERE name = $1`, [
      "team/app",
    ]);
    expect(repo.tag_count).toBe(3);
  });

  test("two pushes creating one immutable tag: the second waits for the first and is refused", async () => {
    const a = image([layer()]);
    const b = image([layer()]);
    await push(base(), "imm/app", a, "other");
    for (const blob of [b.config, ...b.layers]) await putBlob(base(), "imm/app", blob.data);

    const { racing } = await whileHeld(
      async (q) => {
        const [repo] = await q<{ id: number }>(`SELECT id FROM repository WHERE name = 'imm/app'`);
        const [m] = await q<{ id: number }>(`SELECT id FROM manifest WHERE repository_id = $1 AND digest = $2`, [repo.id, a.digest]);
        await q(`INSERT INTO tag (repository_id, name, manifest_id) VALUES ($1, 'v1', $2)`, [repo.id, m.id]);
      },
      async () => {
        const racing = pushManifest(base(), "imm/app", "v1", b.bytes, b.mediaType);
        // It cannot finish before the first push does: the tag's unique key makes it wait.
        const early = await Promise.race([racing.then(() => "finished"), new Promise((r) => setTimeout(() => r("waiting"), 500))]);
        expect(early).toBe("waiting");
        return { racing };
      },
    );
    const body = await expectOciError(await racing, 403, "DENIED");
    expect(body.errors[0].detail).toMatchObject({ tag: "v1", digest: a.digest });
    const get = await fetch(`${base()}/v2/imm/app/manifests/v1`);
    expect(get.headers.get("docker-content-digest")).toBe(a.digest);
  });
});
