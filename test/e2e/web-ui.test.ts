// The web UI end to end, in a real headless Chromium (Debian's package, driven by playwright-core), against
// Berth with auth on and images pushed by skopeo: sign in, browse to a repository, open an image, delete a
// tag, switch to Chinese, import a tarball, export one that skopeo reads as a docker-archive, a GC dry run,
// and a project admin (no site admin) who manages members and an immutability rule that then refuses a
// push. Screenshots go to test-artifacts/.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { GcService } from "../../src/admin/gc-api";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login, type Session } from "../support/web-client";
import { basic, pushImageAs } from "../support/auth-helpers";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, twoPlatformIndex, writeOciLayout, archiveLayout, type ImageSpec } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy, skopeoInspectRaw, skopeoListTags } from "./support/skopeo";
import { requireBinaries } from "./support/tools";
import { startCncfRegistry, type CncfRegistry } from "./support/cncf-registry";
import { waitFor } from "../support/wait-for";

jest.setTimeout(180_000);

// Conditions on the page are polled with waitFor: page.waitForFunction would evaluate code in the page,
// which the UI's CSP forbids.

const PASSWORD = "admin-pass-1";
const CREDS = `admin:${PASSWORD}`;
let registry: TestRegistry;
let browser: Browser;
let work: string;
let admin: Session;

const appImage = (): ImageSpec => ({
  layers: [
    { comment: "ADD rootfs /", entries: [{ type: "dir", path: "etc" }, { type: "file", path: "etc/os-release", content: { kind: "bytes", data: "NAME=berth-test\n" } }] },
    { comment: "COPY server /usr/local/bin/server", entries: [{ type: "dir", path: "srv" }, { type: "file", path: "srv/server", content: { kind: "random", size: 300_000, seed: "web-ui-server" } }] },
  ],
  config: {
    Entrypoint: ["/usr/local/bin/server"],
    Cmd: ["--listen", ":8080"],
    Env: ["PATH=/usr/local/bin:/bin", "APP_MODE=production"],
    WorkingDir: "/srv",
    Labels: { "org.opencontainers.image.title": "demo server", "org.opencontainers.image.version": "1.4.2" },
  },
});

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-web");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  const push = async (spec: Parameters<typeof writeOciLayout>[2], repo: string, tag: string, all = false) => {
    const layout = await writeOciLayout(path.join(work, `${repo.replace(/\//g, "_")}-${tag}`), tag, spec);
    await skopeoCopy(layout.ref, dockerRef(registry.host, repo, tag), { destCreds: CREDS, all });
    return layout;
  };
  await push(appImage(), "team/app", "1.4.2");
  await push(tinyImage(), "team/app", "old");
  await push(twoPlatformIndex(), "team/app", "multi", true);
  await push(tinyImage(), "team/tools", "latest");
  await push(tinyImage(), "library/busybox", "1.36");
  admin = await login(registry.url, "admin", PASSWORD);
  await api(registry.url, "POST", "/api/v1/users", admin, { username: "alice", password: "alice-pass-1" });
  await api(registry.url, "PUT", "/api/v1/projects/team/members/alice", admin, { role: "developer" });
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

