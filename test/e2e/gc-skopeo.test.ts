// Garbage collection end to end with skopeo: push, re-tag, move a tag, delete, then `berth gc` (the CLI,
// in its own process, while the server keeps serving) and pull what remains, byte for byte.
import path from "node:path";
import { mkdir, readdir } from "node:fs/promises";
import { hashLayoutBlobs, multiLayerImage, readLayoutTag, tinyImage, twoPlatformIndex, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { makeTempDir, removeTree, run } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoDelete, skopeoInspectRaw, skopeoListTags } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { startTestRegistry, type TestRegistry } from "../support/registry";

const MAIN = path.resolve(__dirname, "../../dist/main.js");
jest.setTimeout(240_000);

let work: string;
let registry: TestRegistry;
let tiny: OciLayout;
let multi: OciLayout;
let index: OciLayout;

beforeAll(async () => {
  requireBinaries("skopeo");
  work = await makeTempDir("berth-e2e-gc");
  tiny = await writeOciLayout(path.join(work, "tiny"), "latest", tinyImage());
  multi = await writeOciLayout(path.join(work, "multi"), "latest", multiLayerImage([1, 2, 1]));
  index = await writeOciLayout(path.join(work, "index"), "latest", twoPlatformIndex());
  registry = await startTestRegistry({ database: "postgres" });
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTree(work);
});

/** `berth gc` against the running server's database and storage, as an operator would run it. */
async function berthGc(...args: string[]): Promise<{ totals: Record<string, number>; status: string; items: { blobs: Array<{ digest: string }> } }> {
  const env = { ...process.env, DATABASE_URL: registry.deps.config.databaseUrl!, BERTH_DATA_DIR: registry.dataDir };
  const { stdout } = await run("node", [MAIN, "gc", "--json", ...args], { env });
  return JSON.parse(stdout.toString("utf8"));
}

async function storedBlobs(): Promise<Set<string>> {
  const root = path.join(registry.deps.config.storage.root!, "blobs", "sha256");
  const out = new Set<string>();
  for (const dir of await readdir(root)) for (const f of await readdir(path.join(root, dir))) out.add(`sha256:${f}`);
  return out;
}

test("push, re-tag, move a tag, delete, collect, and pull what remains", async () => {
  const host = registry.host;
  await skopeoCopy(multi.ref, dockerRef(host, "gc/app", "v1"), { preserveDigests: true });
  await skopeoCopy(tiny.ref, dockerRef(host, "gc/app", "v2"), { preserveDigests: true });
  await skopeoCopy(index.ref, dockerRef(host, "gc/multi", "1.0"), { all: true, preserveDigests: true });
  // Re-tag registry to registry: only the manifest is written again.
  await skopeoCopy(dockerRef(host, "gc/app", "v2"), dockerRef(host, "gc/app", "stable"), { preserveDigests: true });
  // Move gc/multi:1.0 to the tiny image: the index and its two platform images become dangling.
  await skopeoCopy(tiny.ref, dockerRef(host, "gc/multi", "1.0"), { preserveDigests: true });
  // Delete gc/app:v1 (skopeo deletes the manifest by digest): its layers are referenced by nothing now.
  await skopeoDelete(dockerRef(host, "gc/app", "v1"));

  const garbageBlobs = [...multi.images, ...index.images].flatMap((img) => [img.config.digest, ...img.layers.map((l) => l.digest)]);
  const tinyBlobs = [tiny.images[0].config.digest, ...tiny.images[0].layers.map((l) => l.digest)];
  const before = await storedBlobs();
  for (const d of [...garbageBlobs, ...tinyBlobs]) expect(before).toContain(d);

  // Within the default grace period (1 h) nothing goes; with --grace 0 the garbage does.
  const dry = await berthGc("--dry-run", "--grace", "0");
  expect(dry.totals).toMatchObject({ manifests: 3, blobs: garbageBlobs.length });
  expect((await berthGc()).totals).toMatchObject({ manifests: 0, blobs: 0 });
  const report = await berthGc("--grace", "0");
  expect(report.status).toBe("succeeded");
  expect(report.totals).toMatchObject({ manifests: 3, links: garbageBlobs.length, blobs: garbageBlobs.length });
  expect(report.items.blobs.map((b) => b.digest).sort()).toEqual([...garbageBlobs].sort());

  const after = await storedBlobs();
  for (const d of garbageBlobs) expect(after).not.toContain(d);
  for (const d of tinyBlobs) expect(after).toContain(d);

  // What remains pulls completely, byte for byte; what went is gone.
  expect((await skopeoListTags(`docker://${host}/gc/app`)).sort()).toEqual(["stable", "v2"]);
  for (const [repo, tag] of [["gc/app", "v2"], ["gc/app", "stable"], ["gc/multi", "1.0"]]) {
    const out = path.join(work, "out", repo.replace("/", "_"), tag);
    await mkdir(path.dirname(out), { recursive: true });
    await skopeoCopy(dockerRef(host, repo, tag), ociRef(out), { preserveDigests: true });
    expect((await readLayoutTag(out, "latest")).digest).toBe(tiny.top.digest);
    const blobs = await hashLayoutBlobs(out);
    for (const [name, actual] of blobs) expect(actual).toBe(name);
    expect([...blobs.keys()].sort()).toEqual([...tiny.blobs].sort());
  }
  await expect(skopeoInspectRaw(dockerRef(host, "gc/app", multi.top.digest))).rejects.toThrow(/manifest unknown|not found|404/i);
  await expect(skopeoInspectRaw(dockerRef(host, "gc/multi", index.top.digest))).rejects.toThrow(/manifest unknown|not found|404/i);

  // Pushing the deleted image again works (its blobs are uploaded afresh), and a second collection finds nothing.
  await skopeoCopy(multi.ref, dockerRef(host, "gc/app", "v1"), { preserveDigests: true });
  expect((await skopeoInspectRaw(dockerRef(host, "gc/app", "v1"))).digest).toBe(multi.top.digest);
  expect((await berthGc("--grace", "0")).totals).toMatchObject({ manifests: 0, links: 0, blobs: 0 });
  const out = path.join(work, "out", "again");
  await skopeoCopy(dockerRef(host, "gc/app", "v1"), ociRef(out), { preserveDigests: true });
  for (const [name, actual] of await hashLayoutBlobs(out)) expect(actual).toBe(name);
});
