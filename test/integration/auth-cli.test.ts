// The account CLI (issue 4) as users run it: `node dist/main.js user|robot|project|key …` in a child process,
// against the database of a running Berth (DATABASE_URL), whose HTTP API then shows the effect.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestRegistry } from "../support/registry";
import { waitFor } from "../support/wait-for";
import {
  ADMIN_PASSWORD,
  basic,
  bearer,
  decodeJwt,
  getManifestAs,
  getToken,
  pushImageAs,
  runBerth,
  startAuthRegistry,
  tokenFor,
  uniqueName,
  type CliResult,
} from "../support/auth-helpers";

let registry: TestRegistry;
let dataDir: string;
const url = () => registry.url;

function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: registry.deps.config.databaseUrl, BERTH_DATA_DIR: dataDir, BERTH_LOG_LEVEL: "silent" };
  for (const key of ["BERTH_CONFIG", "BERTH_AUTH", "BERTH_SIGNING_KEY_FILE"]) delete env[key];
  return env;
}

function berth(args: string[], input?: string): Promise<CliResult> {
  return runBerth(args, { env: cliEnv(), input });
}

/** Asserts exit 0 and returns stdout. */
async function ok(args: string[], input?: string): Promise<string> {
  const result = await berth(args, input);
  expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
  return result.stdout;
}

async function canLogin(username: string, password: string): Promise<boolean> {
  const res = await getToken(url(), { creds: { username, password } });
  if (res.status !== 200 && res.status !== 401) throw new Error(`GET /token: ${res.status} ${await res.text()}`);
  return res.status === 200;
}

const admin = basic("admin", ADMIN_PASSWORD);