test("sign in, browse to a skopeo-pushed repository, open an image, delete a tag", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories`);
  await page.getByLabel("Username").waitFor();
  await browser.screenshot("01-login");
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").getByText("invalid username or password").waitFor();
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  const list = page.getByTestId("repositories");
  await list.getByText("team/", { exact: false }).first().waitFor();
  expect(await list.locator("tbody tr").count()).toBe(3);
  await browser.screenshot("02-repositories");
  // Server-side search.
  await page.getByPlaceholder("Search repositories…").fill("tool");
  await page.waitForURL(/q=tool/);
  await waitFor("one search result", async () => (await list.locator("tbody tr").count()) === 1);
  await page.getByPlaceholder("Search repositories…").fill("");
  await waitFor("all repositories again", async () => (await list.locator("tbody tr").count()) === 3);

  await list.getByRole("link", { name: /app$/ }).click();
  await page.waitForURL(/\/repositories\/team\/app$/);
  // The page opens on its artifacts (test/e2e/web-artifacts.test.ts); the tag list is one click away.
  await page.getByTestId("view-tags").click();
  const tags = page.getByTestId("tags");
  await tags.getByText("1.4.2").waitFor();
  await expect(tags.locator("tr[data-tag=multi]").textContent()).resolves.toContain("linux/arm64");
  await browser.screenshot("03-repository");

  await tags.getByRole("link", { name: "1.4.2" }).click();
  await page.getByTestId("config").waitFor();
  const config = await page.getByTestId("config").textContent();
  expect(config).toContain('["/usr/local/bin/server"]');
  expect(config).toContain("APP_MODE");
  expect(config).toContain("org.opencontainers.image.version");
  const layers = await page.getByTestId("layers").textContent();
  expect(layers).toContain("COPY server /usr/local/bin/server");
  await browser.screenshot("04-image", true);

  await page.goBack();
  await tags.locator("tr[data-tag=old]").waitFor();
  await page.getByTestId("menu-old").click();
  await page.getByTestId("delete-tag-old").click();
  await page.getByRole("dialog").getByText("Delete the tag old from team/app?").waitFor();
  await browser.screenshot("05-delete-tag-confirm");
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await tags.locator("tr[data-tag=old]").waitFor({ state: "detached" });
  expect(await skopeoListTags(`docker://${registry.host}/team/app`, CREDS)).not.toContain("old");
});

test("switch the language to Simplified Chinese", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/app?view=tags`);
  await page.getByTestId("tags").waitFor();
  await page.getByLabel("Language").selectOption("zh-CN");
  await page.getByRole("heading", { name: "标签" }).waitFor();
  expect(await page.locator(".sidebar").textContent()).toContain("镜像仓库");
  await browser.screenshot("06-repository-zh");
  await page.reload();
  await page.getByRole("heading", { name: "标签" }).waitFor();
  await page.getByLabel("语言").selectOption("en");
  await page.getByRole("heading", { name: "Tags" }).waitFor();
});

test("a browser whose language is Chinese starts in Chinese", async () => {
  const zh = await launchBrowser({ locale: "zh-CN" });
  try {
    await zh.page.goto(`${registry.url}/`);
    await zh.page.getByRole("heading", { name: "登录 Berth" }).waitFor();
    await zh.screenshot("07-login-zh");
  } finally {
    await zh.close();
  }
});

test("import a docker save tarball from the browser", async () => {
  const { page } = browser;
  // skopeo writes the classic `docker save` format (manifest.json, config, layer tars).
  const layout = await writeOciLayout(path.join(work, "to-import"), "v1", tinyImage());
  const archive = path.join(work, "saved.tar");
  await skopeoCopy(layout.ref, `docker-archive:${archive}:example.test/saved:v1`);
  await page.goto(`${registry.url}/import`);
  await page.getByLabel("Repository").fill("team/imported");
  await page.locator("input[name=tag]").fill("from-browser");
  await page.locator("input[type=file]").setInputFiles(archive);
  await page.getByRole("button", { name: "Upload and import" }).click();
  await page.getByTestId("import-result").waitFor();
  expect(await page.getByTestId("import-result").textContent()).toContain("team/imported:from-browser");
  await browser.screenshot("08-import");
  const pulled = await skopeoInspectRaw(dockerRef(registry.host, "team/imported", "from-browser"), CREDS);
  expect(pulled.json.layers).toHaveLength(1);

  // A bad archive: the error says why.
  const bad = path.join(work, "bad.tar");
  await archiveLayout(path.join(work, "to-import", "blobs"), bad);
  await page.locator("input[type=file]").setInputFiles(bad);
  await page.getByRole("button", { name: "Upload and import" }).click();
  await page.getByRole("alert").getByText(/neither index\.json/).waitFor();
});

test("download an image: the tarball is a docker-archive that skopeo reads", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/app?view=tags`);
  await page.getByTestId("menu-1.4.2").click();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("menuitem", { name: "Download (docker load)" }).click()]);
  const file = path.join(work, "exported.tar");
  await download.saveAs(file);
  expect(download.suggestedFilename()).toBe("team_app_1.4.2.tar");
  // Copying it back through skopeo's docker-archive reader (what `docker load` reads) gives the same image.
  await skopeoCopy(`docker-archive:${file}`, dockerRef(registry.host, "team/app", "reloaded"), { destCreds: CREDS });
  const original = await skopeoInspectRaw(dockerRef(registry.host, "team/app", "1.4.2"), CREDS);
  const reloaded = await skopeoInspectRaw(dockerRef(registry.host, "team/app", "reloaded"), CREDS);
  expect((reloaded.json.config as { digest: string }).digest).toBe((original.json.config as { digest: string }).digest);
  expect((await readFile(file)).length).toBeGreaterThan(250_000);
});

