// Issue 14, item 2: a project's repositories belong to it by key. Deleting a project that holds
// repositories is refused unless forced; a forced deletion takes its repositories, manifests, tags and blob
// links (the collector then reclaims the bytes); the next user to push under the name starts an empty
// project and inherits nothing; no list, search or pull ever shows a repository without its project.
import { listFiles } from "../support/gc-helpers";
import {
  ADMIN_PASSWORD,
  basic,
  bearer,
  errorCodes,
  getManifestAs,
  pushBlobAs,
  pushImageAs,
  putManifestAs,
  startAuthRegistry,
  tokenFor,
  v2,
  type Creds,
} from "../support/auth-helpers";
import { buildImage, uniqueSuffix } from "../support/oci-client";
import type { DatabaseKind, TestRegistry } from "../support/registry";

jest.setTimeout(120_000);

const ADMIN: Creds = { username: "admin", password: ADMIN_PASSWORD };

describe.each<DatabaseKind>(["postgres", "embedded"])("deleting a project (%s)", (database) => {
  let registry: TestRegistry;
  const url = () => registry.url;
  const call = (method: string, path: string, creds: Creds | null, body?: unknown) =>
    fetch(`${url()}${path}`, {
      method,
      headers: {
        ...(creds ? { Authorization: basic(creds.username, creds.password) } : {}),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const createUser = async (): Promise<Creds> => {
    const creds = { username: `u${uniqueSuffix()}`.slice(0, 30).toLowerCase(), password: "a-long-enough-password" };
    const res = await call("POST", "/api/v1/users", ADMIN, creds);
    if (res.status !== 201) throw new Error(`creating a user: ${res.status} ${await res.text()}`);
    return creds;
  };
  const names = async (path: string, creds: Creds | null, field: "items" | "results") => {
    const res = await call("GET", path, creds);
    expect(res.status).toBe(200);
    return ((await res.json()) as Record<string, Array<{ name: string }>>)[field].map((r) => r.name);
  };

  beforeAll(async () => {
    registry = await startAuthRegistry({ database });
  });
  afterAll(() => registry?.stop());

  test("the attack: a deleted project's private images go with it, and the next owner of the name inherits nothing", async () => {
    const alice = await createUser();
    const bob = await createUser();
    const project = `teamb${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    const secretRepo = `${project}/secret`;
    const secret = await pushImageAs(url(), secretRepo, "v1", basic(alice.username, alice.password), buildImage({ layers: 2, layerSize: 4096 }));
    const secretDigests = [secret.config, ...secret.layers].map((b) => b.descriptor.digest);
    for (const digest of secretDigests) expect(await listFiles(registry.deps.config.storage.root!)).toContain(digest);

    // Refused while it holds a repository, with a JSON error naming how many; nothing is deleted.
    const refused = await call("DELETE", `/api/v1/projects/${project}`, ADMIN);
    expect(refused.status).toBe(409);
    expect(refused.headers.get("content-type")).toMatch(/application\/json/);
    const body = (await refused.json()) as { errors: Array<{ code: string; message: string; detail: { repositories: number } }> };
    expect(body.errors[0]).toMatchObject({ code: "CONFLICT", detail: { project, repositories: 1 } });
    expect(body.errors[0].message).toContain("1 repository");
    expect((await getManifestAs(url(), secretRepo, "v1", basic(alice.username, alice.password))).status).toBe(200);
    expect((await call("DELETE", `/api/v1/projects/${project}?force=maybe`, ADMIN)).status).toBe(400);
    expect((await call("DELETE", `/api/v1/projects/${project}?force=false`, ADMIN)).status).toBe(409);

    // A token Alice holds from before the deletion, for a name Bob will use next.
    const aliceToken = await tokenFor(url(), alice, `repository:${project}/x:pull,push`);

    // Forced: the project and its repository go.
    expect((await call("DELETE", `/api/v1/projects/${project}?force=true`, ADMIN)).status).toBe(204);
    expect((await call("GET", `/api/v1/projects/${project}/members`, ADMIN)).status).toBe(404);

    // Bob pushes under the name: a new project, his alone, holding only his repository.
    await pushImageAs(url(), `${project}/x`, "v1", basic(bob.username, bob.password));
    expect(await (await call("GET", `/api/v1/projects/${project}/members`, ADMIN)).json()).toEqual([{ username: bob.username, role: "admin" }]);

    // Bob, now the project's admin, finds nothing of the old content: not by tag, digest, blob or tag list.
    const asBob = basic(bob.username, bob.password);
    expect(await errorCodes(await getManifestAs(url(), secretRepo, "v1", asBob))).toEqual(["MANIFEST_UNKNOWN"]);
    expect(await errorCodes(await getManifestAs(url(), secretRepo, secret.digest, asBob))).toEqual(["MANIFEST_UNKNOWN"]);
    expect(await errorCodes(await v2(url(), `/v2/${secretRepo}/blobs/${secret.layers[0].descriptor.digest}`, asBob))).toEqual(["BLOB_UNKNOWN"]);
    expect(await errorCodes(await v2(url(), `/v2/${secretRepo}/tags/list`, asBob))).toEqual(["NAME_UNKNOWN"]);
    // Nor can he mount the old layer into his own repository.
    const mount = await v2(url(), `/v2/${project}/x/blobs/uploads/?mount=${secret.layers[0].descriptor.digest}&from=${secretRepo}`, asBob, { method: "POST" });
    expect(mount.status).toBe(202); // no mount: an ordinary upload session starts instead
    // Alice's token from the old project gives her nothing in Bob's: she is sent for a new one, which is empty.
    expect((await getManifestAs(url(), `${project}/x`, "v1", bearer(aliceToken))).status).toBe(401);
    expect((await pushImageAs(url(), `${project}/x`, "v2", bearer(aliceToken)).catch((err: Error) => err.message))).toMatch(/401/);
    const fresh = await tokenFor(url(), alice, `repository:${project}/x:pull,push`);
    expect(JSON.parse(Buffer.from(fresh.split(".")[1], "base64url").toString()).access).toEqual([]);

    // No list or search shows the old repository, to anyone; the web API's repository page is gone.
    for (const who of [alice, bob, ADMIN, null]) {
      expect(await names(`/api/v1/repositories?q=${project}`, who, "items")).not.toContain(secretRepo);
      expect(await names(`/v1/search?q=secret`, who, "results")).not.toContain(secretRepo);
    }
    expect(await names(`/api/v1/repositories?q=${project}`, bob, "items")).toEqual([`${project}/x`]);
    expect(await names(`/api/v1/repositories?q=${project}`, ADMIN, "items")).toEqual([`${project}/x`]);
    expect((await call("GET", `/api/v1/repositories/${secretRepo}`, ADMIN)).status).toBe(404);
    const catalog = (await (await v2(url(), "/v2/_catalog?n=1000", basic(ADMIN.username, ADMIN.password))).json()) as { repositories: string[] };
    expect(catalog.repositories).toContain(`${project}/x`);
    expect(catalog.repositories).not.toContain(secretRepo);

    // The bytes: gone after a collection.
    const report = await registry.deps.gc.collect({ trigger: "api", graceMs: 0 });
    expect(report.totals.blobs).toBeGreaterThanOrEqual(secretDigests.length);
    const files = await listFiles(registry.deps.config.storage.root!);
    for (const digest of secretDigests) expect(files).not.toContain(digest);
    const [{ n }] = await registry.deps.database.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM blob WHERE digest = ANY($1::text[])`,
      [secretDigests],
    );
    expect(n).toBe(0);
  });

  test("the robot attack: a deleted project's robot permissions go with it, and no robot reaches a new project of the same name", async () => {
    const bob = await createUser();
    const project = `gone${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    const other = `kept${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    for (const name of [project, other]) expect((await call("POST", "/api/v1/projects", ADMIN, { name })).status).toBe(201);
    const robot = async (permissions: unknown): Promise<Creds> => {
      const res = await call("POST", "/api/v1/robots", ADMIN, { name: `r${uniqueSuffix()}`.slice(0, 30).toLowerCase(), permissions });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { robot: { name: string }; secret: string };
      return { username: body.robot.name, password: body.secret };
    };
    const only = await robot([{ project, actions: ["pull", "push"] }]);
    const both = await robot([{ project, actions: ["pull", "push"] }, { project: other, actions: ["pull"] }]);
    const raced = await robot([{ project, actions: ["pull", "push"] }]);
    const robots = async () => ((await (await call("GET", "/api/v1/robots", ADMIN)).json()) as Array<{ name: string; disabled: boolean; permissions: unknown[] }>);

    // As if `raced` had been granted while the project was being deleted: its permission names the project
    // but was granted on the old row, which goes without the clean-up a deletion through Berth does.
    const [{ id }] = await registry.deps.database.query<{ id: number }>(`SELECT id FROM project WHERE name = $1`, [project]);
    expect((await call("DELETE", `/api/v1/projects/${project}`, ADMIN)).status).toBe(204);
    await registry.deps.database.query(
      `UPDATE robot SET permissions = $2::jsonb, disabled = false WHERE name = $1`,
      [raced.username, JSON.stringify([{ project, actions: ["pull", "push"], projectId: id }])],
    );

    const after = await robots();
    expect(after.find((r) => r.name === only.username)).toMatchObject({ disabled: true, permissions: [] });
    expect(after.find((r) => r.name === both.username)).toMatchObject({ disabled: false, permissions: [{ project: other, actions: ["pull"] }] });

    // Bob re-creates the name with a private image: no old robot can read or overwrite it.
    const image = await pushImageAs(url(), `${project}/private`, "v1", basic(bob.username, bob.password));
    for (const bot of [only, both, raced]) {
      const res = await getManifestAs(url(), `${project}/private`, "v1", basic(bot.username, bot.password));
      expect([401, 403, 404]).toContain(res.status);
      // A disabled robot gets no token at all; the others get one granting nothing.
      const token = await tokenFor(url(), bot, `repository:${project}/private:pull,push`).catch(() => null);
      if (token) expect(JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).access).toEqual([]);
      expect(token === null).toBe(bot === only);
      const overwrite = await putManifestAs(url(), `${project}/private`, "v1", image, basic(bot.username, bot.password));
      expect([401, 403]).toContain(overwrite.status);
    }
    expect((await getManifestAs(url(), `${project}/private`, "v1", basic(bob.username, bob.password))).status).toBe(200);
    // The robot that kept a permission still works where it has one.
    await pushImageAs(url(), `${other}/app`, "v1", basic(ADMIN.username, ADMIN.password));
    expect((await getManifestAs(url(), `${other}/app`, "v1", basic(both.username, both.password))).status).toBe(200);
  });

  test("an empty project is deleted without force; a missing one is 404; the CLI-side service refuses the same way", async () => {
    const empty = `empty${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    expect((await call("POST", "/api/v1/projects", ADMIN, { name: empty })).status).toBe(201);
    expect((await call("DELETE", `/api/v1/projects/${empty}`, ADMIN)).status).toBe(204);
    expect((await call("DELETE", `/api/v1/projects/${empty}`, ADMIN)).status).toBe(404);
    expect((await call("DELETE", `/api/v1/projects/${empty}?force=true`, ADMIN)).status).toBe(404);
    for (const bad of ["%00", "a%00b", "UPPER", "x".repeat(300), "..", "%2e%2e"]) {
      const res = await call("DELETE", `/api/v1/projects/${bad}?force=true`, ADMIN);
      expect([400, 404]).toContain(res.status);
      expect(((await res.json()) as { errors: unknown[] }).errors).toHaveLength(1);
    }

    const full = `full${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    await pushImageAs(url(), `${full}/a`, "v1", basic(ADMIN.username, ADMIN.password));
    await pushImageAs(url(), `${full}/b/c`, "v1", basic(ADMIN.username, ADMIN.password));
    const accounts = registry.deps.auth.accounts;
    await expect(accounts.removeProject(full)).rejects.toMatchObject({ code: "Conflict", detail: { repositories: 2 } });
    expect(await accounts.removeProject(full, { force: true })).toEqual({ repositories: 2 });
    const [{ n }] = await registry.deps.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM repository WHERE name LIKE $1`, [`${full}/%`]);
    expect(n).toBe(0);
  });

  test("an implicit project (a repository written without one) belongs to nobody until an administrator adopts it", async () => {
    const dave = await createUser();
    const asDave = basic(dave.username, dave.password);
    const project = `impl${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    // What a mirror's cache, a push with auth off or an old database leaves: a repository and no project row.
    await pushImageAs(url(), `${project}/old`, "v1", basic(ADMIN.username, ADMIN.password));
    await registry.deps.database.query(`UPDATE project SET implicit = true, owner_id = NULL WHERE name = $1`, [project]);
    await registry.deps.database.query(`DELETE FROM project_member WHERE project_id = (SELECT id FROM project WHERE name = $1)`, [project]);

    await expect(pushImageAs(url(), `${project}/x`, "v1", asDave)).rejects.toThrow(/403/);
    expect(await names(`/api/v1/repositories?q=${project}`, dave, "items")).toEqual([]);
    expect(await names(`/api/v1/repositories?q=${project}`, ADMIN, "items")).toEqual([`${project}/old`]);

    const adopted = await call("POST", "/api/v1/projects", ADMIN, { name: project, owner: dave.username });
    expect(adopted.status).toBe(201);
    expect(await (await call("GET", `/api/v1/projects/${project}/members`, ADMIN)).json()).toEqual([{ username: dave.username, role: "admin" }]);
    await pushImageAs(url(), `${project}/x`, "v1", asDave);
    expect(await names(`/api/v1/repositories?q=${project}`, dave, "items")).toEqual([`${project}/old`, `${project}/x`]);
    // A real project is not adopted twice.
    expect((await call("POST", "/api/v1/projects", ADMIN, { name: project })).status).toBe(409);
  });

  test("pushes racing forced deletions never leave a repository without its project, and never get a 5xx", async () => {
    const carol = await createUser();
    const asCarol = basic(carol.username, carol.password);
    const project = `race${uniqueSuffix()}`.slice(0, 30).toLowerCase();
    const statuses: number[] = [];
    for (let round = 0; round < 4; round++) {
      await pushImageAs(url(), `${project}/seed`, "v1", asCarol); // the project exists, owned by Carol
      let blobsDone = 0;
      let releaseDelete!: () => void;
      const halfway = new Promise<void>((resolve) => (releaseDelete = resolve));
      const pushers = Array.from({ length: 6 }, async (_, i) => {
        const image = buildImage({ layers: 2, layerSize: 1024 });
        const repo = `${project}/r${i}`;
        for (const blob of [image.config, ...image.layers]) {
          const res = await pushBlobAs(url(), repo, blob.data, asCarol);
          statuses.push(res.status);
          if (res.status !== 201) return;
        }
        if (++blobsDone === 3) releaseDelete();
        const res = await putManifestAs(url(), repo, "v1", image, asCarol);
        statuses.push(res.status);
      });
      const deletion = halfway.then(() => call("DELETE", `/api/v1/projects/${project}?force=true`, ADMIN));
      await Promise.all(pushers);
      releaseDelete(); // in case fewer than three got their blobs in
      expect((await deletion).status).toBe(204);

      const orphans = await registry.deps.database.query<{ name: string }>(
        `SELECT r.name FROM repository r LEFT JOIN project p ON p.id = r.project_id
          WHERE p.id IS NULL OR p.name <> split_part(r.name, '/', 1)`,
      );
      expect(orphans).toEqual([]);
      // Whatever outlived the deletion is in a project that exists, and every list agrees with the database.
      const survivors = (await registry.deps.database.query<{ name: string }>(
        `SELECT r.name FROM repository r WHERE r.name LIKE $1 AND EXISTS (SELECT 1 FROM manifest m WHERE m.repository_id = r.id) ORDER BY r.name`,
        [`${project}/%`],
      )).map((r) => r.name);
      expect(await names(`/api/v1/repositories?q=${project}&pageSize=100`, ADMIN, "items")).toEqual(survivors);
      for (const name of survivors) expect((await getManifestAs(url(), name, "v1", basic(ADMIN.username, ADMIN.password))).status).toBe(200);
      const cleanup = await call("DELETE", `/api/v1/projects/${project}?force=true`, ADMIN);
      expect([204, 404]).toContain(cleanup.status);
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses).toContain(201);
  });
});