beforeAll(async () => {
  registry = await startAuthRegistry();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-auth-cli-"));
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 30_000);

describe("berth user", () => {
  it("add --password-stdin creates a user who can log in; the password is not echoed", async () => {
    const name = uniqueName("stdin");
    const password = "Stdin-Password-123";
    const out = await ok(["user", "add", name, "--password-stdin"], `${password}\n`);
    expect(out).toMatch(new RegExp(`created user ${name}`));
    expect(out).not.toContain(password);
    expect(await canLogin(name, password)).toBe(true);
    expect(await canLogin(name, `${password}\n`)).toBe(false);
    expect(await ok(["user", "list"])).toMatch(new RegExp(`^${name}$`, "m"));
  });

  it("add without a password prints a generated one, once; --admin makes an admin", async () => {
    const name = uniqueName("gen");
    const out = await ok(["user", "add", name, "--admin"]);
    const generated = new RegExp(`created user ${name} with password: (\\S+)`).exec(out)?.[1];
    expect(generated).toBeDefined();
    expect(generated!.length).toBeGreaterThanOrEqual(16);
    expect(await canLogin(name, generated!)).toBe(true);
    expect((await fetch(`${url()}/api/v1/users`, { headers: { Authorization: basic(name, generated!) } })).status).toBe(200);
  });

  it("passwd --password-stdin changes the password", async () => {
    const name = uniqueName("passwd");
    await ok(["user", "add", name, "--password-stdin"], "First-Password-1\n");
    const out = await ok(["user", "passwd", name, "--password-stdin"], "Second-Password-2\n");
    expect(out).toMatch(new RegExp(`password of ${name} changed`));
    expect(await canLogin(name, "Second-Password-2")).toBe(true);
    expect(await canLogin(name, "First-Password-1")).toBe(false);
  });

  it("passwd takes effect in the running server at once, even for a password it just accepted", async () => {
    const name = uniqueName("passwd-live");
    await ok(["user", "add", name, "--password-stdin"], "Leaked-Password-1\n");
    expect(await canLogin(name, "Leaked-Password-1")).toBe(true);
    await ok(["user", "passwd", name, "--password-stdin"], "Fresh-Password-2\n");
    expect(await canLogin(name, "Leaked-Password-1")).toBe(false);
  });

  it("rm removes the user; removing again fails with a message", async () => {
    const name = uniqueName("rm");
    await ok(["user", "add", name, "--password", "Remove-Me-Please"]);
    expect(await ok(["user", "rm", name])).toMatch(new RegExp(`removed user ${name}`));
    expect(await canLogin(name, "Remove-Me-Please")).toBe(false);
    const again = await berth(["user", "rm", name]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/does not exist/);
  });

  it("refuses invalid values with a message and no account", async () => {
    const short = await berth(["user", "add", uniqueName("short"), "--password-stdin"], "short\n");
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/at least 8 characters/);
    const bad = await berth(["user", "add", "Bad Name", "--password", "Long-Enough-1"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/username must match/);
  });
});

describe("berth robot", () => {
  it("add --project p:pull,push prints the secret once; the robot pushes and pulls in p only", async () => {
    const project = uniqueName("robots");
    await registry.deps.auth.accounts.addProject(project);
    const name = uniqueName("ci");
    const out = await ok(["robot", "add", name, "--project", `${project}:pull,push`, "--description", "CI pipeline"]);
    const secret = new RegExp(`created robot\\$${name}; its secret \\(shown only now\\): (\\S+)`).exec(out)?.[1];
    expect(secret).toBeDefined();
    expect(secret!.length).toBeGreaterThanOrEqual(32);

    const creds = { username: `robot$${name}`, password: secret! };
    const token = await tokenFor(url(), creds, `repository:${project}/app:pull,push,delete`);
    expect(decodeJwt(token).payload.access).toEqual([{ type: "repository", name: `${project}/app`, actions: ["pull", "push"] }]);
    await pushImageAs(url(), `${project}/app`, "v1", bearer(token));
    expect((await getManifestAs(url(), `${project}/app`, "v1", basic(creds.username, creds.password))).status).toBe(200);
    expect(decodeJwt(await tokenFor(url(), creds, `repository:${uniqueName("else")}/app:pull`)).payload.access).toEqual([]);

    const list = await ok(["robot", "list"]);
    expect(list).toContain(`robot$${name} ${project}:pull,push`);
    expect(list).not.toContain(secret!);
  });

  it("add with several --project and --expires; a robot born expired is refused", async () => {
    const a = uniqueName("pa");
    const b = uniqueName("pb");
    const name = uniqueName("multi");
    const expired = await berth(["robot", "add", name, "--project", `${a}:pull`, "--expires", "2000-01-01"]);
    expect({ code: expired.code, stderr: expired.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/expiresAt: must be in the future/) });
    const out = await ok(["robot", "add", name, "--project", `${a}:pull`, "--project", `${b}:pull,push,delete`, "--expires", "2999-01-01"]);
    const secret = /shown only now\): (\S+)/.exec(out)![1];
    expect(await ok(["robot", "list"])).toContain(`robot$${name} ${a}:pull ${b}:pull,push,delete expires 2999-01-01T00:00:00.000Z`);
    expect(await canLogin(`robot$${name}`, secret)).toBe(true);
    expect(await ok(["robot", "rm", `robot$${name}`])).toMatch(/removed/);
    expect(await canLogin(`robot$${name}`, secret)).toBe(false);
  });

  it("refresh prints a new secret once and ends the old one; disable and enable", async () => {
    const name = uniqueName("life");
    const first = /shown only now\): (\S+)/.exec(await ok(["robot", "add", name, "--project", `${uniqueName("pl")}:pull`]))![1];
    const refreshed = /shown only now; the old one no longer works\): (\S+)/.exec(await ok(["robot", "refresh", `robot$${name}`]))![1];
    expect(await canLogin(`robot$${name}`, first)).toBe(false);
    expect(await canLogin(`robot$${name}`, refreshed)).toBe(true);
    expect(await ok(["robot", "disable", `robot$${name}`])).toMatch(/disabled/);
    expect(await ok(["robot", "list"])).toContain(`robot$${name}`);
    expect(await ok(["robot", "list"])).toMatch(new RegExp(`robot\\$${name} .*\\(disabled\\)`));
    expect(await canLogin(`robot$${name}`, refreshed)).toBe(false);
    await ok(["robot", "enable", `robot$${name}`]);
    expect(await canLogin(`robot$${name}`, refreshed)).toBe(true);
    const missing = await berth(["robot", "refresh", "robot$nobody-here"]);
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/does not exist/) });
    const events = await registry.deps.audit.query({ action: ["robot.secret_refreshed", "robot.disabled", "robot.enabled"], limit: 100 });
    expect(events.filter((e) => e.reference === `robot robot$${name}`).map((e) => [e.action, e.actor, e.clientIp])).toEqual([
      ["robot.enabled", "system:cli", "cli"],
      ["robot.disabled", "system:cli", "cli"],
      ["robot.secret_refreshed", "system:cli", "cli"],
    ]);
  });
});

