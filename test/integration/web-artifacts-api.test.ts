// The web UI's artifact list (one row per manifest, as Harbor shows it) and manifest deletion, against the
// real server with auth on: indexes with their platforms, single images with their config's platform,
// untagged manifests and their filter, referrers counted under their subject (not listed on their own),
// index children kept under their index, natural tag order, paging, bad query parameters, and deletion of
// a manifest with its tags (refused while an immutable tag points at it).
import { buildImage, buildIndex, expectOciError, MediaTypes, uniqueSuffix } from "../support/oci-client";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login, seedImage, seedManifest, type Session } from "../support/web-client";
import { waitFor } from "../support/wait-for";

jest.setTimeout(120_000);

let registry: TestRegistry;
let admin: Session;
let guest: Session;

interface Artifact {
  digest: string;
  kind: string;
  tags: string[];
  immutableTags: string[];
  platforms: Array<{ os: string; architecture: string; variant?: string; digest: string }>;
  size: number;
  referrers: number;
  artifactType: string | null;
  createdAt: string;
  lastPulledAt: string | null;
}
interface ArtifactPage {
  total: number;
  untaggedTotal: number;
  page: number;
  pageSize: number;
  items: Artifact[];
}

const configOf = (architecture: string, variant?: string) =>
  Buffer.from(JSON.stringify({ architecture, os: "linux", ...(variant ? { variant } : {}), rootfs: { type: "layers", diff_ids: [] }, nonce: uniqueSuffix() }));

beforeAll(async () => {
  registry = await startTestRegistry({
    config: { auth: { enabled: true, adminPassword: "admin-pass-1" }, immutableTags: [{ project: "art", tags: ["release-.*"] }] },
  });
  admin = await login(registry.url, "admin", "admin-pass-1");
  expect((await api(registry.url, "POST", "/api/v1/projects", admin, { name: "art" })).status).toBe(201);
  expect((await api(registry.url, "POST", "/api/v1/users", admin, { username: "gus", password: "user-pass-12" })).status).toBe(201);
  expect((await api(registry.url, "PUT", "/api/v1/projects/art/members/gus", admin, { role: "guest" })).status).toBe(204);
  guest = await login(registry.url, "gus", "user-pass-12");
});

afterAll(async () => {
  await registry?.stop();
});

const list = async (repo: string, query = "", as: Session = admin): Promise<ArtifactPage> => {
  const res = await api(registry.url, "GET", `/api/v1/repositories/${repo}/-/artifacts${query}`, as);
  expect(res.status).toBe(200);
  return (await res.json()) as ArtifactPage;
};