test("admin pages: users, robot secret shown once, audit log, mirror, storage and a GC dry run", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/users`);
  await page.getByTestId("users").getByText("alice").waitFor();
  await browser.screenshot("09-users");

  await page.goto(`${registry.url}/robots`);
  await page.getByRole("button", { name: "New robot account" }).click();
  await page.getByRole("dialog").locator("input").first().fill("ci");
  await page.getByLabel("Project (* for all)").fill("team");
  await page.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const secret = (await page.getByTestId("robot-secret").locator("code").textContent())!;
  expect(secret.length).toBeGreaterThan(20);
  await browser.screenshot("10-robot-secret");
  await page.getByRole("dialog").getByRole("button", { name: "Close" }).first().click();
  const tags = await skopeoListTags(`docker://${registry.host}/team/app`, `robot$ci:${secret}`);
  expect(tags).toContain("1.4.2");

  await page.goto(`${registry.url}/audit`);
  await page.getByTestId("audit").getByText("delete").first().waitFor();
  await page.getByLabel("Action").selectOption("delete");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await waitFor("only delete events", async () => (await page.getByTestId("audit").locator("tbody tr").allTextContents()).every((row) => row.includes("delete")));
  await browser.screenshot("11-audit");

  await page.goto(`${registry.url}/mirror`);
  await page.getByText("Mirror mode is off").waitFor();

  await page.goto(`${registry.url}/storage`);
  await page.getByTestId("gc-dry-run").click();
  await page.getByTestId("gc-report").waitFor();
  await browser.screenshot("12-storage-gc", true);
});

test("deleting a project that holds repositories says how many it deletes, and then deletes them too", async () => {
  await pushImageAs(registry.url, "doomed/one", "v1", basic("admin", PASSWORD));
  await pushImageAs(registry.url, "doomed/two", "v1", basic("admin", PASSWORD));
  const { page } = browser;
  // Signed in as the admin whatever the tests before did (this one can run alone).
  const eq = admin.cookie.indexOf("=");
  await page.context().addCookies([{ name: admin.cookie.slice(0, eq), value: admin.cookie.slice(eq + 1), url: registry.url }]);
  await page.goto(`${registry.url}/projects`);
  const row = page.locator("tr[data-project=doomed]");
  await row.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("The project doomed holds 2 repositories.", { exact: false }).waitFor();
  await browser.screenshot("12b-project-delete-forced");
  await dialog.getByRole("button", { name: "Delete the project and its 2 repositories" }).click();
  await row.waitFor({ state: "detached" });
  const left = (await (await api(registry.url, "GET", "/api/v1/repositories?q=doomed", admin)).json()) as { items: unknown[] };
  expect(left.items).toEqual([]);
});

