// skopeo against Berth with token auth on (issue 4): --dest-creds / --src-creds push and pull, wrong
// passwords refused, roles respected, and a robot account pushing from a CI-style shell script.
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import type { TestRegistry } from "../support/registry";
import { ADMIN_PASSWORD, addUser, startAuthRegistry, uniqueName, type Creds } from "../support/auth-helpers";
import { readLayoutTag, tinyImage, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { failureOutput, makeTempDir, removeTree, run } from "./support/process";
import { dockerRef, ociRef, skopeoCopy, skopeoDelete, skopeoInspectRaw, skopeoListTags } from "./support/skopeo";
import { requireBinaries, requireBinary } from "./support/tools";

const TEST_TIMEOUT = 90_000;
const ADMIN_CREDS = `admin:${ADMIN_PASSWORD}`;

let work: string;
let tiny: OciLayout;
let registry: TestRegistry | undefined;
let project: string; // private
let dev: Creds; // developer
let maint: Creds; // maintainer
let outsider: Creds;
let outCount = 0;

const creds = (c: Creds) => `${c.username}:${c.password}`;

function host(): string {
  if (!registry) throw new Error("registry did not start");
  return registry.host;
}

function outDir(): string {
  return path.join(work, `out-${++outCount}`);
}


beforeAll(async () => {
  requireBinaries("skopeo");
  work = await makeTempDir("berth-e2e-authskopeo");
  tiny = await writeOciLayout(path.join(work, "tiny"), "latest", tinyImage());
  registry = await startAuthRegistry();
  const accounts = registry.deps.auth.accounts;
  project = uniqueName("proj");
  await accounts.addProject(project);
  dev = await addUser(registry, "dev");
  maint = await addUser(registry, "maint");
  outsider = await addUser(registry, "outsider");
  await accounts.setMember(project, dev.username, "developer");
  await accounts.setMember(project, maint.username, "maintainer");
}, 90_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTree(work);
}, 60_000);