describe("the artifact list", () => {
  const repo = "art/app";
  const amd = buildImage({ config: configOf("amd64"), layers: 1, layerSize: 300 });
  const arm = buildImage({ config: configOf("arm64", "v8"), layers: 1, layerSize: 400 });
  const index = buildIndex([amd, arm]);
  const single = buildImage({ config: configOf("s390x"), layers: 2, layerSize: 500 });
  const orphan = buildImage({ config: configOf("amd64"), layers: 1 });
  const signature = buildImage({ config: Buffer.from("{}"), configMediaType: "application/vnd.dev.cosign.artifact.sig.v1+json", layers: 1, artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", subject: single.descriptor });
  const sbom = buildImage({ config: Buffer.from("{}"), configMediaType: "application/vnd.example.sbom.config+json", layers: 1, subject: single.descriptor });

  beforeAll(async () => {
    await seedImage(registry.deps, repo, amd);
    await seedImage(registry.deps, repo, arm);
    await seedManifest(registry.deps, repo, index, "multi");
    await seedImage(registry.deps, repo, orphan);
    await seedImage(registry.deps, repo, single, "build-10");
    for (const tag of ["build-2", "latest", "build-1"]) await seedManifest(registry.deps, repo, single, tag);
    await seedImage(registry.deps, repo, signature);
    await seedImage(registry.deps, repo, sbom);
  });

  test("one row per top-level manifest: index children and referrers are not rows of their own", async () => {
    const page = await list(repo);
    expect(page.items.map((a) => a.digest).sort()).toEqual([index.digest, single.digest, orphan.digest].sort());
    expect(page).toMatchObject({ total: 3, untaggedTotal: 1, page: 1, pageSize: 25 });
    const byDigest = new Map(page.items.map((a) => [a.digest, a]));
    expect(byDigest.get(index.digest)).toMatchObject({
      kind: "index",
      tags: ["multi"],
      referrers: 0,
      platforms: [
        { os: "linux", architecture: "amd64", digest: amd.digest },
        { os: "linux", architecture: "arm64", variant: "v8", digest: arm.digest },
      ],
      size: index.bytes.length + amd.bytes.length + amd.config.data.length + 300 + arm.bytes.length + arm.config.data.length + 400,
      lastPulledAt: null,
    });
    // Tags in natural order; a single image's platform comes from its config; its signature and SBOM are counted.
    expect(byDigest.get(single.digest)).toMatchObject({
      kind: "image",
      tags: ["build-1", "build-2", "build-10", "latest"],
      platforms: [{ os: "linux", architecture: "s390x", digest: single.digest }],
      referrers: 2,
      artifactType: null,
    });
    expect(byDigest.get(orphan.digest)).toMatchObject({ tags: [], platforms: [{ os: "linux", architecture: "amd64" }] });
  });

  test("the untagged filter lists only untagged top-level manifests, with the same count", async () => {
    const page = await list(repo, "?untagged=true");
    expect(page).toMatchObject({ total: 1, untaggedTotal: 1 });
    expect(page.items.map((a) => a.digest)).toEqual([orphan.digest]);
  });

  test("a referrer whose subject is not in the repository is listed, with its artifact type", async () => {
    const other = "art/sigs";
    const lonely = buildImage({ config: Buffer.from("{}"), configMediaType: "application/vnd.example.sbom.config+json", layers: 1, subject: { mediaType: MediaTypes.OCI_MANIFEST, digest: `sha256:${"e".repeat(64)}`, size: 10 } });
    await seedImage(registry.deps, other, lonely);
    const page = await list(other);
    expect(page.items).toEqual([expect.objectContaining({ digest: lonely.digest, artifactType: "application/vnd.example.sbom.config+json", platforms: [], tags: [] })]);
  });

  test("a pull is shown as the manifest's last pull", async () => {
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/build-2`, { headers: { Authorization: `Basic ${Buffer.from("admin:admin-pass-1").toString("base64")}`, Accept: single.mediaType } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await waitFor("the pull to be recorded", async () => (await list(repo)).items.find((a) => a.digest === single.digest)?.lastPulledAt ?? null);
  });

  test("pages walk the list newest first without overlap", async () => {
    const first = await list(repo, "?pageSize=2");
    const second = await list(repo, "?pageSize=2&page=2");
    expect(first.items).toHaveLength(2);
    expect(second.items).toHaveLength(1);
    const all = [...first.items, ...second.items];
    expect(new Set(all.map((a) => a.digest)).size).toBe(3);
    const times = all.map((a) => Date.parse(a.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await list(repo, "?page=3&pageSize=2")).items).toEqual([]);
  });

  test("bad query parameters are 400 in the JSON API's format; unknown repositories 404; guests may read", async () => {
    for (const query of ["?untagged=yes", "?page=0", "?pageSize=101", "?pageSize=abc", "?page=1.5"]) {
      await expectOciError(await api(registry.url, "GET", `/api/v1/repositories/${repo}/-/artifacts${query}`, admin), 400, "INVALID_REQUEST");
    }
    await expectOciError(await api(registry.url, "GET", `/api/v1/repositories/art/nothing/-/artifacts`, admin), 404, "NAME_UNKNOWN");
    for (const bad of ["art/%00x", "art/UPPER", "art/a%2F..%2Fb"]) {
      const res = await api(registry.url, "GET", `/api/v1/repositories/${bad}/-/artifacts`, admin);
      expect({ bad, status: res.status, json: res.headers.get("content-type")?.startsWith("application/json") }).toEqual({ bad, status: 400, json: true });
    }
    await expectOciError(await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/sha256:${"0".repeat(63)}`, admin), 400, "DIGEST_INVALID");
    await expectOciError(await api(registry.url, "GET", `/api/v1/repositories/${repo}/-/artifacts`, null), 401, "UNAUTHORIZED");
    expect((await list(repo, "", guest)).total).toBe(3);
  });

  test("the tag list sorts names naturally, both ways, across pages", async () => {
    const names = async (query: string) =>
      ((await (await api(registry.url, "GET", `/api/v1/repositories/${repo}/-/tags${query}`, admin)).json()) as { total: number; items: Array<{ name: string; platforms: unknown[] }> });
    const asc = await names("?sort=name&pageSize=3");
    expect(asc.total).toBe(5);
    expect(asc.items.map((t) => t.name)).toEqual(["build-1", "build-2", "build-10"]);
    expect((await names("?sort=name&pageSize=3&page=2")).items.map((t) => t.name)).toEqual(["latest", "multi"]);
    expect((await names("?sort=name&order=desc&pageSize=2")).items.map((t) => t.name)).toEqual(["multi", "latest"]);
    expect((await names("?sort=name&q=build")).items.map((t) => t.name)).toEqual(["build-1", "build-2", "build-10"]);
    expect((await names("?sort=name&q=build-1")).items[0].platforms).toEqual([{ os: "linux", architecture: "s390x", digest: single.digest }]);
  });
});