test("a project admin who is no site admin manages members and adds an immutability rule; a push over the tag is refused", async () => {
  await api(registry.url, "POST", "/api/v1/users", admin, { username: "priya", password: "priya-pass-1" });
  await api(registry.url, "PUT", "/api/v1/projects/team/members/priya", admin, { role: "admin" });
  const pa = await launchBrowser();
  try {
    const { page } = pa;
    await page.goto(`${registry.url}/login`);
    await page.getByLabel("Username").fill("priya");
    await page.getByLabel("Password").fill("priya-pass-1");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("repositories").waitFor();
    const sidebar = (await page.locator(".sidebar").textContent()) ?? "";
    expect(sidebar).toContain("Projects");
    expect(sidebar).not.toContain("Users");

    await page.locator(".sidebar").getByRole("link", { name: "Projects" }).click();
    const team = page.locator("tr[data-project=team]");
    await team.waitFor();
    expect(await page.getByRole("button", { name: "New project" }).count()).toBe(0);
    await team.getByRole("link", { name: "Members" }).click();
    await page.getByRole("heading", { name: "Members of team" }).waitFor();
    await page.getByRole("cell", { name: "alice" }).waitFor();
    await pa.screenshot("14-project-admin-members");

    await page.getByRole("link", { name: "Rules" }).click();
    await page.getByRole("heading", { name: "Rules of team" }).waitFor();
    await page.getByTestId("add-immutable").click();
    await page.getByLabel("Immutable tags matching").fill("1\\.4\\..*");
    await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
    await page.getByTestId("rules-immutable").getByText("1\\.4\\..* can be neither overwritten nor deleted").waitFor();
    // A bad pattern: the server's validation message shows in the form.
    await page.getByTestId("add-retention").click();
    await page.getByLabel("Keep the newest N tags").fill("10");
    await page.getByLabel("Always keep tags matching").fill("v(1");
    await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
    await page.getByRole("dialog").getByRole("alert").getByText(/not a valid regular expression/).waitFor();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await page.getByTestId("preview-retention").click();
    await page.getByText("Retention would delete nothing now.").waitFor();
    await pa.screenshot("15-project-rules", true);

    await page.goto(`${registry.url}/repositories/team/app?view=tags`);
    await page.getByTestId("immutable-1.4.2").waitFor();
    expect(await page.getByTestId("tags").locator("[data-testid^=immutable-]").count()).toBe(1);
    expect(await page.getByTestId("repository-rules").textContent()).toContain("1\\.4\\..*");
    await pa.screenshot("16-repository-immutable-tag", true);
  } finally {
    await pa.close();
  }
  // The registry refuses to move the tag, whoever pushes.
  const layout = await writeOciLayout(path.join(work, "overwrite"), "x", tinyImage());
  await expect(skopeoCopy(layout.ref, dockerRef(registry.host, "team/app", "1.4.2"), { destCreds: CREDS })).rejects.toThrow(/immutable/);
});

test("a developer sees only what they may pull, and no administration", async () => {
  const dev = await launchBrowser();
  try {
    await dev.page.goto(`${registry.url}/login`);
    await dev.page.getByLabel("Username").fill("alice");
    await dev.page.getByLabel("Password").fill("alice-pass-1");
    await dev.page.getByRole("button", { name: "Sign in" }).click();
    const rows = dev.page.getByTestId("repositories").locator("tbody tr");
    await rows.first().waitFor();
    const names = await rows.allTextContents();
    expect(names.some((n) => n.includes("busybox"))).toBe(false);
    expect(names.some((n) => n.includes("app"))).toBe(true);
    expect(await dev.page.locator(".sidebar").textContent()).not.toContain("Users");
    await dev.page.getByTestId("logout").click();
    await dev.page.getByLabel("Username").waitFor();
  } finally {
    await dev.close();
  }
});

describe("mirror dashboard", () => {
  let upstream: CncfRegistry;
  let mirror: TestRegistry;

  beforeAll(async () => {
    requireBinaries("docker-registry");
    upstream = await startCncfRegistry();
    for (const [repo, tag] of [["library/alpine", "3.20"], ["library/nginx", "1.27"]]) {
      const layout = await writeOciLayout(path.join(work, `up-${repo.replace("/", "_")}`), tag, tinyImage());
      await skopeoCopy(layout.ref, dockerRef(upstream.host, repo, tag));
    }
    mirror = await startTestRegistry({
      config: {
        auth: { enabled: true, adminPassword: PASSWORD },
        mirror: { upstreams: [{ name: "hub", url: `http://${upstream.host}`, prefix: "", registry: "docker.io" }] },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  test("shows upstream health and cache figures, and pre-warms an image", async () => {
    // Anonymous pulls through the mirror: a miss, then a hit.
    for (let i = 0; i < 2; i++) await skopeoCopy(dockerRef(mirror.host, "library/alpine", "3.20"), `oci:${path.join(work, `pulled-${i}`)}:x`);
    const { page } = browser;
    await page.goto(`${mirror.url}/login`);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("repositories").waitFor();
    await page.goto(`${mirror.url}/mirror`);
    await page.getByText("healthy").waitFor();
    await page.getByLabel("Image").fill("library/nginx:1.27");
    await page.getByRole("button", { name: "Warm" }).click();
    await page.getByText("Warmed library/nginx:1.27").waitFor();
    await page.getByRole("link", { name: "library/alpine" }).waitFor();
    await browser.screenshot("13-mirror", true);
    const raw = await skopeoInspectRaw(dockerRef(mirror.host, "library/nginx", "1.27"));
    expect(raw.json.layers).toHaveLength(1);
  });
});