describe("skopeo with credentials", () => {
  test(
    "--dest-creds pushes and --src-creds pulls back, byte for byte",
    async () => {
      await skopeoCopy(tiny.ref, dockerRef(host(), `${project}/app`, "v1"), { destCreds: creds(dev), preserveDigests: true });
      const out = outDir();
      await skopeoCopy(dockerRef(host(), `${project}/app`, "v1"), ociRef(out), { srcCreds: creds(dev) });
      expect((await readLayoutTag(out, "latest")).digest).toBe(tiny.top.digest);
      expect((await skopeoInspectRaw(dockerRef(host(), `${project}/app`, "v1"), creds(dev))).digest).toBe(tiny.top.digest);
      expect(await skopeoListTags(`docker://${host()}/${project}/app`, creds(dev))).toEqual(["v1"]);
    },
    TEST_TIMEOUT,
  );

  test(
    "a wrong password fails, for push and for pull; nothing is written",
    async () => {
      const wrong = `${dev.username}:not-the-password`;
      expect(await failureOutput(skopeoCopy(tiny.ref, dockerRef(host(), `${project}/wrong`, "v1"), { destCreds: wrong }))).toMatch(/unauthorized|401|invalid username or password/i);
      expect(await failureOutput(skopeoCopy(dockerRef(host(), `${project}/app`, "v1"), ociRef(outDir()), { srcCreds: wrong }))).toMatch(/unauthorized|401|invalid username or password/i);
      expect(await failureOutput(skopeoInspectRaw(dockerRef(host(), `${project}/wrong`, "v1"), ADMIN_CREDS))).toMatch(/manifest unknown|not found/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "without credentials a private project can neither be pulled nor pushed",
    async () => {
      expect(await failureOutput(skopeoCopy(dockerRef(host(), `${project}/app`, "v1"), ociRef(outDir())))).toMatch(/unauthorized|denied|authentication required/i);
      expect(await failureOutput(skopeoCopy(tiny.ref, dockerRef(host(), `${project}/anon`, "v1")))).toMatch(/unauthorized|denied|authentication required/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "a non-member is denied; a public project is pullable by anyone",
    async () => {
      expect(await failureOutput(skopeoCopy(dockerRef(host(), `${project}/app`, "v1"), ociRef(outDir()), { srcCreds: creds(outsider) }))).toMatch(/denied|unauthorized|403/i);
      const pub = uniqueName("pub");
      await registry!.deps.auth.accounts.addProject(pub, { public: true });
      await skopeoCopy(tiny.ref, dockerRef(host(), `${pub}/app`, "v1"), { destCreds: ADMIN_CREDS });
      const out = outDir();
      await skopeoCopy(dockerRef(host(), `${pub}/app`, "v1"), ociRef(out));
      expect((await readLayoutTag(out, "latest")).digest).toBe(tiny.top.digest);
      expect(await failureOutput(skopeoCopy(tiny.ref, dockerRef(host(), `${pub}/app`, "v2"), { destCreds: creds(outsider) }))).toMatch(/denied|unauthorized|403/i);
    },
    TEST_TIMEOUT,
  );

  test(
    "skopeo delete: a developer is denied, a maintainer may",
    async () => {
      await skopeoCopy(tiny.ref, dockerRef(host(), `${project}/doomed`, "v1"), { destCreds: creds(dev) });
      const ref = dockerRef(host(), `${project}/doomed`, "v1");
      expect(await failureOutput(skopeoDelete(ref, creds(dev)))).toMatch(/denied|unauthorized|403/i);
      expect((await skopeoInspectRaw(ref, creds(dev))).digest).toBe(tiny.top.digest);
      await skopeoDelete(ref, creds(maint));
      expect(await failureOutput(skopeoInspectRaw(ref, creds(dev)))).toMatch(/manifest unknown|not found/i);
    },
    TEST_TIMEOUT,
  );
});

describe("a robot account in a script", () => {
  test(
    "pushes with --dest-creds 'robot$ci:SECRET' from a shell script; a pull-only robot cannot push",
    async () => {
      const ci = await registry!.deps.auth.accounts.addRobot({ name: uniqueName("ci"), permissions: [{ project, actions: ["pull", "push"] }] });
      const reader = await registry!.deps.auth.accounts.addRobot({ name: uniqueName("reader"), permissions: [{ project, actions: ["pull"] }] });
      const script = path.join(work, "ci-push.sh");
      // What a CI job does: the secret comes from the environment, the '$' in the name is quoted.
      await writeFile(
        script,
        [
          "#!/bin/sh",
          "set -eu",
          `"$SKOPEO" --insecure-policy copy --dest-tls-verify=false \\`,
          `  --dest-creds "$ROBOT_NAME:$ROBOT_SECRET" \\`,
          `  "oci:$LAYOUT:latest" "docker://$REGISTRY/$REPO:$TAG"`,
          'echo "pushed $REPO:$TAG"',
          "",
        ].join("\n"),
      );
      await chmod(script, 0o755);
      const env = (robot: { name: string }, secret: string, repo: string) => ({
        ...process.env,
        SKOPEO: requireBinary("skopeo"),
        ROBOT_NAME: robot.name,
        ROBOT_SECRET: secret,
        LAYOUT: tiny.dir,
        REGISTRY: host(),
        REPO: repo,
        TAG: "build-1",
      });
      expect(ci.robot.name).toMatch(/^robot\$/);
      const result = await run("/bin/sh", [script], { env: env(ci.robot, ci.secret, `${project}/from-ci`), timeoutMs: 60_000 });
      expect(result.stdout.toString()).toContain(`pushed ${project}/from-ci:build-1`);
      expect((await skopeoInspectRaw(dockerRef(host(), `${project}/from-ci`, "build-1"), creds(dev))).digest).toBe(tiny.top.digest);
      const events = await registry!.deps.audit.query({ actor: ci.robot.name, action: "push", limit: 10 });
      expect(events.map((e) => e.repository)).toContain(`${project}/from-ci`);

      // The pull-only robot: the same script fails; it can pull.
      expect(await failureOutput(run("/bin/sh", [script], { env: env(reader.robot, reader.secret, `${project}/from-reader`), timeoutMs: 60_000 }))).toMatch(/denied|unauthorized|403/i);
      const out = outDir();
      await skopeoCopy(dockerRef(host(), `${project}/from-ci`, "build-1"), ociRef(out), { srcCreds: `${reader.robot.name}:${reader.secret}` });
      expect((await readLayoutTag(out, "latest")).digest).toBe(tiny.top.digest);
      // A wrong secret fails.
      expect(await failureOutput(run("/bin/sh", [script], { env: env(ci.robot, `${ci.secret}x`, `${project}/from-ci`), timeoutMs: 60_000 }))).toMatch(/unauthorized|401|invalid username or password/i);
    },
    TEST_TIMEOUT,
  );
});