describe("deleting a manifest", () => {
  test("takes all its tags with it; a moved tag leaves an untagged manifest that can be deleted from the list", async () => {
    const repo = "art/moves";
    const v1 = buildImage({ config: configOf("amd64") });
    const v2 = buildImage({ config: configOf("amd64") });
    await seedImage(registry.deps, repo, v1, "stable");
    await seedManifest(registry.deps, repo, v1, "1.0");
    await seedImage(registry.deps, repo, v2, "2.0");
    await seedManifest(registry.deps, repo, v2, "stable");
    expect((await list(repo, "?untagged=true")).items).toEqual([]);
    const res = await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${v1.digest}`, admin);
    expect(res.status).toBe(204);
    expect((await list(repo)).items.map((a) => [a.digest, a.tags])).toEqual([[v2.digest, ["2.0", "stable"]]]);
    // Now 2.0 moves to a third image: v2 keeps "stable"; moving that too leaves v2 untagged.
    const v3 = buildImage({ config: configOf("amd64") });
    await seedImage(registry.deps, repo, v3, "2.0");
    await seedManifest(registry.deps, repo, v3, "stable");
    const untagged = await list(repo, "?untagged=true");
    expect(untagged).toMatchObject({ total: 1, untaggedTotal: 1, items: [{ digest: v2.digest, tags: [] }] });
    expect((await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${v2.digest}`, admin)).status).toBe(204);
    expect(await list(repo)).toMatchObject({ total: 1, untaggedTotal: 0 });
  });

  test("is refused while an immutable tag points at it: 403 in the server's words, nothing deleted", async () => {
    const repo = "art/frozen";
    const image = buildImage({ config: configOf("amd64") });
    await seedImage(registry.deps, repo, image, "release-1.0");
    await seedManifest(registry.deps, repo, image, "dev");
    const listed = await list(repo);
    expect(listed.items[0]).toMatchObject({ tags: ["dev", "release-1.0"], immutableTags: ["release-1.0"] });
    // The registry's code for it is DENIED (OCI's), with the reason in the detail.
    const body = await expectOciError(await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${image.digest}`, admin), 403, "DENIED");
    expect(body.errors[0].message).toMatch(/^tag release-1\.0 is immutable \(.+\) and cannot be deleted$/);
    expect(body.errors[0].detail).toMatchObject({ tag: "release-1.0", reason: "immutable tag", digest: image.digest });
    expect((await list(repo)).items[0].tags).toEqual(["dev", "release-1.0"]);
  });

  test("a guest may not delete; deleting the last manifest empties the repository (404 afterwards, once)", async () => {
    const repo = "art/last";
    const image = buildImage({ config: configOf("amd64") });
    await seedImage(registry.deps, repo, image, "only");
    await expectOciError(await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${image.digest}`, guest), 403, "DENIED");
    expect((await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${image.digest}`, admin)).status).toBe(204);
    await expectOciError(await api(registry.url, "GET", `/api/v1/repositories/${repo}`, admin), 404, "NAME_UNKNOWN");
    await expectOciError(await api(registry.url, "DELETE", `/api/v1/repositories/${repo}/-/manifests/${image.digest}`, admin), 404, "MANIFEST_UNKNOWN");
  });
});