describe("berth project", () => {
  it("add --public: anonymous pulls work, anonymous pushes do not", async () => {
    const project = uniqueName("public");
    expect(await ok(["project", "add", project, "--public"])).toMatch(new RegExp(`created public project ${project}`));
    expect(await ok(["project", "list"])).toMatch(new RegExp(`^${project} \\(public\\)$`, "m"));
    await pushImageAs(url(), `${project}/app`, "v1", admin);
    const anon = await tokenFor(url(), null, `repository:${project}/app:pull,push`);
    expect(decodeJwt(anon).payload.access).toEqual([{ type: "repository", name: `${project}/app`, actions: ["pull"] }]);
    expect((await getManifestAs(url(), `${project}/app`, "v1", bearer(anon))).status).toBe(200);
    const again = await berth(["project", "add", project]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);
  });

  it("member p u developer lets u push; --remove takes it away; a private project stays closed to others", async () => {
    const project = uniqueName("team");
    expect(await ok(["project", "add", project])).toMatch(new RegExp(`created private project ${project}`));
    const user = uniqueName("dev");
    await registry.deps.auth.accounts.addUser(user, "Developer-Pass-1");
    expect(decodeJwt(await tokenFor(url(), { username: user, password: "Developer-Pass-1" }, `repository:${project}/app:pull,push`)).payload.access).toEqual([]);

    expect(await ok(["project", "member", project, user, "developer"])).toMatch(new RegExp(`${user} is developer of ${project}`));
    const token = await tokenFor(url(), { username: user, password: "Developer-Pass-1" }, `repository:${project}/app:pull,push`);
    expect(decodeJwt(token).payload.access).toEqual([{ type: "repository", name: `${project}/app`, actions: ["pull", "push"] }]);
    await pushImageAs(url(), `${project}/app`, "v1", bearer(token));
    expect((await getManifestAs(url(), `${project}/app`, "v1", bearer(await tokenFor(url(), null, `repository:${project}/app:pull`)))).status).toBe(401);

    await ok(["project", "member", project, user, "--remove"]);
    expect(decodeJwt(await tokenFor(url(), { username: user, password: "Developer-Pass-1" }, `repository:${project}/app:pull,push`)).payload.access).toEqual([]);

    const badRole = await berth(["project", "member", project, user, "overlord"]);
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toMatch(/role must be one of guest, developer, maintainer, admin/);
  });
});

describe("berth key rotate", () => {
  let before: string;
  let printedKid: string;
  let project: string;

  it("prints the new key id; tokens issued before stay valid", async () => {
    project = uniqueName("keys");
    await registry.deps.auth.accounts.addProject(project, { public: true });
    await pushImageAs(url(), `${project}/app`, "v1", admin);
    before = await tokenFor(url(), { username: "admin", password: ADMIN_PASSWORD }, `repository:${project}/app:pull`);
    const out = await ok(["key", "rotate"]);
    printedKid = /new signing key (\S+)/.exec(out)?.[1] ?? "";
    expect(printedKid).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    expect(printedKid).not.toBe(decodeJwt(before).header.kid);
    expect((await getManifestAs(url(), `${project}/app`, "v1", bearer(before))).status).toBe(200);
  });

  it("the running server signs new tokens with the rotated key (within a few seconds)", async () => {
    expect(printedKid).toBeTruthy();
    // The server re-reads its keys every 5 s.
    await waitFor("a token signed with the rotated key", async () => decodeJwt(await tokenFor(url(), null)).header.kid === printedKid);
  });

  it("after a restart the server signs with the rotated key and still accepts the older token", async () => {
    await registry.restart();
    expect(decodeJwt(await tokenFor(url(), null)).header.kid).toBe(printedKid);
    expect((await getManifestAs(url(), `${project}/app`, "v1", bearer(before))).status).toBe(200);
  });
});

describe("usage errors", () => {
  const cases: Array<[string[], RegExp]> = [
    [["user"], /berth user add <name>/],
    [["user", "add"], /berth user add <name>/],
    [["user", "add", "a", "b"], /berth user add <name>/],
    [["user", "add", "x", "--bogus"], /bogus/],
    [["robot", "add", "ci", "--project", "nocolon"], /expected <project>:<actions>/],
    [["robot", "add", "ci", "--project", "p:pull", "--expires", "not-a-date"], /--expires must be a date/],
    [["robot", "add", "ci"], /--project/],
    [["project", "member", "p", "u"], /berth project member <project> <user> <role>/],
    [["project", "add"], /berth project add <name>/],
    [["key", "rotate", "now"], /berth key rotate/],
  ];
  const results = new Map<string, CliResult>();

  // The commands run two at a time up front (each is a node start-up); the tests below check each result.
  beforeAll(async () => {
    const queue = [...cases];
    await Promise.all(
      [0, 1].map(async () => {
        for (let next = queue.shift(); next; next = queue.shift()) results.set(JSON.stringify(next[0]), await berth(next[0]));
      }),
    );
  }, 60_000);

  it.each(cases)("berth %j → exit 2 with usage", (args, message) => {
    const result = results.get(JSON.stringify(args))!;
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
    expect(result.stderr).toMatch(/berth --help/);
  });

  it("--help on a command prints its usage", async () => {
    const result = await berth(["user", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/berth user add <name> \[--admin\]/);
  });
});

describe("the embedded database", () => {
  it("user add and list work against a data dir without DATABASE_URL", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-auth-cli-embedded-"));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, BERTH_LOG_LEVEL: "silent" };
      delete env.DATABASE_URL;
      const name = uniqueName("emb");
      const add = await runBerth(["--data-dir", dir, "user", "add", name, "--password-stdin"], { env, input: "Embedded-Pass-1\n", timeoutMs: 90_000 });
      expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: "" });
      const list = await runBerth(["--data-dir", dir, "user", "list"], { env, timeoutMs: 90_000 });
      expect(list.stdout.trim().split("\n")).toEqual([name]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
